#!/usr/bin/env bash
# storefault.sh -- the disk fills up under a running sippushd (security
# issue: "at run time a failed commit is logged, the request answered
# with a 5xx, and nothing acknowledged is lost"); a publish over HTTP is
# answered 503 (issue 13).
#
# No root and no special file system needed: `prlimit --pid' lowers the
# daemon's RLIMIT_FSIZE to what its files hold, so every write that
# would grow the database's WAL fails (sippushd ignores SIGXFSZ; SQLite
# reports a failed write), then raises it again.  While writes fail:
# acknowledgements received stay in memory and are not reported as
# stored, REGISTERs get 500, publish fails with a clear error, the fault
# is logged once, the daemon stays up.  When room is back: the daemon
# logs its recovery, writes what it kept, and a restart finds it all.
. "$(dirname "$0")/lib.sh"

command -v prlimit >/dev/null 2>&1 ||
    { echo "SKIP: $TEST_NAME: prlimit (util-linux) is missing"; exit 77; }
command -v sqlite3 >/dev/null 2>&1 ||
    fail "sqlite3 (the command-line shell) is missing: apt-get install sqlite3"

db() { timeout 10 sqlite3 -batch -noheader "$T/sippush.db" "$1"; }
stat_field() { ctl --json stats | jq -r ".$1"; }
status_field() { ctl --json status "$1" | jq -r ".message.$2"; }
# 200s in a --msglog
acks() { awk -v id="$2" '$2 == id && $3 == "200"' "$1" | wc -l; }
answers() { awk -v id="$2" '$2 == id && $3 == "'"$3"'"' "$1" | wc -l; }

# ---------------------------------------------------------------------
step "start sippushd; 20 clients of class A, a message to them"
# the clients answer the first reception 500: the retry, 3 s later, is
# acknowledged while the disk is "full"
HPORT=$(free_port)
start_daemon 'log.level = "info"' 'heartbeat.timeout = 0' \
    'dispatch.retry_initial = 3000' 'dispatch.retry_jitter = 0' \
    'http.enable = true' "http.port = $HPORT"
TOKEN=$(ctl token add app --scope publish,read)
sim_bg -q -n 20 -p a -c A --fail-first 1 --msglog "$T/a.log" register listen:50
wait_until 10 all_in_state 20 online --class A
ID=$(ctl publish --class A --ttl 120 'before the fault')
assert_match "$ID" '^[0-9a-f]{16}$' "message ID"
wait_until 5 eval '[ "$(answers "$T/a.log" "$ID" 500)" -eq 20 ]'
sleep 0.5       # the targets' first attempts are written (lazily)

step "no room: the daemon's files may not grow any more"
wal=$(stat -c %s "$T/sippush.db-wal")
dbsize=$(stat -c %s "$T/sippush.db")
logsize=$(stat -c %s "$DAEMON_LOG")
limit=$(( wal > dbsize ? wal : dbsize ))
# the log must still be written: it has to be well under the limit
[ $((logsize + 16384)) -lt "$limit" ] ||
    fail "the daemon's log ($logsize bytes) is too close to the limit ($limit)"
hard=$(prlimit --pid "$DAEMON_PID" --fsize --raw --noheadings -o HARD)
prlimit --pid "$DAEMON_PID" --fsize="$limit:" ||
    fail "prlimit --pid $DAEMON_PID --fsize=$limit: failed"
echo "RLIMIT_FSIZE of sippushd: $limit bytes (WAL $wal, database $dbsize)"

step "the retries are acknowledged: in memory, not reported as stored"
wait_until 10 eval '[ "$(acks "$T/a.log" "$ID")" -eq 20 ]'
wait_until 5 eval '[ "$(stat_field store_failing_since)" -gt 0 ]'
assert_eq 20 "$(stat_field acked_total)" "acknowledgements received"
# status reads the store: nothing is acked there yet
assert_eq 0 "$(status_field "$ID" acked)" "targets acked in the store while writes fail"
assert_eq 0 "$(db "SELECT count(*) FROM targets WHERE message_id = '$ID' AND state = 'acked'")" \
    "acked targets in the database file"

step "a REGISTER gets 500 (Store Failure), the daemon stays up"
sim -q -n 5 -p b -c B --expect 500 register || fail "REGISTER while the disk is full: expected 500"
kill -0 "$DAEMON_PID" || fail "sippushd died"

