#!/usr/bin/env bash
# bench/run.sh: the sippush benchmark (issue #5), one command.
#
#   bash bench/run.sh            full run (50,000 / 100,000 clients)
#   QUICK=1 bash bench/run.sh    small N, a minute or two, no load wait
#
# Installs Kamailio (bench/install-kamailio.sh), builds sippushd,
# sippushctl and tests/simclient, copies them to the run folder (so a
# concurrent rebuild cannot change what is measured), then runs:
#   1. registration storm, sippush vs Kamailio (registrar + usrloc on SQLite)
#   2. OPTIONS heartbeat ramp, sippush vs Kamailio
#   3. fan-out of one control message to N registered clients
#   4. the same fan-out with 10% of the clients failing their first attempt
#   5. memory: daemon RSS with N registered and during/after fan-outs
#   6. (PROFILE=1) a profiling pass: perf on the daemon during a storm,
#      heartbeats and a fan-out
# and prints one table. Raw logs, configs and profiles go to
# bench/out/RUN/ (bench/out/latest points at the last run).
#
# Settings (environment): QUICK, REG_N, FAN_NS, HB_CLIENTS, HB_RATES,
# HB_DUR, FAN_REPEAT, PROFILE (1/0), KEEP_DB=1 / KEEP_PERF=1 (keep the
# databases / perf.data), SCENARIOS (default "1 2 3 4 6";
# 5 comes with 3), BENCH_NO_INSTALL=1, BENCH_NO_WAIT=1 (do not wait for a
# quiet machine), BENCH_OUT (default bench/out), SIPPUSHD_BIN (run that
# sippushd instead of this tree's, e.g. a base build for an A/B).
#
# Everything started here runs under timeout(1) and is killed on exit.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	: "${REG_N:=5000}" "${FAN_NS:=1000 5000 10000}" "${HB_CLIENTS:=4000}"
	: "${HB_RATES:=5000 10000 20000 40000}" "${HB_DUR:=3}"
	: "${KAM_INFO_N:=2000}" "${PROFILE:=0}"
else
	: "${REG_N:=50000}" "${FAN_NS:=10000 50000 100000}" "${HB_CLIENTS:=20000}"
	: "${HB_RATES:=10000 20000 30000 40000 50000 60000 70000 80000 100000}"
	: "${HB_DUR:=10}" "${KAM_INFO_N:=10000}" "${PROFILE:=1}"
fi
: "${SCENARIOS:=1 2 3 4 6}"
: "${FAN_REPEAT:=3}"		# fan-outs in a row at the largest N
: "${KAM_HB_CHILDREN:=2}"	# Kamailio UDP workers for OPTIONS
: "${SP_REG_WINDOW:=1000}"	# REGISTERs outstanding per simclient, sippush
# Kamailio answers one REGISTER per fsync: a deep window only makes the
# clients retransmit (T1 = 500 ms) and Kamailio write the duplicates too
: "${KAM_REG_WINDOW:=100}"
: "${RETRY_INITIAL:=200}"	# dispatch.retry_initial of the bench config, ms
: "${SIM_PER_PROC:=16700}"	# clients per simclient (RLIMIT_NOFILE 20000)
: "${SIM_PER_ADDR:=12000}"	# sockets per 127.0.0.x across all simclients
# simclient listen:until-idle seconds: longer than any silence a simclient
# may see between registering and its last MESSAGE (the dispatcher sends
# in client ID order, so a simclient's clients may all come late in a run,
# or early in one run and late in the next)
FAN_IDLE=20
FAN_IDLE_REPEAT=40
LIMIT=1800			# seconds any process started here may live

BENCH_OUT=${BENCH_OUT:-$BENCH/out}
RUN=$BENCH_OUT/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
ln -sfn "$(basename "$RUN")" "$BENCH_OUT/latest"
RESULTS=$RUN/results.tsv
: >"$RESULTS"
BIN=$RUN/bin

want() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }

# shared helpers: say, die, calc, PIDS, alive, stop, spawn, child_of,
# free_port, TICK, ticks, cpu_s, kam_spawn
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

# ---- reporting ---------------------------------------------------------

# say stamps its lines with the seconds since the start
T0=$EPOCHREALTIME
say_stamp() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%6.1fs", b - a }'; }

# row SCENARIO SIPPUSH KAMAILIO RATIO TARGET
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

fmt0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
# thousands separators: 12345.6 -> 12,346
num() {
	awk -v v="$1" 'BEGIN { s = sprintf("%.0f", v); n = "";
	    while (length(s) > 3) { n = "," substr(s, length(s) - 2) n;
	    s = substr(s, 1, length(s) - 3) } print s n }'
}

# ---- processes ---------------------------------------------------------

TMPDIRS=()

