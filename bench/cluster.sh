#!/usr/bin/env bash
# bench/cluster.sh: several sippushd nodes on one PostgreSQL (issue 12,
# "Measured"), side by side in one run on this machine:
#
#   A. REGISTER storm of N clients, then a fan-out of one message to all N
#      (publish --all --wait), on
#        sqlite  one node, SQLite (WAL, synchronous = full)
#        pg1     one node, PostgreSQL
#        pg3     three nodes, PostgreSQL (client K registers with node
#                K mod 3; the publish is made on n1)
#   B. a node's death (pg3 again, fresh database): N clients registered
#      over the three nodes heartbeat (OPTIONS every HB_INTERVAL s, each
#      with its nodes as a server list: simclient -s x3); a message is
#      published to all on n1 and KILL_AFTER s later n2 is killed
#      (SIGKILL). Measured from the kill: n2 marked down in the database
#      (lease lapsed, reaped), the last of n2's clients registered with
#      another node (simclient: last_moved), and the message's last target
#      acknowledged (publish --wait returns; and the database agrees).
#
#   bash bench/cluster.sh               N = 100,000
#   QUICK=1 bash bench/cluster.sh       N = 10,000 (a minute or two)
#
# Settings (environment): N, KILL_N (default N), REG_TIMEOUT (ms a
# REGISTER of the storm waits: 60000), HB_INTERVAL (10 s),
# SIM_TIMEOUT (ms a heartbeat waits before its client moves: 2000),
# LEASE (cluster.lease of part B: 10, the default), CONFIGS (default
# "sqlite pg1 pg3"), PARTS (default "A B"), BENCH_OUT (default
# bench/out), SIPPUSHD_BIN (run that sippushd instead of this tree's).
#
# PostgreSQL: the throwaway server of tests/pg.sh (PostgreSQL 15 of
# Debian, fsync and synchronous_commit on, shared_buffers 16 MB), on the
# same machine, over TCP on 127.0.0.1; a fresh database per part and
# configuration. The nodes listen on 127.0.0.2, .3 and .4, one port.
# CPU is counted per process group (nodes; PostgreSQL: the postmaster and
# its children; simclients) from /proc over each phase, in % of one core.
# Raw logs in bench/out/cluster-DATE/. Everything runs under timeout(1)
# and is stopped on exit.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	: "${N:=10000}"
else
	: "${N:=100000}"
fi
: "${KILL_N:=$N}" "${HB_INTERVAL:=10}" "${SIM_TIMEOUT:=2000}" "${LEASE:=10}"
: "${CONFIGS:=sqlite pg1 pg3}" "${PARTS:=A B}" "${KILL_AFTER:=1}"
: "${SIM_PER_PROC:=16700}"	# clients per simclient (RLIMIT_NOFILE 20000)
: "${SIM_PER_ADDR:=12000}"	# sockets per 127.0.0.x across all simclients
# a REGISTER waits this long for its answer (UDP retransmissions at 0.5,
# 1, 2, 4, 4... s are absorbed by the server's transaction layer): a storm
# on PostgreSQL queues for seconds, and a client that gave up would not
# be in the fan-out
: "${REG_TIMEOUT:=60000}"
LIMIT=1800			# seconds any process started here may live
# simclients listen after the storm until the script stops them; the idle
# bound only ends them if the script died (longer than any storm on
# PostgreSQL, where a simclient done early waits for the others)
FAN_IDLE=900

BENCH_OUT=${BENCH_OUT:-$BENCH/out}
RUN=$BENCH_OUT/cluster-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
RESULTS=$RUN/results.tsv
: >"$RESULTS"
BIN=$RUN/bin

want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

# shared helpers: say, die, calc, PIDS, alive, stop, spawn, child_of,
# free_port, TICK, ticks, cpu_s
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

T0=$EPOCHREALTIME
say_stamp() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%6.1fs", b - a }'; }
row() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
fmt0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
fmt1() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
num() {
	awk -v v="$1" 'BEGIN { s = sprintf("%.0f", v); n = "";
	    while (length(s) > 3) { n = "," substr(s, length(s) - 2) n;
	    s = substr(s, 1, length(s) - 3) } print s n }'
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# ---- processes and cleanup ------------------------------------------------

