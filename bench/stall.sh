#!/usr/bin/env bash
# bench/stall.sh: the event loop's worst stall during big control
# operations (issue 11 "Measured"), seen by a heartbeat prober.
#
#   bash bench/stall.sh                       the sippushd/sippushctl of this tree
#   SIPPUSHD=/dir/sippushd SIPPUSHCTL=/dir/sippushctl bash bench/stall.sh
#   STALL_SMOKE=1 bash bench/stall.sh         small N (10k/10k/10k/50k/50k), ~30 s
#   STALL_ONLY=1,3 bash bench/stall.sh        only these scenarios
#
# While each operation runs, bench/probe.py (one registered UDP client on
# 127.0.0.1) sends an OPTIONS every PROBE_MS ms and times every answer;
# the probes sent from the start of the operation to its end (+0.2 s)
# give the worst wait for a 200, its p99 and the count of timeouts
# (unanswered after PROBE_TIMEOUT ms). Scenarios:
#   1. publish --all to N1 online clients (rows written into the database
#      before the start; their contacts are closed UDP ports: nobody answers)
#   2. user import of N2 users
#   3. status of scenario 1's message (N1 targets), 2 s after the publish
#   4. clients (the table, to /dev/null) over N4 rows
#   5. N4 clients going offline at once: a restart on the same rows, all
#      online with a last-seen an hour old and heartbeat.timeout = 60; the
#      window is the first SWEEP_WAIT s after the prober registered, the
#      duration the time from the start until `stats` says at most 1 online
#
# Settings (environment): SIPPUSHD, SIPPUSHCTL (default: this tree's, built
# if missing), N1 (100000), N2 (100000), N4 (1000000), PROBE_MS (5),
# PROBE_TIMEOUT (3000), SWEEP_WAIT (15), STALL_ONLY (default 1,2,3,4,5),
# STALL_SMOKE=1, BENCH_OUT (default bench/out). Needs python3, sqlite3.
# Prints one line per scenario and writes RUN/result.tsv; each probe's
# figures are in RUN/probe-*.txt (send time, wait in ms or "timeout").
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

if [ "${STALL_SMOKE:-0}" = 1 ]; then
	: "${N1:=10000}" "${N2:=10000}" "${N4:=50000}" "${SWEEP_WAIT:=8}"
fi
: "${N1:=100000}" "${N2:=100000}" "${N4:=1000000}" "${PROBE_MS:=5}"
: "${PROBE_TIMEOUT:=3000}" "${SWEEP_WAIT:=15}" "${STALL_ONLY:=1,2,3,4,5}"
MAXC=$(( (N4 > N1 ? N4 : N1) + 1000 ))
LIMIT=300

