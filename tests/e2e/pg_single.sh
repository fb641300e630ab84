#!/usr/bin/env bash
# pg_single.sh -- one sippushd on PostgreSQL (database.backend =
# "postgresql"), on a throwaway server made by tests/pg.sh.
#
# Clients register, a publish reaches them all, a restart of sippushd
# keeps the message, its targets and the clients. Then the server dies
# under the daemon (pg_ctl stop -m immediate) while acknowledgements
# come in: a REGISTER is answered 503, a publish fails with a clear
# error, the daemon stays up; the server comes back (same port): the
# writer connects again by itself, what was acknowledged meanwhile is
# written, and a restart finds it. Last, a start with the server down
# fails with a clear message naming the conninfo, its password masked,
# and exit status 1.
. "$(dirname "$0")/lib.sh"

PGSH=$top_srcdir/tests/pg.sh
command -v jq >/dev/null 2>&1 || fail "jq is missing"
command -v psql >/dev/null 2>&1 ||
    fail "psql is missing: apt-get install postgresql-client-15"

# the server's folder: under /tmp (its user must reach it; its socket
# path must be short), removed at the end whatever happens
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sippush-pg.XXXXXX")
trap '_pg_rc=$?; bash "$PGSH" clean "$PGDIR" >/dev/null 2>&1; (exit $_pg_rc); _cleanup' EXIT

acks() { awk -v id="$2" '$2 == id && $3 == "200"' "$1" | wc -l; }
answers() { awk -v id="$2" '$2 == id && $3 == "'"$3"'"' "$1" | wc -l; }
status_field() { ctl --json status "$1" | jq -r ".message.$2"; }
q() { timeout 20 psql "$ADMIN dbname=sippush" -tA -c "$1"; }

# ---------------------------------------------------------------------
step "a throwaway PostgreSQL; a database for sippushd"
ADMIN=$(bash "$PGSH" start "$PGDIR") || fail "tests/pg.sh could not start PostgreSQL"
echo "server: $ADMIN"
timeout 20 psql "$ADMIN" -q -c "CREATE DATABASE sippush" || fail "CREATE DATABASE"
PGPORT_=$(cat "$PGDIR/port")
PASSWORD=$(cut -d: -f5 "$PGDIR/pgpass")
[ -n "$PASSWORD" ] || fail "no password in $PGDIR/pgpass"
# the conninfo names no password: database.passfile gives it
CONNINFO="host=127.0.0.1 port=$PGPORT_ user=postgres dbname=sippush"
PGOPTS=('database.backend = "postgresql"' "database.conninfo = \"$CONNINFO\""
    "database.passfile = \"$PGDIR/pgpass\"")

step "sippushd on PostgreSQL; 20 clients register"
start_daemon "${PGOPTS[@]}" 'log.level = "info"' 'heartbeat.timeout = 0' \
    'dispatch.retry_initial = 3000' 'dispatch.retry_jitter = 0'
