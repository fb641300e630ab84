#!/usr/bin/env bash
# srv.sh -- libsippush (through sippush-agent) finds its servers by DNS
# SRV (RFC 3263) when a server is listed as a domain.
#
#   a test DNS server (dnsd.py) on 127.0.0.1 answers for push.test:
#     _sip._udp.push.test  SRV 1 10 P1 a.push.test ; SRV 2 10 P2 b.push.test
#     a.push.test A 127.0.0.2 ; b.push.test A 127.0.0.3
#   sippushd A on 127.0.0.2:P1, B on 127.0.0.3:P2; the agent lists
#   "push.test" and reads a resolv.conf naming the test DNS server.
#
#   expected: registered with A (priority 1); A killed (after the answers'
#   TTL of 1 s): the agent asks the DNS again, goes on after A, registers
#   with B (priority 2); a message from B reaches it.
#   A name without SRV records (c.push.test, A only): port 5060 is used.
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"
DNSD=$top_srcdir/tests/e2e/dnsd.py

online_in() { [ "$(SOCK=$1 client_field "$2" state)" = online ]; }

step "two sippushd: A on 127.0.0.2, B on 127.0.0.3"
start_daemon 'sip.address = "127.0.0.2"'
A_PORT=$PORT A_SOCK=$SOCK A_CONF=$CONF A_LOG=$DAEMON_LOG A_PID=$DAEMON_PID
CONF=$T/b.conf SOCK=$SOCKDIR/b.sock DAEMON_LOG=$T/b.log DAEMON_PID=
start_daemon 'sip.address = "127.0.0.3"' "database.path = \"$T/b.db\""
B_PORT=$PORT B_SOCK=$SOCK

step "the test DNS server and the agent"
DNS_PORT=$(free_port)
bg_log "$T/dnsd.out" timeout 90 python3 "$DNSD" --port "$DNS_PORT" \
    --log "$T/dns.log" --ttl 1 \
    --srv "_sip._udp.push.test:1:10:$A_PORT:a.push.test" \
    --srv "_sip._udp.push.test:2:10:$B_PORT:b.push.test" \
    --a "a.push.test:127.0.0.2" --a "b.push.test:127.0.0.3" \
    --a "c.push.test:127.0.0.3"
wait_until 10 grep -q READY "$T/dns.log"
printf 'nameserver 127.0.0.1\nport %s\noptions timeout:1 attempts:2\n' \
    "$DNS_PORT" >"$T/resolv.conf"
cat >"$T/s1.conf" <<EOC
server = {
  list = [ "push.test" ];
  resolv_conf = "$T/resolv.conf";
  heartbeat_interval = 1;
  timeout = 1000;
  retry_initial = 200;
  retry_max = 1000;
};
client = { id = "s1"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/s1.seen"; };
log = { level = "debug"; };
EOC
assert_status 0 "$AGENT" -n -f "$T/s1.conf"
assert_contains "$OUT" "resolv_conf = \"$T/resolv.conf\";"
start_agent s1
wait_until 15 online_in "$A_SOCK" s1
assert_contains "$(cat "$T/s1.log")" "push.test resolves to 127.0.0.2:$A_PORT, 127.0.0.3:$B_PORT (TTL 1 s)"
grep -q " 33 _sip._udp.push.test" "$T/dns.log" || fail "no SRV query seen"

step "A killed: the agent moves to B, the next SRV target"
sleep 1.5
kill -KILL "$A_PID"; wait_pid "$A_PID" 10 || true
wait_until 20 online_in "$B_SOCK" s1
assert_contains "$(cat "$T/s1.log")" "TTL over, resolving push.test again"
[ "$(grep -c " 33 _sip._udp.push.test" "$T/dns.log")" -ge 2 ] ||
    fail "the SRV records were not asked for again after their TTL"
OUT=$(SOCK=$B_SOCK ctl --json publish --client s1 --wait "via B") ||
    fail "publish through B: $OUT"
wait_until 10 grep -q "via B" "$T/s1.out"
assert_contains "$(cat "$T/s1.out")" "push.test (127.0.0.3:$B_PORT)"
stop_agent s1

step "a name without SRV records: its own address, port 5060"
sed -e 's/"push.test"/"c.push.test"/' -e 's/id = "s1"/id = "s2"/' \
    -e "s|s1.seen|s2.seen|" "$T/s1.conf" >"$T/s2.conf"
start_agent s2
wait_until 15 grep -q "c.push.test resolves to 127.0.0.3:5060" "$T/s2.log"
stop_agent s2
pass