BENCH_OUT=${BENCH_OUT:-$BENCH/out}
RUN=$BENCH_OUT/stall-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
RES=$RUN/result.tsv

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do stop "$p"; done
	rm -f "$RUN"/*.db "$RUN"/*.db-* "$RUN"/*.db.* "$RUN"/users.txt
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

for c in python3 sqlite3 timeout ss pgrep awk; do
	command -v "$c" >/dev/null || die "$c is missing"
done
if [ -z "${SIPPUSHD:-}" ]; then
	[ -f Makefile ] || bash scripts/build.sh >"$RUN/build.log" 2>&1 || die "build failed, see $RUN/build.log"
	make -j2 sippushd sippushctl >>"$RUN/build.log" 2>&1 || die "make failed, see $RUN/build.log"
	SIPPUSHD=$ROOT/sippushd
	grep -Eq '^SANITIZER_CFLAGS = *$' Makefile || say "WARNING: sanitizers configured: figures are not representative"
fi
: "${SIPPUSHCTL:=$(dirname "$SIPPUSHD")/sippushctl}"
[ -x "$SIPPUSHD" ] || die "no sippushd at $SIPPUSHD"
[ -x "$SIPPUSHCTL" ] || die "no sippushctl at $SIPPUSHCTL (set SIPPUSHCTL)"
want() { case ",$STALL_ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "sippushd: $SIPPUSHD; sippushctl: $SIPPUSHCTL"
	echo "nproc: $(nproc); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "settings: N1=$N1 N2=$N2 N4=$N4 PROBE_MS=$PROBE_MS PROBE_TIMEOUT=$PROBE_TIMEOUT SWEEP_WAIT=$SWEEP_WAIT STALL_ONLY=$STALL_ONLY"
} | tee "$RUN/machine.txt" >&2

now() { date +%s.%N; }
# tsum A B: A + B (and A - B with B negative) with 3 decimals (calc prints %.6g)
tsum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
ctl() { timeout -k 5 "$LIMIT" "$SIPPUSHCTL" -s "$RUN/ctl.sock" --timeout 0 "$@"; }

# srv_start NAME DB HB_TIMEOUT: SRV_TPID, SRV_PORT; the daemon answering
srv_start() {
	local name=$1 db=$2 hb=$3 i
	SRV_PORT=$(free_port) || die "no free port"
	cat >"$RUN/$name.conf" <<EOC
sip = { address = "127.0.0.1"; port = $SRV_PORT; udp = true; tcp = false; };
database = { path = "$db"; };
heartbeat = { timeout = $hb; sweep_interval = 5; };
registration = { rate_per_source = 0; max_clients = $MAXC; };
control = { socket = "$RUN/ctl.sock"; };
log = { level = "notice"; };
EOC
	SRV_T0=$(now)
	spawn "$RUN/$name.log" "$SIPPUSHD" -F -f "$RUN/$name.conf"
	SRV_TPID=$LAST_PID
}
srv_wait() {
	local i
	for ((i = 0; i < 1200; i++)); do
		ctl stats >/dev/null 2>&1 && return 0
		alive "$SRV_TPID" || die "sippushd died: $(tail -3 "$RUN/$1.log")"
		sleep 0.1
	done
	die "sippushd did not answer on its control socket"
}

# probe_start NAME: the prober, registered; PROBE_PID, PROBE_OUT
probe_start() {
	local i
	PROBE_OUT=$RUN/probe-$1.txt
	spawn "$RUN/probe-$1.log" python3 "$BENCH/probe.py" "127.0.0.1:$SRV_PORT" "$PROBE_OUT" \
	    --interval "$PROBE_MS" --timeout "$PROBE_TIMEOUT" --id "stallprobe$1"
	PROBE_PID=$LAST_PID
	for ((i = 0; i < 1200; i++)); do
		grep -qs registered "$RUN/probe-$1.log" && return 0
		alive "$PROBE_PID" || die "the prober failed: $(tail -3 "$RUN/probe-$1.log")"
		sleep 0.05
	done
	die "the prober did not register"
}
probe_stop() { stop "$PROBE_PID" 10; }

# report SCENARIO FROM TO DURATION: a line from the probes sent in [FROM, TO]
printf 'scenario\tworst_ms\tp99_ms\tprobes\ttimeouts\tduration_s\tload1\n' >"$RES"
report() {
	local sc=$1 from=$2 to=$3 dur=$4 load
	sleep "$(calc "$PROBE_TIMEOUT / 1000 + 0.5")"	# every probe of the window answered or timed out
	load=$(cut -d' ' -f1 /proc/loadavg)
	awk -v sc="$sc" -v from="$from" -v to="$to" -v dur="$dur" -v load="$load" -v tmo="$PROBE_TIMEOUT" '
	$1 >= from && $1 <= to {
		if ($2 == "timeout") { t++; v[++n] = tmo; next }
		v[++n] = $2 + 0
	}
	END {
		for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
		w = n ? v[n] : 0; p = n ? v[int(0.99 * (n - 1)) + 1] : 0
		printf "%s\t%.1f\t%.1f\t%d\t%d\t%.2f\t%s\n", sc, w, p, n, t, dur, load
	}' "$PROBE_OUT" | tee -a "$RES" | awk -F'\t' '{
		printf "%-34s worst %8s ms  p99 %7s ms  timeouts %d (of %d probes, ~%d due)  operation %s s  (load %s)\n",
		    $1, $2, $3, $5, $4, ($6 + 0.2) * 1000 / pm, $6, $7 }' pm="$PROBE_MS" >&2
}

# fill DB N STATE LAST_SEEN: N client rows (ids c0000001...), contacts on
# closed UDP ports of 127.0.0.1, one per class c0..c9
fill() {
	local db=$1 n=$2 state=$3 seen=$4 port
	port=$(free_port)
	sqlite3 "$db" >/dev/null <<EOS
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $n)
INSERT INTO clients (id, class, state, contact, transport, address, port,
    user_agent, registered_at, expires_at, last_seen)
SELECT printf('c%07d', i), 'c' || (i % 10), '$state',
    printf('<sip:c%07d@127.0.0.1:$port>', i), 'udp', '127.0.0.1', $port,
    'stallbench', $seen, $seen + 86400 * 30, $seen FROM s;
COMMIT;
EOS
}

# an empty database with the schema of this sippushd
make_db() {
	local db=$1
	srv_start schema "$db" 0
	srv_wait schema
	stop "$SRV_TPID"
}

# ---- scenarios 1, 2, 3: N1 clients ---------------------------------------------

if want 1 || want 2 || want 3; then
	db=$RUN/s123.db
	say "database: $N1 online clients"
	make_db "$db"
	fill "$db" "$N1" online "$(date +%s)"
	srv_start s123 "$db" 0
	srv_wait s123
	probe_start s123
	sleep 1
	if want 1 || want 3; then
		say "1. publish --all to $N1 clients (load $(cut -d' ' -f1 /proc/loadavg))"
		t0=$(now)
		msg=$(ctl publish --all stall-bench-message) || die "publish failed: $msg"
		t1=$(now)
		msg=$(echo "$msg" | tr -dc '0-9A-Za-z_-' | head -c 64)
		want 1 && report "1 publish --all ($N1)" "$t0" "$(tsum "$t1" 0.2)" "$(tsum "$t1" "-$t0")"
		sleep 2
	fi
	if want 3; then
		say "3. status of a $N1-target message (load $(cut -d' ' -f1 /proc/loadavg))"
		t0=$(now)
		ctl status "$msg" >"$RUN/status.txt" || die "status $msg failed"
		t1=$(now)
		report "3 status ($N1 targets)" "$t0" "$(tsum "$t1" 0.2)" "$(tsum "$t1" "-$t0")"
		sleep 1
	fi
	if want 2; then
		say "2. user import of $N2 users (load $(cut -d' ' -f1 /proc/loadavg))"
		awk -v n="$N2" 'BEGIN { for (i = 1; i <= n; i++) printf "u%07d password-%07d\n", i, i }' >"$RUN/users.txt"
		t0=$(now)
		ctl user import "$RUN/users.txt" >"$RUN/import.txt" || die "user import failed: $(cat "$RUN/import.txt")"
		t1=$(now)
		report "2 user import ($N2)" "$t0" "$(tsum "$t1" 0.2)" "$(tsum "$t1" "-$t0")"
	fi
	probe_stop
	stop "$SRV_TPID"
	rm -f "$db" "$db"-*
fi

# ---- scenarios 4, 5: N4 rows --------------------------------------------------

if want 4 || want 5; then
	db=$RUN/s45.db
	say "database: $N4 clients online, last seen an hour ago"
	make_db "$db"
	fill "$db" "$N4" online "$(($(date +%s) - 3600))"
	if want 4; then
		srv_start s4 "$db" 0	# no heartbeat check: they stay online
		srv_wait s4
		probe_start s4
		sleep 1
		say "4. clients over $N4 rows (load $(cut -d' ' -f1 /proc/loadavg))"
		t0=$(now)
		ctl clients >/dev/null || die "clients failed"
		t1=$(now)
		report "4 clients ($N4 rows)" "$t0" "$(tsum "$t1" 0.2)" "$(tsum "$t1" "-$t0")"
		probe_stop
		stop "$SRV_TPID"
	fi
	if want 5; then
		say "5. $N4 clients going offline at once (load $(cut -d' ' -f1 /proc/loadavg))"
		srv_start s5 "$db" 60
		probe_start s5	# retries its REGISTER while the daemon loads
		p0=$(now)
		done_t=
		for ((i = 0; i < SWEEP_WAIT * 8; i++)); do
			if [ -z "$done_t" ]; then
				off=$(ctl --json stats 2>/dev/null | sed -n 's/.*"offline":\([0-9]*\).*/\1/p')
				[ -n "$off" ] && [ "$off" -ge "$N4" ] && done_t=$(now)
			fi
			[ "$(awk -v a="$(now)" -v b="$p0" -v w="$SWEEP_WAIT" 'BEGIN { print (a - b >= w) }')" = 1 ] && [ -n "$done_t" ] && break
			[ "$(awk -v a="$(now)" -v b="$p0" -v w="$SWEEP_WAIT" 'BEGIN { print (a - b >= 2 * w) }')" = 1 ] && break
			sleep 0.25
		done
		p1=$(now)
		[ -n "$done_t" ] || say "   not all offline after $(tsum "$p1" "-$SRV_T0") s: ${off:-?} offline"
		report "5 mass offline ($N4)" "$p0" "$p1" "$(tsum "${done_t:-$p1}" "-$SRV_T0")"
		probe_stop
		stop "$SRV_TPID"
	fi
	rm -f "$db" "$db"-*
fi
say "results: $RES"