# the newest migration of sql/postgresql/ is the version reached
NEWEST=$(ls "$top_srcdir"/sql/postgresql/[0-9][0-9][0-9]_*.sql | tail -n 1)
NEWEST=$(basename "$NEWEST"); NEWEST=$((10#${NEWEST%%_*}))
grep -q "store: postgresql .*connected, schema version $NEWEST" "$DAEMON_LOG" ||
    fail "no 'connected, schema version $NEWEST' in the daemon's log"
assert_eq "$NEWEST" "$(q 'SELECT max(version) FROM schema_version')" "schema version in PostgreSQL"
sim_bg -q -n 20 -p a -c A --fail-first 1 --msglog "$T/a.log" register listen:55
SIM_A=$BG_PID
wait_until 10 all_in_state 20 online --class A
assert_eq 20 "$(q "SELECT count(*) FROM clients WHERE state = 'online'")" "clients online in PostgreSQL"

step "a publish reaches all 20 (each answers its first reception 500)"
ID=$(ctl publish --class A --ttl 300 'hello postgresql')
assert_match "$ID" '^[0-9a-f]{16}$' "message ID"
wait_until 20 eval '[ "$(acks "$T/a.log" "$ID")" -eq 20 ]'
wait_until 10 eval '[ "$(status_field "$ID" state)" = done ]'
assert_eq 20 "$(q "SELECT count(*) FROM targets WHERE message_id = '$ID' AND state = 'acked'")" "acked targets in PostgreSQL"

step "a restart of sippushd keeps the message, its targets and the clients"
stop_daemon
restart_daemon
assert_eq done "$(status_field "$ID" state)" "message state after the restart"
assert_eq 20 "$(ctl --json status "$ID" | jq '[.targets[] | select(.state == "acked")] | length')" "acked targets after the restart"
assert_eq 20 "$(ctl --json clients --class A | jq length)" "clients after the restart"
assert_eq "hello postgresql" "$(q "SELECT convert_from(body, 'UTF8') FROM messages WHERE id = '$ID'")" "body in PostgreSQL"

step "PostgreSQL dies (stop -m immediate) while a message is being acknowledged"
ID2=$(ctl publish --class A --ttl 300 'across the outage')
assert_match "$ID2" '^[0-9a-f]{16}$' "message ID"
# first receptions answered 500; the retries (3 s later) come during
# the outage and are acknowledged then
wait_until 10 eval '[ "$(answers "$T/a.log" "$ID2" 500)" -eq 20 ]'
sleep 0.5       # the publish and the first attempts are written
bash "$PGSH" stop "$PGDIR" immediate
wait_until 15 eval '[ "$(acks "$T/a.log" "$ID2")" -eq 20 ]'
sim -q -n 2 -p d -c D --expect 503 register ||
    fail "REGISTER while PostgreSQL is down: expected 503"
OUT=$(ctl publish --class A 'while down' 2>&1) && fail "publish while PostgreSQL is down succeeded: $OUT"
assert_contains "$OUT" "cannot write its database" "publish error"
assert_contains "$OUT" "PostgreSQL running" "publish error"
grep -q "store: postgresql .*cannot write: .*503" "$DAEMON_LOG" ||
    fail "no store fault logged (with the 503) in the daemon's log"
kill -0 "$DAEMON_PID" || fail "sippushd died with PostgreSQL"

step "PostgreSQL comes back: the writer connects again by itself"
bash "$PGSH" start "$PGDIR" >/dev/null || fail "PostgreSQL did not start again"
wait_until 15 sim -q -n 2 -p d -c D register
wait_until 10 eval 'grep -q "writes succeed again" "$DAEMON_LOG"'
# acknowledged during the outage, kept in memory, written now
wait_until 10 eval '[ "$(q "SELECT count(*) FROM targets WHERE message_id = '"'$ID2'"' AND state = '"'acked'"'")" -eq 20 ]'
ID3=$(ctl publish --client d0 --ttl 300 'after the outage')
assert_match "$ID3" '^[0-9a-f]{16}$' "publish after the outage"

step "a restart finds everything: both messages acked by all, clients a and d"
stop_daemon
restart_daemon
assert_eq done "$(status_field "$ID2" state)" "message across the outage after the restart"
assert_eq 20 "$(ctl --json status "$ID2" | jq '[.targets[] | select(.state == "acked")] | length')" "acked across the outage"
assert_eq 20 "$(ctl --json status "$ID" | jq '[.targets[] | select(.state == "acked")] | length')" "acked before the outage"
assert_eq 2 "$(ctl --json clients --class D | jq length)" "clients registered after the outage"
assert_eq 1 "$(ctl --json status "$ID3" | jq '.targets | length')" "message after the outage"
stop_daemon
wait_pid "$SIM_A" 60 || true

step "a start with PostgreSQL down: a clear message, exit status 1, no password"
bash "$PGSH" stop "$PGDIR" immediate
sed "s|$CONNINFO|$CONNINFO password=$PASSWORD|" "$CONF" >"$T/down.conf"
grep -q "password=$PASSWORD" "$T/down.conf" || fail "no password put in $T/down.conf"
rc=0
OUT=$(timeout 30 "$SIPPUSHD" -F -f "$T/down.conf" 2>&1) || rc=$?
assert_eq 1 "$rc" "exit status of sippushd with PostgreSQL down"
assert_contains "$OUT" "postgresql " "start error"
assert_contains "$OUT" "host=127.0.0.1" "start error"
assert_contains "$OUT" "port=$PGPORT_" "start error"
assert_contains "$OUT" "password=********" "start error"
assert_contains "$OUT" "cannot connect" "start error"
assert_not_contains "$OUT" "$PASSWORD" "start error"
OUT=$("$SIPPUSHD" -n -f "$T/down.conf" 2>&1) || fail "sippushd -n: $OUT"
assert_contains "$OUT" "password=********" "sippushd -n"
assert_not_contains "$OUT" "$PASSWORD" "sippushd -n"
assert_not_contains "$(cat "$DAEMON_LOG")" "$PASSWORD" "the daemon's log"

pass
