#!/usr/bin/env bash
# cluster_nodes.sh -- the nodes of a cluster on one PostgreSQL (made by
# tests/pg.sh): two sippushd, n1 on 127.0.0.2 (cluster.redirect on) and
# n2 on 127.0.0.3, lease 3 s; sippush-agent clients with server lists.
#
#   - `sippushctl nodes` on either node lists both, up, epoch 1, with
#     their online clients; a restart takes the next epoch
#   - `sippushctl drain n2` (run on n1): n2 answers REGISTER and
#     heartbeats 503 "Node Draining" with Retry-After, its clients move to
#     n1; `drain n2 --off` serves again; an unknown node is an error
#   - cluster.redirect: n1, holding more clients than n2, answers a new
#     client's REGISTER with 302 to n2, where it registers
#   - SIGSTOP n2 past its lease: n1 marks it down; SIGCONT: n2 finds
#     itself fenced, sends nothing, joins again with the next epoch
#   - with SQLite, `sippushctl nodes` and `drain` fail with a clear error
. "$(dirname "$0")/lib.sh"

PGSH=$top_srcdir/tests/pg.sh
AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"
command -v jq >/dev/null 2>&1 || fail "jq is missing"
command -v psql >/dev/null 2>&1 ||
    fail "psql is missing: apt-get install postgresql-client-15"

declare -A NPID=() NADDR=()
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sippush-pg.XXXXXX")
# the nodes stop before the server they use
trap '_pg_rc=$?; for p in "${NPID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    bash "$PGSH" clean "$PGDIR" >/dev/null 2>&1; (exit $_pg_rc); _cleanup' EXIT

q() { timeout 20 psql "$ADMIN dbname=sippush" -tA -c "$1"; }
# nctl N ARGS...: sippushctl on node N
nctl() { SIPPUSH_SOCKET=$SOCKDIR/n$1.sock timeout 20 "$SIPPUSHCTL" "${@:2}"; }
node_field() { nctl "$1" --json nodes | jq -r ".[] | select(.node == \"$2\") | .$3"; }
# state_on N ID: node nN holds ID, online (any node shows any client)
state_on() { [ "$(nctl "$1" --json client "$2" 2>/dev/null | jq -r '"\(.state)/\(.node)"')" = "online/n$1" ]; }


NADDR[1]=127.0.0.2 NADDR[2]=127.0.0.3

# node_start N [OPTION = VALUE...]: node N on ${NADDR[N]}:$NPORT
node_start()
{
    local i=$1
    shift
    PORT=$NPORT CONF=$T/n$i.conf SOCK=$SOCKDIR/n$i.sock DAEMON_LOG=$T/n$i.log
    DAEMON_PID=
    write_config "$CONF" "sip.address = \"${NADDR[$i]}\"" "${PGOPTS[@]}" \
        "cluster.node = \"n$i\"" 'cluster.lease = 3' 'cluster.poll = 300' \
        'log.level = "info"' 'heartbeat.timeout = 3' "$@"
    _launch || fail "node n$i could not start"
    NPID[$i]=$DAEMON_PID
}

