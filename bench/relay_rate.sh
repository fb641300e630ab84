#!/usr/bin/env bash
# bench/relay_rate.sh: client-to-client requests relayed per second,
# sippushd (relay.enabled) against Kamailio doing the same job
# (bench/kamailio-relay.cfg: registrar + lookup + t_relay of MESSAGE to
# the registered contact), in the same run.
#
#   bash bench/relay_rate.sh
#
# For REPS rounds, each server in turn (alternating, so that a busy spell
# of a shared machine falls on both): a fresh server on a free port; one
# bench/relaygen (built here with cc -O2) plays N UDP clients that
# register, then for DUR seconds each keeps WIN MESSAGEs in flight to the
# next client's ID, through the server; every client answers 200 with a
# body. Reported per round: requests answered 2xx with the target's body
# per second, failures (non-2xx) and timeouts (none within 4 s), p50/p99
# latency (send to final answer), and the server's CPU seconds per 1000
# relayed (utime + stime of all its processes). Zero failures is the
# condition of a valid round. Median of the rounds at the end.
#
# Settings (environment): N (100), WIN (2), DUR (5), REPS (3),
# KAM_CHILDREN (2: the machine's cores), BENCH_NO_INSTALL=1, BENCH_OUT
# (default bench/out). sippushd: relay.rules "* -> *", relay.rate 0
# (no per-sender limit), log.level notice, auth off (its source check on,
# as always without auth); database.synchronous "full".
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

: "${N:=100}" "${WIN:=2}" "${DUR:=5}" "${REPS:=3}" "${KAM_CHILDREN:=2}"
LIMIT=$((DUR + 60))

BENCH_OUT=${BENCH_OUT:-$BENCH/out}
RUN=$BENCH_OUT/relay-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do stop "$p"; done
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
	BENCH_PROFILE=0 bash "$BENCH/install-kamailio.sh" >"$RUN/install.log" 2>&1 ||
	    die "bench/install-kamailio.sh failed, see $RUN/install.log"
fi
[ -x "$ROOT/sippushd" ] || die "build sippushd first (make)"
cc -O2 -o "$RUN/relaygen" "$BENCH/relaygen.c" || die "cannot build relaygen"

# one round of SERVER (sippushd or kamailio); prints a raw.tsv line
round() {
	local server=$1 r=$2 port dir pid line cpu0 cpu1 pids
	port=$(free_port)
	dir=$RUN/$server-$r
	mkdir -p "$dir"
	if [ "$server" = sippushd ]; then
		cat >"$dir/sippushd.conf" <<EOF
sip = { address = "127.0.0.1"; port = $port; tcp = false; };
database = { path = "$dir/sippush.db"; synchronous = "full"; };
control = { socket = "$dir/ctl.sock"; };
registration = { rate_per_source = 0; };
heartbeat = { timeout = 300; };
relay = { enabled = true; rate = 0; rules = [ "* -> *" ]; };
log = { level = "notice"; };
EOF
		spawn "$dir/server.log" "$ROOT/sippushd" -F -f "$dir/sippushd.conf"
		pid=$LAST_PID
		sleep 0.5
		pids=$(child_of "$pid")
	else
		kam_cfg=$BENCH/kamailio-relay.cfg kam_spawn_cfg "$dir" \
		    "$dir/server.log" "$port" "$KAM_CHILDREN"
		pid=$LAST_PID
		sleep 1.5
		pids="$(child_of "$pid") $(pgrep -P "$(child_of "$pid")" | tr '\n' ' ')"
	fi
	# shellcheck disable=SC2086
	cpu0=$(ticks $pids)
	line=$(timeout "$LIMIT" "$RUN/relaygen" -s "127.0.0.1:$port" \
	    -n "$N" -w "$WIN" -d "$DUR" 2>>"$dir/relaygen.err") ||
	    line="sent=0 ok=0 body=0 fail=0 timeout=0 rate=0 p50_ms=0 p99_ms=0"
	# shellcheck disable=SC2086
	cpu1=$(ticks $pids)
	stop "$pid"
	eval "$line"
	# shellcheck disable=SC2154
	printf '%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$r" \
	    "$sent" "$ok" "$body" "$fail" "$timeout" "$rate" "$p50_ms" \
	    "$p99_ms" >>"$RUN/raw.tsv"
	say "$server round $r: $line cpu_s=$(calc "($cpu1 - $cpu0) / $TICK")"
	printf '%s\t%s\t%s\n' "$server" "$r" \
	    "$(calc "($cpu1 - $cpu0) / $TICK * 1000 / ($ok > 0 ? $ok : 1)")" \
	    >>"$RUN/cpu.tsv"
}

# kam_spawn with another configuration file
kam_spawn_cfg() {
	local dir=$1 log=$2 port=$3 children=$4 db=$1/location.db
	mkdir -p "$dir/run"
	cat /usr/share/kamailio/db_sqlite/standard-create.sql \
	    /usr/share/kamailio/db_sqlite/usrloc-create.sql | sqlite3 "$db"
	sqlite3 "$db" 'PRAGMA journal_mode=WAL;' >/dev/null
	spawn "$log" kamailio -f "$kam_cfg" -DD -E \
	    -m 1024 -M 32 -Y "$dir/run" -P "$dir/run/kamailio.pid" \
	    -A "KAM_LISTEN=udp:127.0.0.1:$port" \
	    -A "KAM_DBURL=\"sqlite://$db\"" -A "KAM_DBWAL=\"$db=WAL\"" \
	    -A "KAM_CHILDREN=$children"
}

say "relay_rate: N=$N WIN=$WIN DUR=${DUR}s REPS=$REPS, $(nproc) CPUs, run in $RUN"
: >"$RUN/raw.tsv"
for ((r = 1; r <= REPS; r++)); do
	round sippushd "$r"
	round kamailio "$r"
done

# medians of the rounds
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
{
	printf '| server | relayed/s (2xx with body) | failures | timeouts | p50 ms | p99 ms | CPU ms per 1000 |\n'
	printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
	for s in sippushd kamailio; do
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$s" \
		    "$(awk -v s=$s '$1 == s { print $8 }' "$RUN/raw.tsv" | median)" \
		    "$(awk -v s=$s '$1 == s { t += $6 } END { print t + 0 }' "$RUN/raw.tsv")" \
		    "$(awk -v s=$s '$1 == s { t += $7 } END { print t + 0 }' "$RUN/raw.tsv")" \
		    "$(awk -v s=$s '$1 == s { print $9 }' "$RUN/raw.tsv" | median)" \
		    "$(awk -v s=$s '$1 == s { print $10 }' "$RUN/raw.tsv" | median)" \
		    "$(awk -v s=$s '$1 == s { print $3 * 1000 }' "$RUN/cpu.tsv" | median)"
	done
} | tee "$RUN/summary.md"
