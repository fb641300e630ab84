# shellcheck shell=bash
# bench/lib.sh: helpers shared by bench/run.sh and bench/register_rate.sh
# (sourced, not run). The sourcing script sets BENCH (this folder), RUN
# (its run folder, for run.log) and LIMIT (seconds any process it starts
# may live) before it calls these, and keeps its own cleanup/trap: it
# stops every PID in PIDS.

# ---- reporting ---------------------------------------------------------

# say MSG...: one line on stderr and in $RUN/run.log, stamped by
# say_stamp (here: the UTC time; a script may define its own)
say_stamp() { date -u +%H:%M:%S; }
say() { printf '[%s] %s\n' "$(say_stamp)" "$*" | tee -a "$RUN/run.log" >&2; }
die() { say "ERROR: $*"; exit 1; }

# arithmetic on decimals
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }

# ---- processes ---------------------------------------------------------

PIDS=()

# is PID our live child?
alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	set -- $st
	[ "$1" != Z ] && [ "$1" != X ] && [ "$2" = "$$" ]
}

# stop PID [SECS]: SIGTERM our child (a timeout(1) wrapper passes it on),
# bounded wait (SECS, default 10), then SIGKILL.
stop() {
	local pid=$1 secs=${2:-10} i
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# spawn LOG CMD...: run CMD in the background under timeout(1); LAST_PID
spawn() {
	local log=$1
	shift
	timeout -k 5 "$LIMIT" "$@" >"$log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# the process timeout(1) runs for us
child_of() {
	local i c
	for ((i = 0; i < 50; i++)); do
		c=$(pgrep -P "$1" | head -1) && [ -n "$c" ] && { echo "$c"; return 0; }
		sleep 0.1
	done
	return 1
}

# free_port: a port in no UDP or TCP socket on this machine
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))	# below the ephemeral range
		[ -z "$(ss -Hanut "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
	done
	return 1
}

# ---- CPU -----------------------------------------------------------------

TICK=$(getconf CLK_TCK)
# ticks PID...: clock ticks (user + system, all threads) of these processes
ticks() {
	local p t=0 st
	for p in "$@"; do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		st=${st##*) }
		set -- $st
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
# cpu_s PID...: user + system CPU seconds of these processes
cpu_s() { calc "$(ticks "$@") / $TICK"; }

# ---- Kamailio ------------------------------------------------------------

# kam_spawn DIR LOG PORT CHILDREN: spawn kamailio with bench/kamailio.cfg
# on udp:127.0.0.1:PORT, CHILDREN workers, a fresh SQLite location
# database DIR/location.db (WAL) and its runtime dir DIR/run; LAST_PID
kam_spawn() {
	local dir=$1 log=$2 port=$3 children=$4 db=$1/location.db
	mkdir -p "$dir/run"
	cat /usr/share/kamailio/db_sqlite/standard-create.sql \
	    /usr/share/kamailio/db_sqlite/usrloc-create.sql | sqlite3 "$db"
	sqlite3 "$db" 'PRAGMA journal_mode=WAL;' >/dev/null
	spawn "$log" kamailio -f "$BENCH/kamailio.cfg" -DD -E \
	    -m 1024 -M 32 -Y "$dir/run" -P "$dir/run/kamailio.pid" \
	    -A "KAM_LISTEN=udp:127.0.0.1:$port" \
	    -A "KAM_DBURL=\"sqlite://$db\"" -A "KAM_DBWAL=\"$db=WAL\"" \
	    -A "KAM_CHILDREN=$children"
}