TMPDIRS=()
PGDIR=
cleanup() {
	local p d
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		alive "$p" && kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do stop "$p" 5; done
	[ -z "$PGDIR" ] || bash "$ROOT/tests/pg.sh" clean "$PGDIR" >/dev/null 2>&1 || true
	for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---- simclients (as bench/run.sh) --------------------------------------------

# sim_start TAG N PREFIX SERVERS [simclient options] -- STEP...
# N clients over ceil(N / SIM_PER_PROC) simclient processes; SERVERS is a
# space-separated list of HOST:PORT given as -s each (client K starts at
# server K mod their number).
sim_start() {
	local tag=$1 n=$2 prefix=$3 servers=$4 procs k i each first=0 s
	shift 4
	local opts=() sv=()
	for s in $servers; do sv+=(-s "$s"); done
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	procs=$(((n + SIM_PER_PROC - 1) / SIM_PER_PROC))
	k=$(((n + SIM_PER_ADDR - 1) / SIM_PER_ADDR))
	SIM_PIDS=() SIM_REAL=()
	rm -f "$RUN/$tag".sim*.log
	for ((i = 0; i < procs; i++)); do
		each=$((n / procs + (i < n % procs ? 1 : 0)))
		spawn "$RUN/$tag.sim$i.log" "$BIN/simclient" "${sv[@]}" -n "$each" \
		    -p "$prefix" --first "$first" --src-addrs "$k" \
		    ${opts[@]+"${opts[@]}"} "$@"
		SIM_PIDS+=("$LAST_PID")
		first=$((first + each))
	done
	for i in "${SIM_PIDS[@]}"; do SIM_REAL+=("$(child_of "$i")"); done
}
# sim_steps_done TAG STEP: how many simclients printed STEP's summary
sim_steps_done() { cat "$RUN/$1".sim*.log 2>/dev/null | grep -c "^$2:" || true; }
# sim_wait_step TAG STEP SECS: until every simclient is past STEP
sim_wait_step() {
	local w
	for ((w = 0; w < $3 * 10; w++)); do
		[ "$(sim_steps_done "$1" "$2")" -ge "${#SIM_PIDS[@]}" ] && return 0
		sleep 0.1
	done
	return 1
}
sim_stop() { local p; for p in "${SIM_PIDS[@]}"; do stop "$p" 5; done; }

# agg TAG STEP: the step's summary over all the processes: counts added,
# elapsed the longest, p50/p99 the worst process, last_moved the latest
agg() {
	cat "$RUN/$1".sim*.log 2>/dev/null | awk -v step="$2:" '
	$1 == step {
		procs++
		for (i = 2; i <= NF; i++) {
			k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v)
			if (k == "elapsed") { sub(/s$/, "", v); if (v + 0 > el) el = v + 0 }
			else if (k == "p50" || k == "p99") {
				sub(/ms$/, "", v); if (v != "-" && v + 0 > m[k]) m[k] = v + 0
			} else if (k == "last_moved") { if (v + 0 > lm) lm = v + 0 }
			else if (k != "rate") { s[k] += v; seen[k] = 1 }
		}
	}
	END {
		printf "procs=%d elapsed=%.3f p50=%.2f p99=%.2f last_moved=%.3f", procs, el, m["p50"], m["p99"], lm
		for (k in seen) printf " %s=%d", k, s[k]
		printf "\n"
	}'
}
kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$1" | grep . || echo 0; }

# ---- PostgreSQL ---------------------------------------------------------------

