#!/usr/bin/env bash
# bench/register_rate.sh: CPU per REGISTER at paced rates (not a storm),
# sippush (a base build and this tree, A/B) against Kamailio.
#
#   bash bench/register_rate.sh                    this tree and Kamailio
#   BASE_REV=e754ee4 bash bench/register_rate.sh   + a base build of that commit
#   BASE_BIN=/dir bash bench/register_rate.sh      + the sippushd in /dir
#
# For each rate, REPS rounds, each round running every server once in turn
# (base, new, Kamailio: alternating, so that a busy spell of a shared
# machine falls on all of them): a fresh server; one simclient plays N =
# rate x INTERVAL clients, which register once (unpaced), pause, then
# refresh (`reregister:DUR' with --interval INTERVAL: every client sends
# a REGISTER every INTERVAL seconds, evenly staggered, so the server sees
# a steady RATE per second). Over that paced phase:
#   - CPU of the server (utime + stime of every thread from
#     /proc/PID/stat; Kamailio: all its processes), divided by the
#     REGISTERs answered 200: "us/REG". Robust to a shared machine, unlike
#     a maximum rate.
#   - fdatasync calls (perf trace -s -e fdatasync, a tracepoint: no ptrace
#     overhead on the other syscalls), per second: the commits.
#   - p50 / p99 latency of the REGISTERs (simclient, send to 200).
# Prints one table per rate (median of the rounds; a round where nothing
# was answered, e.g. simclient could not bind its sockets, is left out;
# every round is in raw.tsv) and the ratios new/base and Kamailio/new.
#
# Settings (environment): RATES (default "500 2000 10000"), DUR (paced
# seconds, 10), INTERVAL (1), REPS (3), SERVERS (default: "base new
# kamailio", base only with BASE_REV/BASE_BIN; base@D or new@D runs that
# build with database.commit_delay = D ms), SP_DB_EXTRA (more
# settings for sippushd's database group of both builds, e.g.
# 'commit_delay = 5;'), BENCH_NO_INSTALL=1, BENCH_OUT
# (default bench/out).
#
# sippushd runs with database.synchronous = "full" (a 200 only after an
# fsync'ed commit); Kamailio with bench/kamailio.cfg: usrloc db_mode = 1
# (write-through: the contact is written, and fsync'ed, before the 200),
# SQLite in WAL mode, 1 worker. Everything runs under timeout(1).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

: "${RATES:=500 2000 10000}" "${DUR:=10}" "${INTERVAL:=1}" "${REPS:=3}"
: "${SP_DB_EXTRA:=}"
LIMIT=600

BENCH_OUT=${BENCH_OUT:-$BENCH/out}
RUN=$BENCH_OUT/rate-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
RAW=$RUN/raw.tsv
BIN=$RUN/bin
mkdir -p "$BIN/new" "$BIN/base"

# shared helpers: say, die, calc, PIDS, alive, stop, spawn, child_of,
# free_port, TICK, ticks, cpu_s, kam_spawn
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do stop "$p"; done
	if [ -n "${BASE_TREE:-}" ] && [ -d "$BASE_TREE" ]; then
		git worktree remove --force "$BASE_TREE" 2>/dev/null || rm -rf "$BASE_TREE"
	fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---- the binaries ---------------------------------------------------------

if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
	say "installing Kamailio and perf (bench/install-kamailio.sh)"
	bash "$BENCH/install-kamailio.sh" >"$RUN/install.log" 2>&1 ||
	    die "bench/install-kamailio.sh failed, see $RUN/install.log"
fi
for c in kamailio sqlite3 perf timeout ss pgrep awk; do
	command -v "$c" >/dev/null || die "$c is missing"
done

say "building this tree"
[ -f Makefile ] || bash scripts/build.sh >"$RUN/build.log" 2>&1 || die "build failed, see $RUN/build.log"
make -j2 sippushd tests/simclient >>"$RUN/build.log" 2>&1 || die "make failed, see $RUN/build.log"
grep -Eq '^SANITIZER_CFLAGS = *$' Makefile || say "WARNING: sanitizers configured: figures are not representative"
cp sippushd "$BIN/new/"
cp tests/simclient "$BIN/"
NEW_DESC="$(git rev-parse --short HEAD)$(git status --porcelain -- src | grep -q . && echo '+changes' || true)"

BASE_DESC=
if [ -n "${BASE_BIN:-}" ]; then
	cp "$BASE_BIN/sippushd" "$BIN/base/" || die "no sippushd in $BASE_BIN"
	BASE_DESC=$BASE_BIN
