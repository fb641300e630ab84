#!/usr/bin/env bash
# cluster_relay.sh -- client-to-client requests across the nodes of a
# cluster (sippushd(8) RELAY, "Across nodes"): two nodes on one
# throwaway PostgreSQL, kiosk k1 registered with n1, tv t1 with n2.
#
#   - k1 --send t1 (through n1): n1 finds t1's node in the database and
#     relays the request there; t1's hook answer comes back to k1
#   - the rules are checked with the target's class from the database
#   - a request carrying Sippush-Node from an address that is no node's:
#     403 "Not From A Node" (a client cannot pose as a node)
#   - an unknown target: 404; t1 stopped: 480; --store: 202, and t1 gets
#     it when it registers again
. "$(dirname "$0")/lib.sh"

PGSH=$top_srcdir/tests/pg.sh
AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built"
command -v psql >/dev/null 2>&1 ||
    fail "psql is missing: apt-get install postgresql-client-15"

declare -A NPID=() NADDR=([1]=127.0.0.2 [2]=127.0.0.3)
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sippush-pg.XXXXXX")
# the nodes stop before the server they use
trap '_pg_rc=$?; for p in "${NPID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    bash "$PGSH" clean "$PGDIR" >/dev/null 2>&1; (exit $_pg_rc); _cleanup' EXIT

nctl() { SIPPUSH_SOCKET=$SOCKDIR/n$1.sock timeout 20 "$SIPPUSHCTL" "${@:2}"; }
# held_by N ID: node nN holds ID, online (any node shows any client)
held_by() { [ "$(nctl "$1" --json client "$2" 2>/dev/null | jq -r '"\(.state)/\(.node)"')" = "online/n$1" ]; }

node_start()
{
    local i=$1
    PORT=$NPORT CONF=$T/n$i.conf SOCK=$SOCKDIR/n$i.sock DAEMON_LOG=$T/n$i.log
    DAEMON_PID=
    write_config "$CONF" "sip.address = \"${NADDR[$i]}\"" "${PGOPTS[@]}" \
        "cluster.node = \"n$i\"" 'cluster.lease = 3' 'cluster.poll = 300' \
        'log.level = "debug"' 'heartbeat.timeout = 3' \
        'relay.enabled = true' 'relay.timeout = 3000' \
        'relay.rules = [ "kiosk -> tv" ]'
    _launch || fail "node n$i could not start"
    NPID[$i]=$DAEMON_PID
}

# agent_conf NAME CLASS NODE
agent_conf()
{
    cat >"$T/$1.conf" <<EOF
server = {
  list = [ "${NADDR[$3]}:$NPORT" ];
  heartbeat_interval = 1;
  timeout = 2000;
  retry_initial = 200;
  retry_max = 1000;
};
client = { id = "$1"; class = "$2"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/$1.seen"; answer_timeout = 6000; };
hook = { command = "$T/hook.sh"; timeout = 20; };
log = { level = "debug"; };
EOF
}

relay_hook


# ---------------------------------------------------------------------
step "a throwaway PostgreSQL; nodes n1 and n2 with the relay on"
ADMIN=$(bash "$PGSH" start "$PGDIR") || fail "tests/pg.sh could not start PostgreSQL"
timeout 20 psql "$ADMIN" -q -c "CREATE DATABASE sippush" || fail "CREATE DATABASE"
CONNINFO="host=127.0.0.1 port=$(cat "$PGDIR/port") user=postgres dbname=sippush"
PGOPTS=('database.backend = "postgresql"' "database.conninfo = \"$CONNINFO\""
    "database.passfile = \"$PGDIR/pgpass\"")
NPORT=$(free_port)
node_start 1
node_start 2

step "k1 (kiosk) on n1, t1 (tv) and k2 (kiosk) on n2"
agent_conf k1 kiosk 1; start_agent k1
agent_conf t1 tv 2; start_agent t1
agent_conf k2 kiosk 2; start_agent k2
wait_until 15 held_by 1 k1
wait_until 15 held_by 2 t1
wait_until 15 held_by 2 k2
# n1 must know n2 as a live node, n2 know n1 (their lists, each renewal)
wait_until 10 eval '[ "$(nctl 1 --json nodes | jq "[.[] | select(.state == \"up\")] | length")" = 2 ]'
sleep 1.2

step "k1 -> t1 through n1: relayed to n2, t1's answer comes back"
send k1 t1 "power on"
assert_eq 0 "$RC" "exit status of --send k1 -> t1 ($ERR)"
assert_eq "t1 heard power on from k1 (kiosk)" "$OUT" "t1's answer"
grep -q "relay: MESSAGE k1 -> t1: held by node n2" "$T/n1.log" ||
    fail "n1's log does not say t1 is held by n2"

step "the rules use the target's class from the database: t1 -> k1 refused"
send t1 k1 "hello"
assert_ne 0 "$RC" "exit status of --send t1 -> k1"
assert_contains "$ERR$OUT" "403" "t1 -> k1 (no rule tv -> kiosk)"
send k2 k1 "kiosk to kiosk"
assert_contains "$ERR$OUT" "Relay Not Allowed: kiosk -> kiosk" "k2 -> k1"

step "a client posing as a node: 403 Not From A Node"
OUT=$(timeout 10 python3 - "${NADDR[2]}" "$NPORT" <<'EOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
req = ("MESSAGE sip:t1@%s:%d SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKspoof1\r\n"
       "From: <sip:k9@%s>;tag=x1\r\nTo: <sip:t1@%s>\r\n"
       "Call-ID: spoof1@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
       "Sippush-Node: n1\r\nSippush-From-Id: k9\r\n"
       "Sippush-From-Class: kiosk\r\nContent-Type: text/plain\r\n"
       "Content-Length: 5\r\n\r\nhello") % (host, port, lp, host, host)
s.settimeout(5)
s.sendto(req.encode(), (host, port))
while True:
    data = s.recv(65536).decode(errors="replace")
    line = data.split("\r\n", 1)[0]
    if not line.startswith("SIP/2.0 1"):
        print(line)
        break
EOF
)
assert_eq "SIP/2.0 403 Not From A Node" "$OUT" "a spoofed node's request"
[ ! -s "$T/control" ] || fail "t1 got something from the spoofed request"

step "an unknown target: 404; t1 stopped: 480; --store: 202, delivered later"
send k1 nobody "x"
assert_contains "$ERR$OUT" "404" "k1 -> nobody"
stop_agent t1
wait_until 15 eval '[ "$(nctl 1 --json client t1 2>/dev/null | jq -r .state)" != online ] && [ "$(psql "$ADMIN dbname=sippush" -tA -c "SELECT state FROM clients WHERE id = '"'t1'"'")" != online ]'
send k1 t1 "are you there"
assert_contains "$ERR$OUT" "480" "k1 -> t1 offline"
send k1 t1 "remember me" --store
assert_eq 0 "$RC" "exit status of --send --store ($ERR)"
start_agent t1
wait_until 20 eval 'grep -q "^t1|.*|remember me$" "$T/control"'

step "the nodes stop"
for a in k1 t1 k2; do stop_agent "$a"; done
DAEMON_PID=${NPID[2]}; stop_daemon
DAEMON_PID=${NPID[1]}; stop_daemon

pass
