#!/usr/bin/env bash
# cluster_own.sh -- two sippushd nodes share one fleet on one PostgreSQL
# (sippushd(8) CLUSTER, "Ownership"): node a on 127.0.0.2, node b on
# 127.0.0.3, one throwaway server (tests/pg.sh).
#
#   - a publish on a reaches the agents registered with b (acked, owned
#     by b in the store), and status on either node shows it done;
#   - a client that b holds moves to a (its agent killed, started again
#     against a): a takes its pending message and delivers it, b forgets
#     it (the notification) and sends it nothing more;
#   - a cancel on b stops a's retries to a client that answers 500;
#   - the LISTEN connections cut: they connect again and poll, and a
#     publish still arrives;
#   - either node shows any client with the node holding it (client,
#     clients, GET /v1/clients);
#   - a user added on a authenticates on b (b reloads its users); deleted
#     on a, b ends its client's registration.
. "$(dirname "$0")/lib.sh"

PGSH=$top_srcdir/tests/pg.sh
AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"
command -v jq >/dev/null 2>&1 || fail "jq is missing"
command -v curl >/dev/null 2>&1 || fail "curl is missing"
command -v psql >/dev/null 2>&1 ||
    fail "psql is missing: apt-get install postgresql-client-15"

PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sippush-pg.XXXXXX")
trap '_pg_rc=$?; bash "$PGSH" clean "$PGDIR" >/dev/null 2>&1; (exit $_pg_rc); _cleanup' EXIT