elif [ -n "${BASE_REV:-}" ]; then
	say "building the base, $BASE_REV"
	BASE_TREE=$(mktemp -d /tmp/sippush-base.XXXXXX)
	rmdir "$BASE_TREE"
	git worktree add --detach "$BASE_TREE" "$BASE_REV" >"$RUN/base-build.log" 2>&1 ||
	    die "git worktree add $BASE_REV failed, see $RUN/base-build.log"
	(cd "$BASE_TREE" && SIPPUSH_SKIP_DEPS=1 bash scripts/build.sh) >>"$RUN/base-build.log" 2>&1 ||
	    die "base build failed, see $RUN/base-build.log"
	cp "$BASE_TREE/sippushd" "$BIN/base/"
	BASE_DESC=$(git rev-parse --short "$BASE_REV")
fi
if [ -z "${SERVERS:-}" ]; then
	SERVERS="new kamailio"
	[ -n "$BASE_DESC" ] && SERVERS="base new kamailio"
fi

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "new: $NEW_DESC; base: ${BASE_DESC:-none}"
	echo "nproc: $(nproc); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "kamailio: $(kamailio -v 2>/dev/null | awk 'NR == 1 { print $3 }'); sqlite: $(sqlite3 --version | cut -d' ' -f1)"
	echo "settings: RATES='$RATES' DUR=$DUR INTERVAL=$INTERVAL REPS=$REPS SERVERS='$SERVERS' SP_DB_EXTRA='$SP_DB_EXTRA'"
} | tee "$RUN/machine.txt" >&2

# ---- servers ----------------------------------------------------------------

# srv_start KIND DIR: sets SRV_TPID SRV_PIDS (word list) SRV_PORT
srv_start() {
	local kind=$1 dir=$2 i
	mkdir -p "$dir"
	SRV_PORT=$(free_port) || die "no free port"
	case $kind in
	base|new|base@*|new@*)
		local extra=$SP_DB_EXTRA
		case $kind in *@*) extra="commit_delay = ${kind#*@}; $extra" ;; esac
		cat >"$dir/sippushd.conf" <<EOF
sip = { address = "127.0.0.1"; port = $SRV_PORT; udp = true; tcp = false; };
database = { path = "$dir/sippush.db"; synchronous = "full"; $extra };
heartbeat = { timeout = 0; };
# every simulated client comes from 127.0.0.1: no per-address limit
registration = { rate_per_source = 0; };
control = { socket = "$dir/ctl.sock"; };
log = { level = "notice"; };
EOF
		spawn "$dir/server.log" "$BIN/${kind%@*}/sippushd" -F -f "$dir/sippushd.conf"
		SRV_TPID=$LAST_PID
		SRV_PIDS=$(child_of "$SRV_TPID") || die "$kind did not start: $(tail -3 "$dir/server.log")"
		;;
	kamailio)
		kam_spawn "$dir" "$dir/server.log" "$SRV_PORT" 1
		SRV_TPID=$LAST_PID
		SRV_PIDS=$(child_of "$SRV_TPID") || die "kamailio did not start: $(tail -3 "$dir/server.log")"
		;;
	esac
	for ((i = 0; i < 50; i++)); do
		timeout 5 "$BIN/simclient" -s "127.0.0.1:$SRV_PORT" -n 1 -p probe \
		    -t 500 -q options >/dev/null 2>&1 && break
		alive "$SRV_TPID" || die "$kind died: $(tail -3 "$dir/server.log")"
		sleep 0.2
	done
	[ "$kind" = kamailio ] && SRV_PIDS="$SRV_PIDS $(pgrep -P "$SRV_PIDS" | tr '\n' ' ')"
	return 0
}

# ---- one measurement ----------------------------------------------------------

printf 'server\trate\trep\tsent\tok\tfail\ttimeout\telapsed\tcpu_s\tus_per_reg\tfdatasync\tfdatasync_per_s\tp50_ms\tp99_ms\n' >"$RAW"