cleanup() {
	local p d
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		alive "$p" && kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do stop "$p" 5; done
	for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# /proc figures
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# UDP receive-buffer drops, machine-wide (loopback: every lost datagram)
udp_drops() { awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# fsync_on TAG PID...: count the time these processes spend in fdatasync
# (perf trace, only that syscall); fsync_off sets FS_CALLS FS_MS
fsync_on() {
	FS_FILE=$RUN/fdatasync-$1.txt
	FS_PID=
	command -v perf >/dev/null || return 0
	shift
	spawn "$FS_FILE.log" perf trace -s -e fdatasync -o "$FS_FILE" \
	    -p "$(echo "$@" | tr ' ' ',')"
	FS_PID=$LAST_PID
	sleep 0.3
}
fsync_off() {
	FS_CALLS='?' FS_MS='?'
	[ -n "$FS_PID" ] || return 0
	kill -INT "$(pgrep -P "$FS_PID" | head -1)" 2>/dev/null || true
	wait "$FS_PID" 2>/dev/null || true
	read -r FS_CALLS FS_MS < <(awk '$1 == "fdatasync" { c += $2; t += $4 }
	    END { printf "%d %.0f\n", c, t }' "$FS_FILE" 2>/dev/null)
}

# ---- simclient processes -------------------------------------------------

# sim_start TAG HOST:PORT N PREFIX [simclient options] -- STEP...
# N clients over ceil(N / SIM_PER_PROC) simclient processes, ids
# PREFIX0..PREFIX(N-1), each process with its own --first. simclient can
# only spread its sockets over 127.0.0.1..127.0.0.K (no base address), so
# every process uses the same K addresses and the kernel hands out distinct
# ephemeral ports; K keeps each address below SIM_PER_ADDR sockets in all.
sim_start() {
	local tag=$1 srv=$2 n=$3 prefix=$4 procs k i each first=0
	shift 4
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	procs=$(((n + SIM_PER_PROC - 1) / SIM_PER_PROC))
	k=$(((n + SIM_PER_ADDR - 1) / SIM_PER_ADDR))
	SIM_PIDS=()
	rm -f "$RUN/$tag".sim*.log
	for ((i = 0; i < procs; i++)); do
		each=$((n / procs + (i < n % procs ? 1 : 0)))
		spawn "$RUN/$tag.sim$i.log" "$BIN/simclient" -s "$srv" -n "$each" \
		    -p "$prefix" --first "$first" --src-addrs "$k" \
		    ${opts[@]+"${opts[@]}"} "$@"
		SIM_PIDS+=("$LAST_PID")
		first=$((first + each))
	done
}

# sim_wait: wait for the simclients of the last sim_start; their status
sim_wait() {
	local p rc=0
	for p in "${SIM_PIDS[@]}"; do wait "$p" || rc=$?; done
	return $rc
}

# agg TAG STEP: one line of key=value, the step's summary over all the
# processes: counts added, elapsed the longest, p50/p99 the worst process
agg() {
	cat "$RUN/$1".sim*.log 2>/dev/null | awk -v step="$2:" '
	$1 == step {
		procs++
		for (i = 2; i <= NF; i++) {
			k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v)
			if (k == "elapsed") { sub(/s$/, "", v); if (v + 0 > el) el = v + 0 }
			else if (k == "p50" || k == "p99") {
				sub(/ms$/, "", v); if (v != "-" && v + 0 > m[k]) m[k] = v + 0
			} else if (k != "rate") { s[k] += v; seen[k] = 1 }
		}
	}
	END {
		printf "procs=%d elapsed=%.3f p50=%.2f p99=%.2f", procs, el, m["p50"], m["p99"]
		for (k in seen) printf " %s=%d", k, s[k]
		printf "\n"
	}'
}
# kv "LINE" KEY: the value of KEY in a key=value line (0 if absent)
kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } } END {}' <<<"$1" | grep . || echo 0; }

# ---- sippushd ----------------------------------------------------------