q() { timeout 20 psql "$ADMIN dbname=sippush" -tA -c "$1"; }
ctl_a() { SOCK=$A_SOCK ctl "$@"; }
ctl_b() { SOCK=$B_SOCK ctl "$@"; }
# online_in SOCK ID: the node answering on SOCK holds ID, online (any
# node shows any client, with the node holding it)
online_in()
{
    local n=b
    [ "$1" = "$A_SOCK" ] && n=a
    [ "$(SOCK=$1 ctl --json client "$2" | jq -r '"\(.state)/\(.node)"')" = "online/$n" ]
}
# api PATH: GET it from a's HTTP API with the read token
api() { curl -s -m 20 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HPORT$1"; }
answers() { awk -v id="$2" '$2 == id' "$1" | wc -l; }
# rx_finished ID: the "finished" events about ID the receiver took (200)
rx_finished()
{
    [ -f "$T/rx.log" ] || return 0
    jq -c --arg id "$1" 'select(.status == 200) | .body | fromjson |
        select(.event == "finished" and .message_id == $id)' "$T/rx.log"
}

# agent_conf NAME SERVER: an agent of class G listing one server
agent_conf()
{
    cat >"$T/$1.conf" <<EOC
server = {
  list = [ "$2" ];
  heartbeat_interval = 1;
  timeout = 1000;
  retry_initial = 200;
  retry_max = 1000;
};
client = { id = "$1"; class = "G"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/$1.seen"; };
log = { level = "debug"; };
EOC
}

step "a throwaway PostgreSQL; nodes a (127.0.0.2) and b (127.0.0.3) on it"
ADMIN=$(bash "$PGSH" start "$PGDIR") || fail "tests/pg.sh could not start PostgreSQL"
timeout 20 psql "$ADMIN" -q -c "CREATE DATABASE sippush" || fail "CREATE DATABASE"
CONNINFO="host=127.0.0.1 port=$(cat "$PGDIR/port") user=postgres dbname=sippush"
# a webhook receiver that both nodes tell (webhooks.url)
rm -f "$T/rx.port"
bg_log "$T/rx.out" python3 "$top_srcdir/tests/e2e/webhook_receiver.py" \
    --port-file "$T/rx.port" --log "$T/rx.log" --max-time 240
wait_until 15 test -s "$T/rx.port"
RXPORT=$(cat "$T/rx.port")
COMMON=('database.backend = "postgresql"' "database.conninfo = \"$CONNINFO\""
    "database.passfile = \"$PGDIR/pgpass\"" 'log.level = "debug"'
    "webhooks.url = [\"http://127.0.0.1:$RXPORT/hook\"]"
    'heartbeat.timeout = 0' 'cluster.poll = 500'
    'dispatch.retry_initial = 500' 'dispatch.retry_max = 1000'
    'dispatch.retry_jitter = 0' 'dispatch.timeout = 1000')
HPORT=$(free_port)
start_daemon "${COMMON[@]}" 'sip.address = "127.0.0.2"' 'cluster.node = "a"' \
    'http.enable = true' "http.port = $HPORT"
A_PORT=$PORT A_SOCK=$SOCK A_LOG=$DAEMON_LOG A_PID=$DAEMON_PID
CONF=$T/b.conf SOCK=$SOCKDIR/b.sock DAEMON_LOG=$T/b.log DAEMON_PID=
start_daemon "${COMMON[@]}" 'sip.address = "127.0.0.3"' 'cluster.node = "b"'
B_PORT=$PORT B_SOCK=$SOCK B_CONF=$CONF B_LOG=$DAEMON_LOG B_PID=$DAEMON_PID
wait_until 10 grep -q "fleet: node a listening" "$A_LOG"
wait_until 10 grep -q "fleet: node b listening" "$B_LOG"

step "agents g1, g2 register with b"
agent_conf g1 "127.0.0.3:$B_PORT"
agent_conf g2 "127.0.0.3:$B_PORT"
start_agent g1
start_agent g2
wait_until 15 online_in "$B_SOCK" g1
wait_until 15 online_in "$B_SOCK" g2
assert_eq "b,b" "$(q "SELECT string_agg(owner, ',' ORDER BY id) FROM clients WHERE id IN ('g1', 'g2')")" "owner of g1, g2"
# a holds none of them: its table is its own clients
assert_eq 0 "$(ctl_a stats | awk '$1 == "clients" { print $2 }')" "clients held by a"

step "a shows the clients b holds, with their node"
assert_eq "online b" "$(ctl_a --json client g1 | jq -r '"\(.state) \(.node)"')" "g1 as a shows it"
assert_eq "b" "$(ctl_a --json clients | jq -r '.[] | select(.id == "g2") | .node')" "g2's node in a's listing"
ctl_a clients | head -1 | grep -q ' NODE$' || fail "no NODE column in a's listing"
assert_eq "b" "$(ctl_a clients | awk '$1 == "g1" { print $NF }')" "g1's NODE on a"
assert_status 1 ctl_a client nosuch
TOKEN=$(ctl_a token add viewer --scope read)
assert_eq "b" "$(api /v1/clients/g1 | jq -r .node)" "GET /v1/clients/g1 on a"
assert_eq "b b" "$(api /v1/clients | jq -r '[.clients[] | .node] | join(" ")')" "GET /v1/clients on a"

step "a publish on a reaches them"
ID=$(ctl_a publish --class G --ttl 120 'from a to b')
assert_match "$ID" '^[0-9a-f]{16}$' "message ID"
wait_until 15 grep -q "from a to b" "$T/g1.out"
wait_until 15 grep -q "from a to b" "$T/g2.out"
wait_until 10 eval '[ "$(q "SELECT count(*) FROM targets WHERE message_id = '"'$ID'"' AND state = '"'acked'"' AND owner = '"'b'"'")" -eq 2 ]'
# the fleet's truth on either node: done, 2 acked (decided in SQL once)
wait_until 10 eval '[ "$(ctl_a --json status "$ID" | jq -r .message.state)" = done ]'
assert_eq 2 "$(ctl_b --json status "$ID" | jq '[.targets[] | select(.state == "acked")] | length')" "acked, seen on b"
assert_eq 2 "$(ctl_a --json messages | jq --arg id "$ID" '.[] | select(.id == $id) | .counts.acked // .acked')" "acked in messages on a"
grep -q "dispatch: $ID finished" "$B_LOG" || grep -q "dispatch: $ID finished" "$A_LOG" ||
    fail "no node logged $ID finished"
assert_eq 1 "$(cat "$A_LOG" "$B_LOG" | grep -c "dispatch: $ID finished")" "nodes that found $ID finished"
# one "finished" event, with the fleet's counts
wait_until 10 eval '[ "$(rx_finished "$ID" | wc -l)" -ge 1 ]'
sleep 1
assert_eq 1 "$(rx_finished "$ID" | wc -l)" "finished events of $ID"
assert_eq "done 2 2" "$(rx_finished "$ID" | jq -r '"\(.state) \(.counts.targets) \(.counts.acked)"')" "its state and counts"

step "m1, held by b, dies with a message pending; it comes back on a, which delivers it"
agent_conf m1 "127.0.0.3:$B_PORT"
start_agent m1
wait_until 15 online_in "$B_SOCK" m1
kill -KILL "$PID_m1"; wait_pid "$PID_m1" 10 || true
ID2=$(ctl_a publish --client m1 --ttl 120 'follows m1')
assert_match "$ID2" '^[0-9a-f]{16}$' "message ID"
assert_eq b "$(q "SELECT owner FROM targets WHERE message_id = '$ID2'")" "owner of m1's target (m1 online at b)"
# b tries it (m1 is gone: no answer)
wait_until 10 grep -q "dispatch: $ID2 to m1" "$B_LOG"
agent_conf m1 "127.0.0.2:$A_PORT"
start_agent m1
wait_until 15 online_in "$A_SOCK" m1
wait_until 15 grep -q "follows m1" "$T/m1.out"
assert_eq "a" "$(q "SELECT owner FROM clients WHERE id = 'm1'")" "owner of m1"
wait_until 10 eval '[ "$(q "SELECT state || '"':'"' || owner FROM targets WHERE message_id = '"'$ID2'"'")" = acked:a ]'
wait_until 10 grep -q "m1 registered with another node: forgotten here" "$B_LOG"
wait_until 10 eval '! online_in "$B_SOCK" m1'
N=$(grep -c "dispatch: $ID2 to m1" "$B_LOG" || true)
sleep 2
assert_eq "$N" "$(grep -c "dispatch: $ID2 to m1" "$B_LOG" || true)" "b's attempts to m1 after a took it"

step "a cancel on b stops a's retries to a client that answers 500"
bg timeout 60 "$SIMCLIENT" -s "127.0.0.2:$A_PORT" -q -n 1 -p f -c F \
    --fail-first 100000 --msglog "$T/f.log" register listen:50
wait_until 10 online_in "$A_SOCK" f0
ID3=$(ctl_b publish --client f0 --ttl 120 'refused')
assert_match "$ID3" '^[0-9a-f]{16}$' "message ID"
wait_until 15 eval '[ "$(answers "$T/f.log" "$ID3")" -ge 2 ]'
OUT=$(ctl_b cancel "$ID3") || fail "cancel on b: $OUT"
assert_eq cancelled "$(ctl_a --json status "$ID3" | jq -r .message.state)" "state on a"
wait_until 10 grep -q "$ID3 cancelled: 1 targets of this node forgotten" "$A_LOG"
N=$(answers "$T/f.log" "$ID3")
sleep 3
assert_eq "$N" "$(answers "$T/f.log" "$ID3")" "receptions after the cancel"
assert_eq cancelled "$(q "SELECT state FROM targets WHERE message_id = '$ID3'")" "target in PostgreSQL"

step "b's LISTEN connection cut: a publish on a still reaches b's clients"
q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sippushd-listen'" >/dev/null
ID4=$(ctl_a publish --class G --ttl 120 'after the cut')
assert_match "$ID4" '^[0-9a-f]{16}$' "message ID"
wait_until 15 grep -q "after the cut" "$T/g1.out"
wait_until 15 grep -q "after the cut" "$T/g2.out"
wait_until 10 grep -q "listening again" "$B_LOG"

step "a user added on a authenticates on b"
stop_daemon
DAEMON_PID=
write_config "$B_CONF" "${COMMON[@]}" 'sip.address = "127.0.0.3"' \
    'cluster.node = "b"' 'auth.enabled = true'
CONF=$B_CONF restart_daemon
B_PID=$DAEMON_PID
sim_b() { timeout 60 "$SIMCLIENT" -s "127.0.0.3:$B_PORT" "$@"; }
sim_b -q -n 1 -p u -c U --password 'u0-password-1' --expect 403 register ||
    fail "REGISTER of an unknown user at b: expected 403"
assert_status 0 ctl_a user add u0 <<<"u0-password-1"
wait_until 10 grep -q "fleet: users and tokens reloaded" "$B_LOG"
sim_b -q -n 1 -p u -c U --password 'u0-password-1' register ||
    fail "REGISTER at b of the user added on a"
assert_eq online "$(ctl_b --json client u0 | jq -r .state)" "u0 at b"

step "the user deleted on a: b ends u0's registration"
assert_status 0 ctl_a user del u0
wait_until 10 eval '[ "$(ctl_b --json client u0 | jq -r .state)" = unregistered ]'
wait_until 10 grep -q "auth: user u0 deleted on another node, its registration ended" "$B_LOG"
wait_until 10 eval '[ "$(q "SELECT state FROM clients WHERE id = '"'u0'"'")" = unregistered ]'
assert_eq "unregistered b" "$(ctl_a --json client u0 | jq -r '"\(.state) \(.node)"')" "u0 as a shows it"

stop_agent g1
stop_agent g2
stop_agent m1
stop_daemon
DAEMON_PID=$A_PID
stop_daemon
pass