step "publish fails, plainly"
assert_status 2 ctl publish --class A 'during the fault'
assert_contains "$OUT" "not published" "sippushctl publish while the disk is full"
assert_contains "$OUT" "cannot write its database" "sippushctl publish while the disk is full"
if command -v curl >/dev/null; then
    hs=$(curl -s -m 20 -o "$T/http.body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data-binary '{"classes":["A"],"body":"x"}' \
        "http://127.0.0.1:$HPORT/v1/messages" || true)
    assert_eq 503 "$hs" "POST /v1/messages while the disk is full: $(cat "$T/http.body")"
    jq -e '(.error | test("cannot write its database")) and .code == "unavailable"' \
        "$T/http.body" >/dev/null || fail "the 503's error object: $(cat "$T/http.body")"
    hs=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/readyz" || true)
    assert_eq 503 "$hs" "GET /readyz while the disk is full"
fi

step "the fault is logged once, not once per failed write"
sleep 2         # two more retries
failed=$(stat_field store_failed_writes)
[ "$failed" -ge 4 ] || fail "store_failed_writes: expected at least 4, got $failed"
assert_eq 1 "$(grep -c 'store: .*: cannot write: ' "$DAEMON_LOG")" "lines reporting the fault"
assert_contains "$(grep 'cannot write: ' "$DAEMON_LOG")" "ulimit -f" "the fault's line"
assert_not_contains "$(cat "$DAEMON_LOG")" "not an error" "daemon log"

step "room again: the daemon recovers by itself"
prlimit --pid "$DAEMON_PID" --fsize="$hard:" || fail "prlimit --fsize=$hard: failed"
wait_until 5 grep -q "store: .*: writes succeed again after" "$DAEMON_LOG"
assert_eq 0 "$(stat_field store_failing_since)" "store_failing_since after the recovery"
wait_until 5 eval '[ "$(status_field "$ID" acked)" -eq 20 ]'
assert_eq done "$(status_field "$ID" state)" "message state"
sim -q -n 2 -p c -c C register || fail "REGISTER after the recovery: expected 200"
ID2=$(ctl publish --class C 'after the fault')
assert_match "$ID2" '^[0-9a-f]{16}$' "message ID after the recovery"

step "a restart finds everything acknowledged or registered"
stop_daemon
assert_eq 20 "$(db "SELECT count(*) FROM targets WHERE message_id = '$ID' AND state = 'acked'")" \
    "acked targets in the database"
assert_eq done "$(db "SELECT state FROM messages WHERE id = '$ID'")" "message state in the database"
# the REGISTERs answered 500 were kept and written too (the clients will
# register again after Retry-After; no harm either way)
assert_eq "20 5 2" "$(db "SELECT group_concat(n, ' ') FROM (SELECT class, count(*) AS n FROM clients GROUP BY class ORDER BY class)")" \
    "clients by class (A B C) in the database"
restart_daemon
assert_eq 27 "$(stat_field clients)" "clients after the restart"
assert_eq 20 "$(status_field "$ID" acked)" "acked targets after the restart"
stop_daemon

# ---------------------------------------------------------------------
# A real full file system (ENOSPC, SQLITE_FULL): needs root for a tmpfs.
small=$T/small
mkdir "$small"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=200k,mode=0755 tmpfs "$small" 2>/dev/null; then
    echo "SKIP (this part only): a tiny tmpfs needs root (mount -t tmpfs)"
    pass
fi
trap '_rc=$?; umount "$small" 2>/dev/null; (exit $_rc); _cleanup' EXIT

step "a 200 KiB tmpfs: REGISTERs until it is full"
start_daemon 'log.level = "info"' "database.path = \"$small/sippush.db\""
full=
for i in $(seq 0 99); do
    if ! sim -q -n 20 -p "f${i}_" -c F register >/dev/null 2>&1; then
        full=$i
        break
    fi
done
[ -n "$full" ] || fail "the tmpfs did not fill up with 2000 clients"
echo "full at batch $full: $(df -k "$small" | tail -n 1)"
wait_until 5 grep -q "store: $small/sippush.db: cannot write: database or disk is full; free space on its file system" "$DAEMON_LOG"
sim -q -n 1 -p g -c F --expect 500 register || fail "REGISTER on a full file system: expected 500"

step "room again: recovery, and every client of the table is in the database"
mount -o remount,size=4m "$small" || fail "remount with 4 MiB failed"
wait_until 5 eval '[ "$(stat_field store_failing_since)" -eq 0 ]'
n=$(stat_field clients)
stop_daemon
assert_eq "$n" "$(timeout 10 sqlite3 -batch -noheader "$small/sippush.db" 'SELECT count(*) FROM clients')" \
    "clients in the database after the recovery"
pass
