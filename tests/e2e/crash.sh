#!/usr/bin/env bash
# crash.sh -- a fan-out survives `kill -9' of sippushd (DESIGN.md,
# "Delivery semantics": once published, a crash or restart loses nothing;
# the dispatcher resumes where it stopped).
#
# UDP: 200 clients, 2 MESSAGEs in flight at most, 20 of the clients silent
# on their first reception (each holds a slot until the retransmission
# 0.5 s later), so the fan-out takes seconds.  Kill -9 in the middle,
# restart on the same database and port; every target must end acked,
# and the targets the database held as acked at the kill must not be sent
# again.
#
# TCP: the same with 80 clients over TCP.  Their connections die with the
# daemon; sippushd cannot reach them until they register again (new
# connections): in between they are offline and nothing is sent to them
# (sippushd opens no connection to a client: sippushd(8)); then they
# re-register and must get the message, again without re-sends to those
# acked before the kill.  A sippush-agent over TCP registers again by
# itself after the kill (new connection) and gets a message.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null 2>&1 ||
    fail "sqlite3 (the command-line shell) is missing: apt-get install sqlite3"

# ---- helpers -------------------------------------------------------------

finished() { ctl --json status "$1" | jq -e '.message.finished_at > 0' >/dev/null; }

# db SQL: query the database file directly (the daemon is dead).
db() { timeout 10 sqlite3 -batch -noheader "$T/sippush.db" "$1"; }

# receptions LOG MSGID: "client total ok" per client, receptions of MSGID.
receptions()
{
    awk -v id="$2" '$2 == id { n[$1]++; if ($3 == "200") ok[$1]++ }
        END { for (c in n) print c, n[c], ok[c] + 0 }' "$1" | sort
}

# crash_check TAG ID LOG_BEFORE LOG_AFTER... : compare the receptions of
# the clients acked in the database at the kill ($T/TAG.acked) before the
# restart and at the end.
crash_check()
{
    local tag=$1 id=$2 before=$3 bad
    shift 3
    receptions "$before" "$id" >"$T/$tag.rx.before"
    cat "$@" | receptions /dev/stdin "$id" >"$T/$tag.rx.after"
    # acked at the kill: exactly one 200, and nothing more after the restart
    bad=$(join "$T/$tag.acked" "$T/$tag.rx.after" | awk '$3 != 1 { print }')
    [ -z "$bad" ] || soft fail "$tag: clients acked before the kill with other than one 200 (client total ok): $bad"
    bad=$(join -a 1 "$T/$tag.acked" "$T/$tag.rx.before" |
        join - "$T/$tag.rx.after" | awk '$2 != $4 { print $1 ": " $2 " receptions before the restart, " $4 " in all" }')
    [ -z "$bad" ] || soft fail "$tag: clients acked before the kill got the message again after the restart: $bad"
    bad=$(awk '$3 < 1' "$T/$tag.rx.after")
    [ -z "$bad" ] || soft fail "$tag: clients without a 200 reception: $bad"
    echo "$tag: $(wc -l <"$T/$tag.acked") acked before the kill;" \
        "$(awk '$3 > 1' "$T/$tag.rx.after" | wc -l) clients answered 200 twice (at least once: acked in memory, not yet committed)"
}

# snapshot TAG ID: after the kill, the targets acked in the database.
snapshot()
{
    local tag=$1 id=$2 n
    db "SELECT client_id FROM targets WHERE message_id = '$id' AND state = 'acked' ORDER BY client_id" |
        sort >"$T/$tag.acked"
    db "SELECT client_id, state, attempts, acked_at FROM targets WHERE message_id = '$id' ORDER BY client_id" \
        >"$T/$tag.db.txt"
    n=$(wc -l <"$T/$tag.acked")
    [ "$n" -gt 0 ] || fail "$tag: nothing acked in the database at the kill"
    assert_eq 0 "$(db "SELECT count(*) FROM targets WHERE message_id = '$id' AND state NOT IN ('acked', 'pending')")" \
        "$tag: targets stored neither acked nor pending (in flight must be stored as pending)"
    assert_eq active "$(db "SELECT state FROM messages WHERE id = '$id'")" "$tag: message state in the database at the kill"
}