# sp_start NAME: a fresh sippushd (own database, socket, port) with the
# bench configuration; sets SP_DIR SP_PORT SP_SOCK SP_TPID SP_PID
sp_start() {
	SP_DIR=$RUN/$1
	mkdir -p "$SP_DIR"
	SP_PORT=$(free_port) || die "no free port"
	SP_SOCK=$SP_DIR/ctl.sock
	if [ ${#SP_SOCK} -gt 100 ]; then
		local d
		d=$(mktemp -d /tmp/sippush-bench.XXXXXX)
		TMPDIRS+=("$d")
		SP_SOCK=$d/ctl.sock
	fi
	cat >"$SP_DIR/sippushd.conf" <<EOF
# bench/run.sh: sippushd under test (defaults unless said here)
sip = { address = "127.0.0.1"; port = $SP_PORT; udp = true; tcp = false; };
# durable: the 200 of a REGISTER waits for an fsync'ed group commit
database = { path = "$SP_DIR/sippush.db"; synchronous = "full"; };
# fan-out clients register once and stay silent: never mark them offline
heartbeat = { timeout = 0; };
control = { socket = "$SP_SOCK"; };
# REGISTER storms of ~12,000 clients per 127.0.0.x address at ~25k/s:
# no per-source limit (the default, 20/s, is for addresses on the Internet)
registration = { rate_per_source = 0; };
# retries (scenario 4) come back after ~${RETRY_INITIAL} ms, not the default 1 s
dispatch = { retry_initial = $RETRY_INITIAL; };
log = { level = "notice"; };
EOF
	spawn "$SP_DIR/sippushd.log" "$BIN/sippushd" -F -f "$SP_DIR/sippushd.conf"
	SP_TPID=$LAST_PID
	SP_PID=$(child_of "$SP_TPID") || die "sippushd did not start: $(tail -3 "$SP_DIR/sippushd.log")"
	local i
	for ((i = 0; i < 100; i++)); do
		ctl stats >/dev/null 2>&1 && return 0
		alive "$SP_TPID" || break
		sleep 0.1
	done
	die "sippushd did not come up: $(tail -3 "$SP_DIR/sippushd.log")"
}
# stop, and drop the database (tens of MB per 100,000 clients) unless KEEP_DB=1
sp_stop() {
	stop "$SP_TPID" 20
	[ "${KEEP_DB:-0}" = 1 ] || rm -f "$SP_DIR"/sippush.db*
}
ctl() { timeout 60 "$BIN/sippushctl" -s "$SP_SOCK" "$@"; }
stat_of() { ctl stats | awk -v k="$1" '$1 == k { print $2 }'; }

# ---- Kamailio ----------------------------------------------------------

# kam_start NAME CHILDREN: kamailio with bench/kamailio.cfg, a fresh SQLite
# location database (WAL), its own runtime dir and port; sets KAM_DIR
# KAM_PORT KAM_TPID KAM_PID (the database: KAM_DIR/location.db)
kam_start() {
	KAM_DIR=$RUN/$1
	KAM_PORT=$(free_port) || die "no free port"
	kam_spawn "$KAM_DIR" "$KAM_DIR/kamailio.log" "$KAM_PORT" "$2"
	KAM_TPID=$LAST_PID
	KAM_PID=$(child_of "$KAM_TPID") || die "kamailio did not start: $(tail -3 "$KAM_DIR/kamailio.log")"
	local i
	for ((i = 0; i < 50; i++)); do
		timeout 5 "$BIN/simclient" -s "127.0.0.1:$KAM_PORT" -n 1 -p probe \
		    -t 500 -q options >/dev/null 2>&1 && return 0
		alive "$KAM_TPID" || break
		sleep 0.2
	done
	die "kamailio did not come up: $(tail -3 "$KAM_DIR/kamailio.log")"
}
kam_stop() {
	stop "$KAM_TPID" 20
	[ "${KEEP_DB:-0}" = 1 ] || rm -f "$KAM_DIR"/location.db*
}
# the main process and its children (word-split on purpose by the callers)
kam_pids() { echo "$KAM_PID" $(pgrep -P "$KAM_PID"); }

# ---- preparation ---------------------------------------------------------

say "run folder: $RUN"
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
	say "installing Kamailio and profilers (bench/install-kamailio.sh)"
	bash "$BENCH/install-kamailio.sh" >"$RUN/install.log" 2>&1 ||
	    die "bench/install-kamailio.sh failed, see $RUN/install.log"
fi
for c in kamailio sqlite3 timeout ss pgrep awk; do
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
if [ -n "${SIPPUSHD_BIN:-}" ]; then	# A/B: another build's daemon
	cp "$SIPPUSHD_BIN" "$BIN/sippushd" || die "cannot copy $SIPPUSHD_BIN"
	say "sippushd under test: $SIPPUSHD_BIN"
fi

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain -- src 2>/dev/null | grep -q . && echo '(src/ has uncommitted changes)')"
	echo "nproc: $(nproc)"
	echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel: $(uname -r)"
	echo "filesystem: $(df -T "$RUN" | awk 'NR == 2 { print $2, $1 }')"
	echo "sofia-sip: $(dpkg-query -W -f='${Version}' libsofia-sip-ua0 2>/dev/null)"
	echo "sqlite: $(sqlite3 --version | cut -d' ' -f1)"
	echo "kamailio: $(kamailio -v 2>/dev/null | awk 'NR == 1 { print $3 }')"
	echo "cflags: $(awk -F' = ' '/^CFLAGS =/ { print $2 }' Makefile)"
	echo "RLIMIT_NOFILE: $(ulimit -Hn)"
	echo "settings: QUICK=$QUICK REG_N=$REG_N FAN_NS='$FAN_NS' HB_CLIENTS=$HB_CLIENTS HB_RATES='$HB_RATES' HB_DUR=$HB_DUR FAN_REPEAT=$FAN_REPEAT RETRY_INITIAL=$RETRY_INITIAL"
} >"$RUN/machine.txt"

LOAD_NOTE="load average at start $(loadavg)"
if [ "$QUICK" != 1 ] && [ "${BENCH_NO_WAIT:-0}" != 1 ]; then
	waited=0
	while :; do
		l=$(loadavg)
		if awk -v l="$l" 'BEGIN { exit !(l < 1.0) }'; then
			LOAD_NOTE="load average $l when the run started (waited $waited min)"
			break
		fi
		if [ "$waited" -ge 40 ]; then
			LOAD_NOTE="load average never went below 1.0 in 40 min (last $l): ran anyway, figures are pessimistic"
			break
		fi
		say "waiting for a quiet machine: load average $l"
		sleep 60
		waited=$((waited + 1))
	done
fi
say "$LOAD_NOTE"
echo "load: $LOAD_NOTE" >>"$RUN/machine.txt"

# ---- 1. registration storm ----------------------------------------------