# measure KIND RATE REP: one row of raw.tsv
measure() {
	local kind=$1 rate=$2 rep=$3 dir n c0 c1 fs fpid line sim i
	dir=$RUN/$kind-$rate-$rep
	n=$(calc "int($rate * $INTERVAL + 0.5)")
	srv_start "$kind" "$dir"
	# one simclient: the clients register (unpaced), wait a second, then
	# refresh from the same sockets and Call-IDs (Kamailio's max_contacts
	# = 1 refuses a second binding from another source)
	# sockets spread over 127.0.0.1..K: the ephemeral ports of one
	# address are shared with everything else on the machine
	spawn "$dir/sim.log" "$BIN/simclient" -s "127.0.0.1:$SRV_PORT" -n "$n" -p r \
	    --src-addrs $(((n + 3999) / 4000)) \
	    --window 200 --interval "$INTERVAL" register sleep:1.5 "reregister:$DUR"
	sim=$LAST_PID
	for ((i = 0; i < 1200; i++)); do
		grep -qs '^register:' "$dir/sim.log" && break
		alive "$sim" || break
		sleep 0.05
	done
	grep '^register:' "$dir/sim.log" | grep -q 'fail=0 timeout=0' ||
	    say "   $kind: the first registration had failures: $(grep '^register:' "$dir/sim.log")"
	sleep 0.3
	fs=$dir/fdatasync.txt
	spawn "$dir/perf.log" perf trace -s -e fdatasync -o "$fs" -p "$(echo $SRV_PIDS | tr ' ' ',')"
	fpid=$LAST_PID
	sleep 0.5
	c0=$(ticks $SRV_PIDS)
	wait "$sim" || true
	c1=$(ticks $SRV_PIDS)
	kill -INT "$(pgrep -P "$fpid" | head -1)" 2>/dev/null || true
	wait "$fpid" 2>/dev/null || true
	stop "$SRV_TPID"
	rm -f "$dir"/*.db "$dir"/*.db-*
	line=$(grep '^reregister:' "$dir/sim.log" || echo "reregister: (none)")
	awk -v kind="$kind" -v rate="$rate" -v rep="$rep" -v c="$((c1 - c0))" -v tick="$TICK" \
	    -v fsf="$fs" -v line="$line" 'BEGIN {
		n = split(line, f, " ")
		for (i = 2; i <= n; i++) { k = f[i]; sub(/=.*/, "", k); v = f[i]; sub(/^[^=]*=/, "", v); sub(/(ms|s|\/s)$/, "", v); x[k] = v }
		fds = 0
		while ((getline l < fsf) > 0) { split(l, g, " "); if (g[1] == "fdatasync") fds += g[2] }
		cpu = c / tick
		printf "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.2f\t%.1f\t%d\t%.0f\t%s\t%s\n", kind, rate, rep,
		    x["sent"], x["ok"], x["fail"], x["timeout"], x["elapsed"], cpu,
		    (x["ok"] > 0 ? cpu * 1e6 / x["ok"] : 0), fds, (x["elapsed"] > 0 ? fds / x["elapsed"] : 0),
		    x["p50"], x["p99"]
	}' | tee -a "$RAW" >&2
}

for rate in $RATES; do
	for ((rep = 1; rep <= REPS; rep++)); do
		for kind in $SERVERS; do
			say "rate $rate/s, round $rep: $kind (load $(cut -d' ' -f1 /proc/loadavg))"
			measure "$kind" "$rate" "$rep"
		done
	done
done

# ---- the table ----------------------------------------------------------------

awk -F'\t' -v servers="$SERVERS" '
function median(s, r, col,   k, m, a, i, j, t) {
	m = 0
	for (k = 1; k <= cnt[s, r]; k++) a[++m] = val[s, r, k, col]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return m ? (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2) : 0
}
NR == 1 || $5 + 0 == 0 { next }	# header; a round with nothing answered
{
	k = ++cnt[$1, $2]
	for (c = 4; c <= 14; c++) val[$1, $2, k, c] = $c + 0
	if (!($2 in seen)) { seen[$2] = 1; rates[++nr] = $2 }
}
END {
	ns = split(servers, sv, " ")
	printf "\nmedian of the rounds per server (all rounds: raw.tsv)\n\n"
	printf "| rate offered | server | answered/s | timeouts | CPU/REGISTER | fdatasync/s | REGISTERs per fdatasync | p50 | p99 |\n"
	printf "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
	for (i = 1; i <= nr; i++) {
		r = rates[i]
		for (j = 1; j <= ns; j++) {
			s = sv[j]
			if (!cnt[s, r]) continue
			us[s] = median(s, r, 10)
			el = median(s, r, 8); ok = median(s, r, 5); fd = median(s, r, 12)
			printf "| %d/s | %s | %.0f/s | %d | %.0f us | %.0f | %.1f | %.2f ms | %.2f ms |\n", r, s,
			    (el > 0 ? ok / el : 0), median(s, r, 7), us[s], fd, (fd > 0 ? (ok / el) / fd : 0),
			    median(s, r, 13), median(s, r, 14)
		}
		line = ""
		if (cnt["base", r] && us["new"] > 0) line = line sprintf("new/base CPU per REGISTER %.2f; ", us["new"] / us["base"])
		if (cnt["kamailio", r] && us["new"] > 0) line = line sprintf("Kamailio/new %.1fx; ", us["kamailio"] / us["new"])
		if (cnt["kamailio", r] && cnt["base", r] && us["base"] > 0) line = line sprintf("Kamailio/base %.1fx", us["kamailio"] / us["base"])
		if (line != "") printf "| %d/s | ratios | %s | | | | | | |\n", r, line
		delete us
	}
}' "$RAW" | tee "$RUN/table.md"
say "raw figures: $RAW"