# ---------------------------------------------------------------------
step "start sippushd: 2 MESSAGEs in flight at most"
start_daemon 'heartbeat.timeout = 0' 'heartbeat.sweep_interval = 1' \
    'dispatch.max_in_flight = 2' 'dispatch.timeout = 1000' \
    'dispatch.retry_initial = 200' 'dispatch.retry_max = 1000' \
    'dispatch.retry_jitter = 20' 'log.level = "info"'
"$SIPPUSHD" -n -f "$CONF" | grep -q 'max_in_flight = 2;' ||
    fail "dispatch.max_in_flight = 2 did not reach the configuration"

step "UDP: 200 clients, publish"
sim_bg -q -p u -n 200 -c U --silent-first 1 --silent-share 10 --msglog "$T/u.log" register listen:55
wait_until 10 all_in_state 200 online --class U
ID=$(ctl publish --class U --ttl 60 'crash test (udp)')
assert_match "$ID" '^[0-9a-f]{16}$' "message ID"

step "kill -9 in the middle of the fan-out"
# acks are committed lazily (within 100 ms): wait until some are on disk
db_acked() { [ "$(db "SELECT count(*) FROM targets WHERE message_id = '$1' AND state = 'acked'")" -gt 0 ]; }
wait_until 15 eval 'ctl --json stats | jq -e ".acked_total >= 20 and .targets_pending >= 40" && db_acked "$ID"'
ctl --json stats | jq -c '{acked_total, targets_pending, in_flight}'
kill_daemon KILL
cp "$T/u.log" "$T/u.before.log"
snapshot udp "$ID"
echo "udp: $(wc -l <"$T/udp.acked") of 200 acked in the database at the kill"

step "restart on the same database and port"
restart_daemon
pending=$((200 - $(wc -l <"$T/udp.acked")))
wait_until 5 grep -q "resumed $ID: $pending of 200 targets pending" "$DAEMON_LOG"
wait_until 20 finished "$ID"
ctl --json status "$ID" >"$T/udp.status.json"
jq -e '.message | .state == "done" and .targets == 200 and .acked == 200' "$T/udp.status.json" >/dev/null ||
    fail "udp: not every target acked: $(jq -c .message "$T/udp.status.json")"
# the targets acked before the kill are untouched (attempts, acked_at)
bad=$(jq -r '.targets[] | "\(.client)|acked|\(.attempts)|\(.acked_at)"' "$T/udp.status.json" |
    sort -t '|' -k1,1 | join -t '|' -o 1.1,1.2,1.3,1.4,2.2,2.3,2.4 - <(grep '|acked|' "$T/udp.db.txt" | sort -t '|' -k1,1) |
    awk -F '|' '$3 != $6 || $4 != $7')
[ -z "$bad" ] || soft fail "udp: targets acked before the kill changed after the restart: $bad"
sleep 0.5      # a stray re-send would show in the logs
crash_check udp "$ID" "$T/u.before.log" "$T/u.log"
bad=$(awk -v id="$ID" '$2 != id' "$T/u.log" | head -n 3)
[ -z "$bad" ] || soft fail "udp: receptions with another message ID: $bad"

# ---------------------------------------------------------------------
step "TCP: 80 clients, publish"
# t0..t3 are silent on their first reception: over TCP there is no
# retransmission, each holds a slot until dispatch.timeout (1 s).
sim_bg -q -p t -n 80 -c T --tcp --silent-first 1 --silent-share 4 --msglog "$T/t.log" register listen:55
wait_until 10 all_in_state 80 online --class T
TID=$(ctl publish --class T --ttl 60 'crash test (tcp)')

step "kill -9 in the middle of the fan-out"
wait_until 10 eval 'ctl --json status "$TID" | jq -e ".message | .acked >= 5 and .pending + .sent >= 20" && db_acked "$TID"'
kill_daemon KILL
cp "$T/t.log" "$T/t.before.log"
snapshot tcp "$TID"
echo "tcp: $(wc -l <"$T/tcp.acked") of 80 acked in the database at the kill"