# What one durable commit costs on this disk: SQLite, WAL, synchronous=FULL,
# one autocommit INSERT at a time (what Kamailio's write-through does per
# REGISTER; sippushd pays it once per group commit).
fsync_probe() {
	local db=$RUN/fsync-probe.db t0 t1 i
	rm -f "$db"*
	sqlite3 "$db" 'PRAGMA journal_mode=WAL; CREATE TABLE t (x);' >/dev/null
	t0=$EPOCHREALTIME
	for ((i = 0; i < 300; i++)); do echo "INSERT INTO t VALUES ($i);"; done |
	    sqlite3 "$db"
	t1=$EPOCHREALTIME
	rm -f "$db"*
	calc "($t1 - $t0) * 1000 / 300"
}

if want 1; then
	FSYNC_MS=$(printf '%.2f' "$(fsync_probe)")
	say "1. one SQLite commit (WAL, FULL) on this disk: $FSYNC_MS ms"

	say "1. registration storm: $REG_N clients, sippush"
	sp_start reg
	rss0=$(rss_kb "$SP_PID")
	fsync_on sp-reg "$SP_PID"
	cpu0=$(cpu_s "$SP_PID")
	sim_start reg "127.0.0.1:$SP_PORT" "$REG_N" c --window "$SP_REG_WINDOW" -- register
	sim_wait || true
	cpu1=$(cpu_s "$SP_PID")
	fsync_off
	sp_fsn=$FS_CALLS sp_fsms=$FS_MS
	a=$(agg reg register)
	sleep 0.5
	rss1=$(rss_kb "$SP_PID")
	REG_SP_HWM=$(hwm_kb "$SP_PID")
	rows=$(sqlite3 "$SP_DIR/sippush.db" "SELECT count(*) FROM clients WHERE state = 'online'")
	sp_stop
	sp_ok=$(kv "$a" ok) sp_fail=$(($(kv "$a" fail) + $(kv "$a" timeout))) sp_el=$(kv "$a" elapsed)
	sp_rate=$(calc "$sp_ok / $sp_el")
	sp_cpu=$(calc "100 * ($cpu1 - $cpu0) / $sp_el")
	REG_SP_BPC=$(calc "($rss1 - $rss0) * 1024 / $REG_N")
	say "   sippush: $a rows=$rows cpu=$(fmt0 "$sp_cpu")% fdatasync=$sp_fsn/${sp_fsms}ms rss $rss0 -> $rss1 kB"

	say "1. registration storm: $REG_N clients, Kamailio (1 worker, usrloc write-through)"
	kam_start kreg 1
	fsync_on kam-reg $(kam_pids)
	cpu0=$(cpu_s $(kam_pids))
	sim_start kreg "127.0.0.1:$KAM_PORT" "$REG_N" c --window "$KAM_REG_WINDOW" -- register
	sim_wait || true
	cpu1=$(cpu_s $(kam_pids))
	fsync_off
	k_fsn=$FS_CALLS k_fsms=$FS_MS
	k=$(agg kreg register)
	krows=$(sqlite3 "$KAM_DIR/location.db" 'SELECT count(*) FROM location')
	kam_stop
	k_ok=$(kv "$k" ok) k_fail=$(($(kv "$k" fail) + $(kv "$k" timeout))) k_el=$(kv "$k" elapsed)
	k_rate=$(calc "$k_ok / $k_el")
	k_cpu=$(calc "100 * ($cpu1 - $cpu0) / $k_el")
	say "   kamailio: $k rows=$krows cpu=$(fmt0 "$k_cpu")% fdatasync=$k_fsn/${k_fsms}ms"

	say "1. registration storm: $KAM_INFO_N clients, Kamailio with 4 workers (for reference)"
	kam_start kreg4 4
	sim_start kreg4 "127.0.0.1:$KAM_PORT" "$KAM_INFO_N" c --window "$KAM_REG_WINDOW" -- register
	sim_wait || true
	k4=$(agg kreg4 register)
	k4rows=$(sqlite3 "$KAM_DIR/location.db" 'SELECT count(*) FROM location')
	k4locked=$(grep -c 'database is locked' "$KAM_DIR/kamailio.log" || true)
	kam_stop
	k4_ok=$(kv "$k4" ok) k4_fail=$(($(kv "$k4" fail) + $(kv "$k4" timeout)))
	say "   kamailio x4: $k4 rows=$k4rows 'database is locked' x$k4locked"

	ratio=$(calc "$sp_rate / $k_rate")
	row "1. REGISTER storm, $(num "$REG_N") clients: rate" \
	    "$(num "$sp_rate")/s" "$(num "$k_rate")/s" "$(printf '%.1fx' "$ratio")" \
	    ">= 3x: $(awk -v r="$ratio" 'BEGIN { print (r >= 3 ? "met" : "MISSED") }')"
	row "1. ... failures (non-200 or timeout)" "$sp_fail" "$k_fail" "" "0"
	row "1. ... durable rows after the storm" "$(num "$rows")" "$(num "$krows")" "" "= clients"
	row "1. ... latency p50 / p99 (worst simclient)" \
	    "$(kv "$a" p50) / $(kv "$a" p99) ms" "$(kv "$k" p50) / $(kv "$k" p99) ms" "" ""
	row "1. ... server CPU during the storm" "$(fmt0 "$sp_cpu")% of a core" \
	    "$(fmt0 "$k_cpu")% (all processes)" "" ""
	row "1. ... fdatasync calls; share of the storm's wall time blocked in them" \
	    "$(num "$sp_fsn"); $(awk -v m="$sp_fsms" -v e="$sp_el" 'BEGIN { if (m != "?") printf "%.0f%%", m / 10 / e }')" \
	    "$(num "$k_fsn"); $(awk -v m="$k_fsms" -v e="$k_el" 'BEGIN { if (m != "?") printf "%.0f%%", m / 10 / e }')" "" ""
	row "1. ... Kamailio with 4 workers ($(num "$KAM_INFO_N") clients)" "" \
	    "$(num "$(calc "$k4_ok / $(kv "$k4" elapsed)")")/s, $k4_fail failed" "" \
	    "SQLite 'database is locked'"
	row "1. ... one SQLite commit (WAL, FULL) on this disk" "$FSYNC_MS ms" \
	    "= at most $(num "$(calc "1000 / $FSYNC_MS")") REGISTER/s per writer" "" ""