pg_up() {
	[ -n "$PGDIR" ] && return 0
	PGDIR=$(mktemp -d /tmp/sippush-bench-pg.XXXXXX)
	PGADMIN=$(bash "$ROOT/tests/pg.sh" start "$PGDIR") || die "tests/pg.sh could not start PostgreSQL"
	PGPORT_=$(cat "$PGDIR/port")
	say "PostgreSQL: $(psql "$PGADMIN" -tA -c 'SHOW server_version') on 127.0.0.1:$PGPORT_ ($PGDIR)"
}
# pg_cpu: CPU seconds of PostgreSQL so far: the postmaster with its reaped
# children (cutime, cstime: backends come and go) and the live children
pg_cpu() {
	local pm st t=0 p
	pm=$(head -1 "$PGDIR/data/postmaster.pid" 2>/dev/null) || { echo 0; return 0; }
	st=$(cat "/proc/$pm/stat" 2>/dev/null) || { echo 0; return 0; }
	st=${st##*) }
	set -- $st
	t=$((${12} + ${13} + ${14} + ${15}))
	for p in $(pgrep -P "$pm"); do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		st=${st##*) }
		set -- $st
		t=$((t + ${12} + ${13}))
	done
	calc "$t / $TICK"
}
DBNAME=
q() { timeout 60 psql "$PGADMIN dbname=$DBNAME" -tA -c "$1"; }
newdb() {
	DBNAME=$1
	timeout 60 psql "$PGADMIN" -q -c "DROP DATABASE IF EXISTS $DBNAME" -c "CREATE DATABASE $DBNAME" >/dev/null ||
	    die "cannot create database $DBNAME"
}

# ---- nodes ----------------------------------------------------------------------

addr() { echo "127.0.0.$(($1 + 1))"; }
declare -A NODE_TPID=() NODE_PID=()

# node_start CONFIG N BACKEND: node nN of this configuration
node_start() {
	local cfgname=$1 n=$2 backend=$3 d=$RUN/$1/n$2 sock i db
	mkdir -p "$d"
	sock=$d/ctl.sock
	if [ ${#sock} -gt 100 ]; then
		local t
		t=$(mktemp -d /tmp/sippush-bench.XXXXXX)
		TMPDIRS+=("$t")
		sock=$t/ctl.sock
	fi
	NODE_SOCK[$n]=$sock
	if [ "$backend" = sqlite ]; then
		db="database = { path = \"$d/sippush.db\"; synchronous = \"full\"; };"
	else
		db="database = { backend = \"postgresql\"; conninfo = \"host=127.0.0.1 port=$PGPORT_ user=postgres dbname=$DBNAME\"; passfile = \"$PGDIR/pgpass\"; };
cluster = { node = \"n$n\"; address = \"$(addr "$n"):$PORT\"; lease = $NODE_LEASE; };"
	fi
	cat >"$d/sippushd.conf" <<EOF
# bench/cluster.sh: $cfgname, node n$n
sip = { address = "$(addr "$n")"; port = $PORT; udp = true; tcp = false; };
$db
heartbeat = { timeout = 0; };
control = { socket = "$sock"; };
registration = { rate_per_source = 0; };
dispatch = { retry_initial = 200; };
log = { level = "${NODE_LOG:-notice}"; };
EOF
	spawn "$d/sippushd.log" "$BIN/sippushd" -F -f "$d/sippushd.conf"
	NODE_TPID[$n]=$LAST_PID
	NODE_PID[$n]=$(child_of "$LAST_PID") || die "n$n did not start: $(tail -3 "$d/sippushd.log")"
	for ((i = 0; i < 200; i++)); do
		nctl "$n" stats >/dev/null 2>&1 && return 0
		alive "${NODE_TPID[$n]}" || break
		sleep 0.1
	done
	die "$cfgname n$n did not come up: $(tail -3 "$d/sippushd.log")"
}
declare -A NODE_SOCK=()
nctl() { local n=$1; shift; timeout 120 "$BIN/sippushctl" -s "${NODE_SOCK[$n]}" "$@"; }
nodes_stop() {
	local n
	for n in "${!NODE_TPID[@]}"; do stop "${NODE_TPID[$n]}" 20; done
	NODE_TPID=() NODE_PID=() NODE_SOCK=()
}
node_pids() { echo "${NODE_PID[@]}"; }

# ---- preparation -----------------------------------------------------------------

say "run folder: $RUN"
for c in psql timeout ss pgrep awk sqlite3; do
	command -v "$c" >/dev/null || die "$c is missing"
done
say "building"
if [ ! -f Makefile ]; then
	bash scripts/build.sh >"$RUN/build.log" 2>&1 || die "build failed, see $RUN/build.log"
fi
make -j2 sippushd sippushctl tests/simclient >>"$RUN/build.log" 2>&1 ||
    die "make failed, see $RUN/build.log"
grep -Eq '^SANITIZER_CFLAGS = *$' Makefile ||
    say "WARNING: the tree is configured with sanitizers; figures are not representative"
mkdir -p "$BIN"
cp sippushd sippushctl tests/simclient "$BIN/"
[ -z "${SIPPUSHD_BIN:-}" ] || cp "$SIPPUSHD_BIN" "$BIN/sippushd"
PORT=$(free_port) || die "no free port"
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null)"
	echo "nproc: $(nproc)"
	echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "settings: N=$N KILL_N=$KILL_N HB_INTERVAL=$HB_INTERVAL SIM_TIMEOUT=$SIM_TIMEOUT LEASE=$LEASE CONFIGS='$CONFIGS' PARTS='$PARTS'"
	echo "load at start: $(loadavg)"
} >"$RUN/machine.txt"
LOAD0=$(loadavg)
say "load average at start: $LOAD0"

# ---- A. storm and fan-out --------------------------------------------------------

# config_run NAME: the storm and the fan-out on configuration NAME
config_run() {
	local name=$1 backend nnodes servers="" n id rc a t0 t1 c0 c1 pc0 pc1 sc0 sc1 acked
	case $name in
	sqlite) backend=sqlite nnodes=1 ;;
	pg1) backend=pg nnodes=1 ;;
	pg3) backend=pg nnodes=3 ;;
	*) die "unknown configuration $name" ;;
	esac
	NODE_LEASE=10
	if [ "$backend" = pg ]; then pg_up; newdb "bench_$name"; fi
	for ((n = 1; n <= nnodes; n++)); do
		node_start "$name" "$n" "$backend"
		servers+=" $(addr "$n"):$PORT"
	done
	say "A. $name: REGISTER storm of $N clients over $nnodes node(s)"
	c0=$(cpu_s $(node_pids)); pc0=0
	[ "$backend" = pg ] && pc0=$(pg_cpu)
	sim_start "$name" "$N" f "$servers" -t "$REG_TIMEOUT" -- register listen:until-idle:"$FAN_IDLE":"$LIMIT"
	sim_wait_step "$name" register 600 || die "$name: the storm did not end in 600 s"
	c1=$(cpu_s $(node_pids)); pc1=0
	[ "$backend" = pg ] && pc1=$(pg_cpu)
	a=$(agg "$name" register)
	local ok el rate fails
	ok=$(kv "$a" ok) el=$(kv "$a" elapsed)
	fails=$(($(kv "$a" fail) + $(kv "$a" timeout)))
	rate=$(calc "$ok / $el")
	say "   $a; nodes cpu $(fmt0 "$(calc "100 * ($c1 - $c0) / $el")")%, postgres cpu $(fmt0 "$(calc "100 * ($pc1 - $pc0) / $el")")%"
	ST_RATE[$name]=$rate ST_FAIL[$name]=$fails ST_LAT[$name]="$(kv "$a" p50) / $(kv "$a" p99) ms"
	ST_CPU[$name]="$(fmt0 "$(calc "100 * ($c1 - $c0) / $el")")% + $(fmt0 "$(calc "100 * ($pc1 - $pc0) / $el")")%"
	# CPU per registration (less sensitive to a busy machine than a rate)
	ST_US[$name]="$(fmt0 "$(calc "1e6 * ($c1 - $c0) / $ok")") + $(fmt0 "$(calc "1e6 * ($pc1 - $pc0) / $ok")") us"
	sleep 1
	say "A. $name: publish --all --wait on n1 ($N targets)"
	c0=$(cpu_s $(node_pids)); pc0=0
	[ "$backend" = pg ] && pc0=$(pg_cpu)
	sc0=$(cpu_s "${SIM_REAL[@]}")
	t0=$EPOCHREALTIME
	rc=0
	id=$(nctl 1 publish --all --wait "bench fan-out $name" 2>"$RUN/$name/publish.err") || rc=$?
	t1=$EPOCHREALTIME
	c1=$(cpu_s $(node_pids)); pc1=0
	[ "$backend" = pg ] && pc1=$(pg_cpu)
	sc1=$(cpu_s "${SIM_REAL[@]}")
	el=$(calc "$t1 - $t0")
	if [ "$backend" = pg ]; then
		acked=$(q "SELECT count(*) FROM targets WHERE message_id = '$id' AND state = 'acked'")
	else
		acked=$(sqlite3 "$RUN/$name/n1/sippush.db" "SELECT count(*) FROM targets WHERE message_id = '$id' AND state = 'acked'" 2>/dev/null || echo '?')
	fi
	say "   $id: rc=$rc in $(printf '%.2f' "$el") s, acked in the database $acked/$N ($(tail -1 "$RUN/$name/publish.err")); nodes cpu $(fmt0 "$(calc "100 * ($c1 - $c0) / $el")")%, postgres $(fmt0 "$(calc "100 * ($pc1 - $pc0) / $el")")%, simclients $(fmt0 "$(calc "100 * ($sc1 - $sc0) / $el")")%"
	FO_T[$name]=$(printf '%.2f' "$el") FO_ACKED[$name]=$acked FO_RC[$name]=$rc
	FO_TPS[$name]=$(calc "$N / $el")
	FO_CPU[$name]="$(fmt0 "$(calc "100 * ($c1 - $c0) / $el")")% + $(fmt0 "$(calc "100 * ($pc1 - $pc0) / $el")")%"
	FO_US[$name]="$(fmt0 "$(calc "1e6 * ($c1 - $c0) / $N")") + $(fmt0 "$(calc "1e6 * ($pc1 - $pc0) / $N")") us"
	sim_stop
	nodes_stop
	rm -f "$RUN/$name"/n*/sippush.db*
	[ "$backend" = pg ] && timeout 60 psql "$PGADMIN" -q -c "DROP DATABASE $DBNAME" >/dev/null 2>&1 || true
}