step "restart: the TCP clients' connections are gone"
restart_daemon
sleep 2
ctl --json clients --class T >"$T/tcp.clients.json"
ctl --json status "$TID" >"$T/tcp.status.mid.json"
echo "tcp, 2 s after the restart, before any client re-registers:" \
    "clients $(jq -c 'group_by(.state) | map({(.[0].state): length}) | add' "$T/tcp.clients.json")," \
    "message $(jq -c '.message | {acked, pending, sent, offline}' "$T/tcp.status.mid.json")," \
    "pending targets' last_status $(jq -c '[.targets[] | select(.state == "pending") | .last_status] | group_by(.) | map({(.[0] | tostring): length}) | add' "$T/tcp.status.mid.json")"
n=$(awk -v id="$TID" '$2 == id' "$T/t.log" | wc -l)
assert_eq "$(awk -v id="$TID" '$2 == id' "$T/t.before.log" | wc -l)" "$n" \
    "tcp: receptions on the old connections after the restart"
jq -e '.message.finished_at == 0' "$T/tcp.status.mid.json" >/dev/null ||
    fail "tcp: message finished without the clients: $(jq -c .message "$T/tcp.status.mid.json")"
jq -e 'length == 80 and all(.[]; .state == "offline")' "$T/tcp.clients.json" >/dev/null ||
    fail "tcp: restored TCP clients not all offline until they register again: $(jq -c 'group_by(.state) | map({(.[0].state): length}) | add' "$T/tcp.clients.json")"
# and no attempt since the kill: the counts are the database's
bad=$(jq -r '.targets[] | "\(.client)|\(.attempts)"' "$T/tcp.status.mid.json" | sort |
    join -t '|' - <(awk -F '|' '{ print $1 "|" $3 }' "$T/tcp.db.txt" | sort) | awk -F '|' '$2 != $3')
[ -z "$bad" ] || fail "tcp: attempts changed between the kill and the re-registration (client|now|at the kill): $bad"

step "the TCP clients register again (new connections): store and forward"
sim_bg -q -p t -n 80 -c T --tcp --msglog "$T/t2.log" register listen:30
wait_until 15 finished "$TID"
ctl --json status "$TID" >"$T/tcp.status.json"
jq -e '.message | .state == "done" and .targets == 80 and .acked == 80' "$T/tcp.status.json" >/dev/null ||
    fail "tcp: not every target acked: $(jq -c .message "$T/tcp.status.json")"
sleep 0.5
crash_check tcp "$TID" "$T/t.before.log" "$T/t.log" "$T/t2.log"

step "sippush-agent over TCP: after kill -9 it registers again by itself"
AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"
cat >"$T/ag.conf" <<EOF
server = { list = [ "127.0.0.1:$PORT" ]; heartbeat_interval = 1; timeout = 1000; };
client = { id = "ag"; class = "A"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/ag.seen"; };
hook = { command = "/bin/cat"; timeout = 10; };
EOF
start_agent ag --transport tcp
wait_until 10 eval '[ "$(client_field ag state)" = online ]'
port0=$(client_field ag port)
kill_daemon KILL
restart_daemon
# restored offline (its connection died); back online only by registering
# again, from a new connection
wait_until 10 eval '[ "$(client_field ag state)" = online ]'
assert_ne "$port0" "$(client_field ag port)" "source port of agent ag after it registered again"
AID=$(ctl publish --client ag --ttl 30 'after the crash')
wait_until 10 eval '[ "$(ctl --json status "$AID" | jq -r .targets[0].state)" = acked ]'
stop_agent ag

step "SIGTERM with TCP clients registered: a clean exit"
# (sippushd 0.1.0 dies of SIGSEGV here: at shutdown clients_free()
# releases the clients' TCP connection references after sip_shutdown()
# has destroyed the nta agent and its transports)
kill -TERM "$DAEMON_PID"
rc=0
wait_pid "$DAEMON_PID" 10 || rc=$?
DAEMON_PID=
[ "$rc" -eq 0 ] ||
    soft fail "sippushd exited with status $rc after SIGTERM (139 = SIGSEGV) with TCP clients in the table"

pass