fi

# ---- 2. heartbeat ramp ---------------------------------------------------

# hb_ramp KIND: step the OPTIONS rate up until a step loses something.
# A step holds when every OPTIONS got its 200, none timed out, at least
# 97% of the offered rate was sent and no UDP datagram was dropped on the
# machine. Sets HB_BEST (achieved rate), HB_BEST_CPU, HB_FIRST_FAIL.
hb_ramp() {
	local kind=$1 rate iv tag a sent ok bad drops0 drops1 drops c0 c1 \
	    ach held pids w
	HB_BEST=0 HB_BEST_CPU=- HB_FIRST_FAIL="none: every step held" HB_BEST_P99=-
	for rate in $HB_RATES; do
		iv=$(awk -v n="$HB_CLIENTS" -v r="$rate" 'BEGIN { printf "%.4f", n / r }')
		tag=hb-$kind-$rate
		if [ "$kind" = sp ]; then
			sp_start "$tag"
			sim_start "$tag" "127.0.0.1:$SP_PORT" "$HB_CLIENTS" h \
			    --interval "$iv" -- register heartbeat:"$HB_DUR"
			# wait for every simclient to be done registering
			for ((w = 0; w < 600; w++)); do
				[ "$(cat "$RUN/$tag".sim*.log 2>/dev/null | grep -c '^register:')" \
				    -ge "${#SIM_PIDS[@]}" ] && break
				sleep 0.1
			done
			pids=$SP_PID
		else
			sim_start "$tag" "127.0.0.1:$KAM_PORT" "$HB_CLIENTS" h \
			    --interval "$iv" -- heartbeat:"$HB_DUR"
			sleep 0.5
			pids=$(kam_pids)
		fi
		# CPU over the middle of the step
		sleep 1
		c0=$(cpu_s $pids)
		drops0=$(udp_drops)
		sleep "$(calc "$HB_DUR * 0.6")"
		c1=$(cpu_s $pids)
		sim_wait || true
		drops1=$(udp_drops)
		[ "$kind" = sp ] && sp_stop
		a=$(agg "$tag" heartbeat)
		sent=$(kv "$a" sent) ok=$(kv "$a" ok)
		bad=$(($(kv "$a" fail) + $(kv "$a" timeout)))
		drops=$((drops1 - drops0))
		ach=$(calc "$sent / $HB_DUR")
		held=$(awk -v s="$sent" -v r="$rate" -v d="$HB_DUR" -v b="$bad" \
		    -v x="$drops" 'BEGIN { print (b == 0 && x == 0 && s >= 0.97 * r * d) ? 1 : 0 }')
		say "   $kind $rate/s offered: $a drops=$drops cpu=$(calc "100 * ($c1 - $c0) / ($HB_DUR * 0.6)" | xargs printf '%.0f')% held=$held"
		if [ "$held" = 1 ]; then
			HB_BEST=$ach
			HB_BEST_CPU=$(calc "100 * ($c1 - $c0) / ($HB_DUR * 0.6)")
			HB_BEST_P99=$(kv "$a" p99)
		else
			HB_FIRST_FAIL="$(num "$rate")/s: sent $(num "$ach")/s, $bad lost, $drops UDP drops"
			break
		fi
	done
}