declare -A ST_RATE ST_FAIL ST_LAT ST_CPU ST_US FO_T FO_ACKED FO_RC FO_TPS FO_CPU FO_US
if want A; then
	for c in $CONFIGS; do config_run "$c"; done
	for c in $CONFIGS; do
		row "A. REGISTER storm, $(num "$N"): rate" "$c" "$(num "${ST_RATE[$c]}")/s" \
		    "${ST_FAIL[$c]} failed; p50 / p99 ${ST_LAT[$c]}; CPU nodes + postgres ${ST_CPU[$c]}, per REGISTER ${ST_US[$c]}"
	done
	for c in $CONFIGS; do
		row "A. fan-out $(num "$N"): publish --wait to all acked" "$c" "${FO_T[$c]} s" \
		    "$(num "${FO_TPS[$c]}") targets/s; acked ${FO_ACKED[$c]}/$N (rc ${FO_RC[$c]}); CPU nodes + postgres ${FO_CPU[$c]}, per target ${FO_US[$c]}"
	done
fi

# ---- B. a node's death -----------------------------------------------------------

if want B; then
	pg_up
	newdb bench_kill
	NODE_LEASE=$LEASE
	servers=""
	for n in 1 2 3; do
		node_start kill "$n" pg
		servers+=" $(addr "$n"):$PORT"
	done
	# heartbeats until well after the recovery; the step prints the moves
	HB_DUR=$((HB_INTERVAL * 2 + LEASE * 2 + 60))
	say "B. $KILL_N clients over n1..n3, OPTIONS every $HB_INTERVAL s (timeout $SIM_TIMEOUT ms), lease $LEASE s"
	sim_start kill "$KILL_N" k "$servers" --interval "$HB_INTERVAL" -t "$SIM_TIMEOUT" \
	    --register-timeout "$REG_TIMEOUT" -- \
	    register heartbeat:"$HB_DUR"
	sim_wait_step kill register 600 || die "kill: the registrations did not end in 600 s"
	a=$(agg kill register)
	say "   registered: $a"
	N2=$(q "SELECT count(*) FROM clients WHERE owner = 'n2' AND state = 'online'" 2>/dev/null || echo '?')
	say "   n2 holds $N2 clients (clients.owner)"
	sleep "$HB_INTERVAL"	# heartbeats flowing
	say "B. publish --all --wait on n1, n2 killed $KILL_AFTER s later"
	t_pub=$EPOCHREALTIME
	( rc=0; nctl 1 publish --all --wait "bench node death" >"$RUN/kill/publish.out" 2>"$RUN/kill/publish.err" || rc=$?
	  echo "$rc $EPOCHREALTIME" >"$RUN/kill/publish.done" ) &
	PUB=$!
	sleep "$KILL_AFTER"
	t_kill=$EPOCHREALTIME
	kill -KILL "${NODE_PID[2]}"
	disown "${NODE_TPID[2]}" 2>/dev/null || true	# no "Killed" from bash
	say "   n2 killed at +$(printf '%.2f' "$(calc "$t_kill - $t_pub")") s after the publish"
	# until the publish is done and n2 is down (or 3 leases more)
	t_down= t_done=
	for ((w = 0; w < 3000; w++)); do	# 300 s
		if [ -z "$t_down" ] && [ "$(q "SELECT state FROM nodes WHERE name = 'n2'" 2>/dev/null)" = down ]; then
			t_down=$EPOCHREALTIME
			say "   n2 marked down $(printf '%.2f' "$(calc "$t_down - $t_kill")") s after the kill"
		fi
		[ -z "$t_done" ] && [ -s "$RUN/kill/publish.done" ] && t_done=$EPOCHREALTIME
		[ -n "$t_done" ] && [ -n "$t_down" ] && break
		[ -n "$t_done" ] && awk -v a="$t_done" -v b="$EPOCHREALTIME" -v l="$LEASE" 'BEGIN { exit !(b - a > 3 * l) }' && break
		sleep 0.1
	done
	wait "$PUB" 2>/dev/null || true
	read -r pub_rc t_acked <"$RUN/kill/publish.done" 2>/dev/null || { pub_rc='?'; t_acked=$EPOCHREALTIME; }
	ID=$(head -1 "$RUN/kill/publish.out")
	ACKED=$(q "SELECT count(*) FROM targets WHERE message_id = '$ID' AND state = 'acked'" 2>/dev/null || echo '?')
	say "   publish --wait: rc=$pub_rc, $(tail -1 "$RUN/kill/publish.err"); acked in the database $ACKED/$KILL_N"
	if [ "$ACKED" != "$KILL_N" ]; then	# what is left, for the logs
		q "SELECT t.client_id, t.state, coalesce(t.owner, '-'), t.attempts,
		    t.last_status, c.state, coalesce(c.owner, '-'), c.contact
		    FROM targets t LEFT JOIN clients c ON c.id = t.client_id
		    WHERE t.message_id = '$ID' AND t.state <> 'acked' LIMIT 50" \
		    >"$RUN/kill/unacked.txt" 2>&1 || true
		say "   not acked (client, state, owner, attempts, status; client state, owner, contact): $(head -3 "$RUN/kill/unacked.txt" | tr '\n' ' ')"
	fi
	ON_N2=$(q "SELECT count(*) FROM clients WHERE owner = 'n2' AND state = 'online'" 2>/dev/null || echo '?')
	# the heartbeat step's summary (with last_moved) comes at its end
	say "   waiting for the simclients' heartbeat summaries (up to $HB_DUR s after the registrations)"
	sim_wait_step kill heartbeat $((HB_DUR + 60)) || say "   WARNING: not every simclient printed its heartbeat summary"
	h=$(agg kill heartbeat)
	say "   heartbeat: $h"
	LM=$(kv "$h" last_moved) MOVED=$(kv "$h" moved)
	row "B. kill -9 of n2 ($(num "$KILL_N") clients, n2 held $N2): n2 marked down" "pg3" \
	    "$([ -n "$t_down" ] && printf '%.1f s' "$(calc "$t_down - $t_kill")" || echo never)" "lease $LEASE s"
	row "B. ... last of n2's clients registered elsewhere" "pg3" \
	    "$(awk -v l="$LM" -v k="$t_kill" 'BEGIN { if (l > k) printf "%.1f s", l - k; else print "none moved" }')" \
	    "$MOVED moved; heartbeat every $HB_INTERVAL s, timeout $SIM_TIMEOUT ms; online on n2 after: $ON_N2"
	row "B. ... last target of the message acked" "pg3" \
	    "$([ "$pub_rc" = 0 ] && [ "$ACKED" = "$KILL_N" ] && printf '%.1f s' "$(calc "$t_acked - $t_kill")" || echo "not all acked")" \
	    "publish --wait rc $pub_rc; acked in the database $ACKED/$KILL_N"
	sim_stop
	nodes_stop
fi

# ---- the table ---------------------------------------------------------------------

{
	echo
	echo "sippush cluster benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); load average $LOAD0 at start, $(loadavg) at the end)"
	echo
	{
		printf 'scenario\tconfiguration\tfigure\tdetails\n'
		cat "$RESULTS"
	} | awk -F'\t' '{ for (i = 1; i <= 4; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
	    END { for (r = 1; r <= n; r++) { for (i = 1; i <= 4; i++) printf "%-*s  ", w[i], c[r, i]; printf "\n"
	          if (r == 1) { for (i = 1; i <= 4; i++) { s = ""; for (j = 0; j < w[i]; j++) s = s "-"; printf "%s  ", s } printf "\n" } } }'
	echo
	echo "raw logs: $RUN"
} | tee "$RUN/table.txt"