agent_conf()
{
    local name=$1 list="" s
    shift
    for s in "$@"; do list+="${list:+, }\"$s:$NPORT\""; done
    cat >"$T/$name.conf" <<EOC
server = {
  list = [ $list ];
  heartbeat_interval = 1;
  timeout = 1000;
  retry_initial = 200;
  retry_max = 1000;
  failback_interval = 2;
};
client = { id = "$name"; class = "k"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/$name.seen"; };
log = { level = "info"; };
EOC
}

# ---------------------------------------------------------------------
step "a throwaway PostgreSQL; two nodes n1 (redirect on) and n2"
ADMIN=$(bash "$PGSH" start "$PGDIR") || fail "tests/pg.sh could not start PostgreSQL"
timeout 20 psql "$ADMIN" -q -c "CREATE DATABASE sippush" || fail "CREATE DATABASE"
CONNINFO="host=127.0.0.1 port=$(cat "$PGDIR/port") user=postgres dbname=sippush"
PGOPTS=('database.backend = "postgresql"' "database.conninfo = \"$CONNINFO\""
    "database.passfile = \"$PGDIR/pgpass\"")
NPORT=$(free_port)
node_start 1 'cluster.redirect = true'
node_start 2
grep -q "cluster: node n1 (127.0.0.2:$NPORT) joined, epoch 1" "$T/n1.log" ||
    fail "no 'joined, epoch 1' in n1's log"

step "sippushctl nodes on either node: both up, epoch 1, this node marked"
OUT=$(nctl 1 nodes)
echo "$OUT"
assert_match "$(echo "$OUT" | head -n 1)" '^NODE +STATE +EPOCH +ADDRESS +LEASE +CLIENTS' "header"
assert_match "$OUT" "n1\\* +up +1 +127.0.0.2:$NPORT" "n1's row on n1"
assert_match "$OUT" "n2 +up +1 +127.0.0.3:$NPORT" "n2's row on n1"
assert_eq 2 "$(nctl 2 --json nodes | jq length)" "nodes seen from n2"
assert_eq yes "$(node_field 2 n2 self)" "n2 is self on n2"
assert_eq 1 "$(q "SELECT epoch FROM nodes WHERE name = 'n2'")" "n2's epoch in PostgreSQL"

step "a restart of n2 takes the next epoch"
DAEMON_PID=${NPID[2]}; stop_daemon
node_start 2
assert_eq 2 "$(node_field 1 n2 epoch)" "n2's epoch after its restart"
assert_eq up "$(node_field 1 n2 state)" "n2's state after its restart"

step "three agents on n2 (their list: n2, n1); nodes counts them"
for a in a1 a2 a3; do
    agent_conf "$a" "${NADDR[2]}" "${NADDR[1]}"
    start_agent "$a"
done
for a in a1 a2 a3; do wait_until 15 state_on 2 "$a"; done
wait_until 10 eval '[ "$(node_field 1 n2 clients)" = 3 ]'

step "drain n2 from n1: its clients get 503 and move to n1"
OUT=$(nctl 1 drain n2)
assert_contains "$OUT" "node n2: draining" "drain's output"
wait_until 10 eval '[ "$(node_field 1 n2 state)" = draining ]'
wait_until 10 grep -q "cluster: node n2 draining" "$T/n2.log"
for a in a1 a2 a3; do wait_until 20 state_on 1 "$a"; done
grep -q "503 Node Draining" "$T/a1.log" ||
    fail "a1's log shows no '503 Node Draining' from n2"
# the heartbeat's Retry-After keeps it off n2 (libsippush)
grep -q "${NADDR[2]}:$NPORT: 503 with Retry-After 300: not trying it again" "$T/a1.log" ||
    fail "a1's log shows no hold of n2 after the heartbeat's 503"
# a REGISTER to the draining node: 503 with a Retry-After
OUT=$(timeout 10 "$SIMCLIENT" -s "${NADDR[2]}:$NPORT" -q -n 1 -p d -c k \
    --expect 503 register 2>&1) || fail "REGISTER on draining n2: expected 503: $OUT"
OUT=$(nctl 1 drain n2 --off)
assert_contains "$OUT" "node n2: up" "drain --off's output"
wait_until 10 eval '[ "$(node_field 2 n2 state)" = up ]'
wait_until 10 grep -q "cluster: node n2 serving again" "$T/n2.log"
rc=0; OUT=$(nctl 1 drain nope 2>&1) || rc=$?
assert_ne 0 "$rc" "exit status of drain of an unknown node"
assert_contains "$OUT" "no node nope" "drain of an unknown node"
rc=0; OUT=$(nctl 1 drain 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of drain without a node"

step "cluster.redirect: n1 (3 clients) sends a new client to n2 (none)"
wait_until 10 eval '[ "$(node_field 1 n1 clients)" = 3 ]'
wait_until 10 eval '[ "$(node_field 1 n2 clients)" = 0 ]'
sleep 1.5      # n1's own view of the counts, at its next renewal
agent_conf a4 "${NADDR[1]}" "${NADDR[1]}"
start_agent a4
wait_until 15 state_on 2 a4
grep -q "registrar: a4 redirected to 127.0.0.3:$NPORT" "$T/n1.log" ||
    fail "no redirect of a4 in n1's log"
grep -q "redirects us (302)" "$T/a4.log" || fail "a4's log shows no 302"

step "SIGSTOP n2 past its lease: n1 marks it down; SIGCONT: fenced, joins again"
E=$(node_field 1 n2 epoch)
kill -STOP "${NPID[2]}"
wait_until 15 eval '[ "$(node_field 1 n2 state)" = down ]'
grep -q "cluster: node n2 lease lapsed: marked down" "$T/n1.log" ||
    fail "no 'marked down' in n1's log"
kill -CONT "${NPID[2]}"
wait_until 15 grep -q "cluster: node n2 epoch $E fenced" "$T/n2.log"
wait_until 15 grep -q "cluster: node n2 joined again, epoch $((E + 1))" "$T/n2.log"
wait_until 10 eval '[ "$(node_field 1 n2 state)" = up ]'
assert_eq $((E + 1)) "$(node_field 1 n2 epoch)" "n2's epoch after the fence"
# the stopped node's clients went elsewhere meanwhile
wait_until 20 state_on 1 a4
kill -0 "${NPID[2]}" || fail "n2 died"

step "the nodes stop cleanly"
for a in a1 a2 a3 a4; do stop_agent "$a"; done
DAEMON_PID=${NPID[2]}; stop_daemon
DAEMON_PID=${NPID[1]}; stop_daemon

step "with SQLite: nodes and drain say this is a single node"
SOCK=$SOCKDIR/lite.sock DAEMON_LOG=$T/lite.log
start_daemon
rc=0; OUT=$(ctl nodes 2>&1) || rc=$?
assert_ne 0 "$rc" "exit status of nodes with SQLite"
assert_contains "$OUT" "single node" "nodes with SQLite"
rc=0; OUT=$(ctl drain n1 2>&1) || rc=$?
assert_ne 0 "$rc" "exit status of drain with SQLite"
assert_contains "$OUT" "single node" "drain with SQLite"
stop_daemon

pass