if want 2; then
	say "2. heartbeat ramp: $HB_CLIENTS registered clients, sippush"
	hb_ramp sp
	hb_sp=$HB_BEST hb_sp_cpu=$HB_BEST_CPU hb_sp_fail=$HB_FIRST_FAIL hb_sp_p99=${HB_BEST_P99:--}
	say "2. heartbeat ramp: $HB_CLIENTS clients, Kamailio ($KAM_HB_CHILDREN workers, sl_send_reply)"
	kam_start khb "$KAM_HB_CHILDREN"
	hb_ramp kam
	kam_stop
	hb_k=$HB_BEST hb_k_cpu=$HB_BEST_CPU hb_k_fail=$HB_FIRST_FAIL hb_k_p99=${HB_BEST_P99:--}
	row "2. OPTIONS heartbeats: highest rate held with zero loss" "$(num "$hb_sp")/s" \
	    "$(num "$hb_k")/s" "$(awk -v a="$hb_sp" -v b="$hb_k" 'BEGIN { if (b > 0) printf "%.1fx", a / b }')" \
	    "step up to $(num "${HB_RATES##* }")/s"
	row "2. ... server CPU at that rate; p99" \
	    "$(fmt0 "$hb_sp_cpu")% of a core; $hb_sp_p99 ms" \
	    "$(fmt0 "$hb_k_cpu")% (all workers); $hb_k_p99 ms" "" ""
	row "2. ... first step that lost" "$hb_sp_fail" "$hb_k_fail" "" ""
fi

# ---- 3-5. fan-out, retries, memory ---------------------------------------

# fanout NAME N REPEAT [simclient options]: a fresh sippushd, N clients
# registered (then only answering), REPEAT publishes --all --wait in a row.
# Per run: FO_T[i] (s, publish to the last ack, sampled every ~100 ms),
# FO_WAIT[i] (s, wall time of publish --wait, which polls every 200 ms),
# FO_TPS[i] (MESSAGE transactions/s), FO_PEAK[i] (kB, VmRSS peak during),
# FO_AFTER[i] (kB, VmRSS 3 s after), FO_RETRIES[i], FO_OK[i] (1: all acked),
# FO_CPU[i], FO_SIMCPU[i] (CPU of the daemon, of all the simclients during
# the publish, % of one core)
fanout() {
	local name=$1 n=$2 rep=$3 i w s0 a0 r0 s1 a1 r1 t0 t1 c0 c1 sc0 sc1 rc samp line
	shift 3
	FO_T=() FO_WAIT=() FO_TPS=() FO_PEAK=() FO_AFTER=() FO_RETRIES=() FO_OK=() FO_CPU=() FO_SIMCPU=()
	sp_start "$name"
	FO_RSS0=$(rss_kb "$SP_PID")
	sim_start "$name" "127.0.0.1:$SP_PORT" "$n" f "$@" -- \
	    register listen:until-idle:"$([ "$rep" -gt 1 ] && echo "$FAN_IDLE_REPEAT" || echo "$FAN_IDLE")":"$LIMIT"
	local simp=() p
	for p in "${SIM_PIDS[@]}"; do simp+=("$(child_of "$p")"); done
	for ((w = 0; w < 3000; w++)); do
		[ "$(stat_of online)" = "$n" ] && break
		sleep 0.1
	done
	[ "$(stat_of online)" = "$n" ] || die "$name: only $(stat_of online) of $n clients registered"
	sleep 0.5
	FO_RSSREG=$(rss_kb "$SP_PID")
	for ((i = 1; i <= rep; i++)); do
		s0=$(stat_of sent_total) a0=$(stat_of acked_total) r0=$(stat_of retries_total)
		samp=$SP_DIR/sample$i.txt
		rm -f "$SP_DIR/stop"
		# sampler: "seconds acked_total VmRSS" every ~0.1 s, bounded
		# (each `stats' walks the client table: ~1% of the daemon's time)
		(
			for ((w = 0; w < 3000; w++)); do
				[ -e "$SP_DIR/stop" ] && break
				echo "$EPOCHREALTIME $(stat_of acked_total) $(rss_kb "$SP_PID")"
				sleep 0.09
			done
		) >"$samp" 2>/dev/null &
		local sampler=$!
		c0=$(cpu_s "$SP_PID")
		sc0=$(cpu_s "${simp[@]}")
		t0=$EPOCHREALTIME
		rc=0
		timeout 300 "$BIN/sippushctl" -s "$SP_SOCK" publish --all --wait \
		    "bench fan-out $name run $i" >"$SP_DIR/publish$i.log" 2>&1 || rc=$?
		t1=$EPOCHREALTIME
		c1=$(cpu_s "$SP_PID")
		sc1=$(cpu_s "${simp[@]}")
		touch "$SP_DIR/stop"
		wait "$sampler" || true
		s1=$(stat_of sent_total) a1=$(stat_of acked_total) r1=$(stat_of retries_total)
		line=$(awk -v t0="$t0" -v want=$((a0 + n)) '$2 >= want { printf "%.3f", $1 - t0; exit }' "$samp")
		FO_WAIT[i]=$(calc "$t1 - $t0" | xargs printf '%.3f')
		FO_T[i]=${line:-${FO_WAIT[i]}}
		FO_OK[i]=$([ "$rc" = 0 ] && [ $((a1 - a0)) = "$n" ] && echo 1 || echo 0)
		FO_TPS[i]=$(calc "($s1 - $s0) / ${FO_T[i]}")
		FO_RETRIES[i]=$((r1 - r0))
		FO_CPU[i]=$(calc "100 * ($c1 - $c0) / ($t1 - $t0)")
		FO_SIMCPU[i]=$(calc "100 * ($sc1 - $sc0) / ($t1 - $t0)")
		FO_PEAK[i]=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$samp")
		sleep 3		# sippushd trims its heap 2 s after a fan-out
		FO_AFTER[i]=$(rss_kb "$SP_PID")
		say "   $name run $i: acked $((a1 - a0))/$n in ${FO_T[i]} s (--wait ${FO_WAIT[i]} s), sent $((s1 - s0)), retries ${FO_RETRIES[i]}, daemon cpu $(fmt0 "${FO_CPU[i]}")%, simclients cpu $(fmt0 "${FO_SIMCPU[i]}")%, rss peak ${FO_PEAK[i]} after ${FO_AFTER[i]} kB, rc=$rc"
	done
	FO_HWM=$(hwm_kb "$SP_PID")
	sim_wait || true
	FO_LISTEN=$(agg "$name" listen)
	sp_stop
}

LARGEST=${FAN_NS##* }
if want 3; then
	for n in $FAN_NS; do
		rep=1
		[ "$n" = "$LARGEST" ] && rep=$FAN_REPEAT
		say "3. fan-out to $n clients ($rep run(s))"
		fanout "fan-$n" "$n" "$rep"
		ok=all
		for i in "${!FO_OK[@]}"; do [ "${FO_OK[$i]}" = 1 ] || ok=NOT; done
		tgt=""
		[ "$n" = 100000 ] && tgt="<= 5 s: $(awk -v t="${FO_T[1]}" 'BEGIN { print (t <= 5 ? "met" : "MISSED") }')"
		times=$(for i in "${!FO_T[@]}"; do printf '%s s / ' "${FO_T[$i]}"; done)
		row "3. fan-out $(num "$n"): publish to last ack$([ "$rep" -gt 1 ] && echo " (runs 1..$rep)")" \
		    "${times% / } ($ok acked)" "" "" "$tgt"
		row "3. ... MESSAGE transactions/s; CPU of daemon, simclients (run 1)" \
		    "$(num "${FO_TPS[1]}")/s; $(fmt0 "${FO_CPU[1]}")%, $(fmt0 "${FO_SIMCPU[1]}")% of a core" "" "" ""
		dup=$(kv "$FO_LISTEN" duplicates)
		[ "$dup" = 0 ] || row "3. ... duplicates seen by the clients" "$dup" "" "" ""
		if [ "$n" = "$LARGEST" ]; then
			M_N=$n M_RSS0=$FO_RSS0 M_REG=$FO_RSSREG M_HWM=$FO_HWM
			M_PEAK=("${FO_PEAK[@]}") M_AFTER=("${FO_AFTER[@]}")
		fi
	done
fi

if want 4; then
	for n in $FAN_NS; do
		say "4. fan-out to $n clients, 10% fail their first attempt"
		fanout "retry-$n" "$n" 1 --fail-first 1 --fail-share 10
		row "4. fan-out $(num "$n"), 10% fail once: publish to last ack" \
		    "${FO_T[1]} s ($([ "${FO_OK[1]}" = 1 ] && echo all || echo NOT) acked, $(num "${FO_RETRIES[1]}") retries)" \
		    "" "" "retry_initial = $RETRY_INITIAL ms"
	done
fi

if want 3; then
	say "5. memory"
	bpc=$(calc "($M_REG - $M_RSS0) * 1024 / $M_N")
	row "5. RSS, $(num "$M_N") registered: idle / registered (bytes per client)" \
	    "$(num "$((M_RSS0 / 1024))") / $(num "$((M_REG / 1024))") MiB ($(fmt0 "$bpc") B)" \
	    "" "" "< 1024 B/client: $(awk -v b="$bpc" 'BEGIN { print (b < 1024 ? "met" : "MISSED") }')"
	if want 1; then
		row "5. ... the same from the $(num "$REG_N")-client storm" \
		    "$(fmt0 "$REG_SP_BPC") B/client (VmHWM $(num "$((REG_SP_HWM / 1024))") MiB)" "" "" ""
	fi
	peaks=$(for v in "${M_PEAK[@]}"; do printf '%s / ' "$(num "$((v / 1024))")"; done)
	afters=$(for v in "${M_AFTER[@]}"; do printf '%s / ' "$(num "$((v / 1024))")"; done)
	row "5. ... VmRSS peak during fan-out runs 1..${#M_PEAK[@]}" \
	    "${peaks% / } MiB (VmHWM $(num "$((M_HWM / 1024))") MiB)" "" "" ""
	growth=$(((M_AFTER[${#M_AFTER[@]} - 1] - M_AFTER[0]) / 1024))
	row "5. ... VmRSS 3 s after runs 1..${#M_AFTER[@]}" "${afters% / } MiB" "" "" \
	    "no growth: $([ "$growth" -le 2 ] && echo met || echo "MISSED (+$growth MiB)")"
fi

# ---- 6. profile ----------------------------------------------------------

if want 6 && [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
	PERF_EV='syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll'
	# perf_on TAG: sample the daemon (cpu-clock, call graphs) and count
	# its syscalls until perf_off
	perf_on() {
		spawn "$RUN/perf-$1.record.log" perf record -e cpu-clock -F 499 \
		    --call-graph dwarf,16384 \
		    -p "$SP_PID" -o "$RUN/perf-$1.data"
		PERF_REC=$LAST_PID
		spawn "$RUN/perf-$1.syscalls.txt" perf stat -e "$PERF_EV" -p "$SP_PID"
		PERF_STAT=$LAST_PID
		# time blocked in fdatasync (off the CPU, so not in the samples)
		spawn "$RUN/perf-$1.trace.log" perf trace -s -e fdatasync \
		    -o "$RUN/perf-$1.fdatasync.txt" -p "$SP_PID"
		PERF_TRACE=$LAST_PID
		PERF_T0=$EPOCHREALTIME
		sleep 0.5
	}
	perf_off() {
		local p
		PERF_WALL=$(calc "$EPOCHREALTIME - $PERF_T0")
		for p in "$PERF_REC" "$PERF_STAT" "$PERF_TRACE"; do
			kill -INT "$(pgrep -P "$p" | head -1)" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		done
		perf report -i "$RUN/perf-$1.data" --stdio --no-children \
		    --sort symbol,dso -g none --percent-limit 0.7 \
		    >"$RUN/perf-$1.txt" 2>/dev/null || true
		perf report -i "$RUN/perf-$1.data" --stdio --no-children \
		    --sort dso -g none >"$RUN/perf-$1.dso.txt" 2>/dev/null || true
		perf report -i "$RUN/perf-$1.data" --stdio --children \
		    --sort symbol -g none --percent-limit 2 \
		    >"$RUN/perf-$1.children.txt" 2>/dev/null || true
		rm -f "$RUN/perf-$1.data.old"
		[ "${KEEP_PERF:-0}" = 1 ] || rm -f "$RUN/perf-$1.data"
		# the summary line: wall time, CPU samples, time in fdatasync
		local cpu fds
		cpu=$(awk '/^# Event count/ { printf "%.2f", $NF / 1e9; exit }' "$RUN/perf-$1.txt")
		fds=$(awk '$1 == "fdatasync" { printf "%d calls, %.0f ms", $2, $4; exit }' "$RUN/perf-$1.fdatasync.txt" 2>/dev/null)
		echo "$1: wall $(printf '%.2f' "$PERF_WALL") s (from perf start), on CPU ${cpu:-?} s (cpu-clock samples), in fdatasync: ${fds:-?}" |
		    tee -a "$RUN/perf-summary.txt" >&2
	}
	say "6. profile: registration storm of $REG_N"
	sp_start prof-reg
	perf_on register
	sim_start prof-reg "127.0.0.1:$SP_PORT" "$REG_N" c --window "$SP_REG_WINDOW" -- register
	sim_wait || true
	perf_off register
	say "   $(agg prof-reg register)"
	# heartbeats from the registered clients need their sockets: a new
	# set of clients registers and heartbeats at a fixed rate
	hbr=${PROFILE_HB_RATE:-20000}
	sim_start prof-hb "127.0.0.1:$SP_PORT" "$HB_CLIENTS" h \
	    --interval "$(awk -v n="$HB_CLIENTS" -v r="$hbr" 'BEGIN { printf "%.4f", n / r }')" \
	    -- register heartbeat:"$HB_DUR"
	for ((w = 0; w < 600; w++)); do
		[ "$(cat "$RUN"/prof-hb.sim*.log 2>/dev/null | grep -c '^register:')" \
		    -ge "${#SIM_PIDS[@]}" ] && break
		sleep 0.1
	done
	perf_on heartbeat
	sim_wait || true
	perf_off heartbeat
	say "   $(agg prof-hb heartbeat)"
	sp_stop
	say "6. profile: fan-out to $LARGEST"
	sp_start prof-fan
	sim_start prof-fan "127.0.0.1:$SP_PORT" "$LARGEST" f -- \
	    register listen:until-idle:"$FAN_IDLE":"$LIMIT"
	for ((w = 0; w < 3000; w++)); do
		[ "$(stat_of online)" = "$LARGEST" ] && break
		sleep 0.1
	done
	perf_on fanout
	t0=$EPOCHREALTIME
	ctl publish --all --wait "bench profile" >"$SP_DIR/publish.log" 2>&1 || true
	say "   fan-out under perf: $(calc "$EPOCHREALTIME - $t0") s"
	perf_off fanout
	sim_wait || true
	sp_stop
	for p in register heartbeat fanout; do
		say "   top of perf-$p.txt:"
		grep -E '^ +[0-9]' "$RUN/perf-$p.txt" | head -12 | tee -a "$RUN/run.log" >&2 || true
	done
fi

# ---- the table -----------------------------------------------------------

{
	echo "| scenario | sippush | Kamailio 5.6 | sippush/Kamailio | target |"
	echo "| --- | --- | --- | --- | --- |"
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$RESULTS"
} >"$RUN/table.md"
{
	echo
	echo "sippush benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); $LOAD_NOTE)"
	echo
	{
		printf 'scenario\tsippush\tKamailio 5.6\tratio\ttarget\n'
		cat "$RESULTS"
	} | awk -F'\t' '{ for (i = 1; i <= 5; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
	    END { for (r = 1; r <= n; r++) { for (i = 1; i <= 5; i++) printf "%-*s  ", w[i], c[r, i]; printf "\n"
	          if (r == 1) { for (i = 1; i <= 5; i++) { s = ""; for (j = 0; j < w[i]; j++) s = s "-"; printf "%s  ", s } printf "\n" } } }'
	echo
	echo "raw logs: $RUN (table.md: the same table in Markdown)"
} | tee "$RUN/table.txt"
