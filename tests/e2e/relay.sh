#!/usr/bin/env bash
# relay.sh -- client-to-client requests through sippushd (issue 14).
#
#   who    class  how                 role
#   k1     kiosk  agent, UDP, hook    answers "k1 heard BODY from SENDER"
#   tv1    tv     agent, TCP only     the same; its only flow to the server
#                                     is the connection it opened
#   ks     kiosk  sippush-agent --send  asks tv1
#   ts     tv     sippush-agent --send  asks k1
#   p1     panel  sippush-agent --send  no rule lets panel send: 403
#
# Then: a target unknown (404), registered but offline (480), silent
# (408 after relay.timeout); a forged Sippush-From-Id is overwritten;
# store and forward (202 and a message ID) across the target's restart;
# with auth.enabled, a sender claiming another ID is refused.
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
DC=$top_builddir/tests/digestclient
[ -x "$AGENT" ] || fail "$AGENT is not built"

# agent_conf NAME CLASS TRANSPORT [PASSWORD]
agent_conf()
{
    cat >"$T/$1.conf" <<EOF
server = {
  list = [ "127.0.0.1:$PORT" ];
  transport = "$3";
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
    [ -z "${4:-}" ] || printf 'auth = { password = "%s"; };\n' "$4" >>"$T/$1.conf"
}

relay_hook


online() { [ "$(client_field "$1" state)" = online ]; }
offline() { [ "$(client_field "$1" state)" = offline ]; }
daemon_tcp_conns()
{
    ss -Htnp state established 2>/dev/null | grep -c "pid=$DAEMON_PID," || true
}

start_daemon 'relay.enabled = true' 'relay.timeout = 2000' \
    'relay.rules = [ "kiosk -> tv", "tv -> kiosk" ]' 'relay.rate = 0' \
    'heartbeat.timeout = 3'

for a in "k1 kiosk udp" "tv1 tv tcp" "ks kiosk udp" "ts tv udp" \
    "p1 panel udp" "k3 kiosk udp"; do
    agent_conf $a
done

step "two agents, k1 over UDP and tv1 over TCP, register"
start_agent k1
start_agent tv1
wait_until 15 online k1
wait_until 15 online tv1
assert_eq tcp "$(client_field tv1 transport)" "transport of tv1"

step "a kiosk asks tv1 (TCP: the server answers on tv1's own connection)"
conns=$(daemon_tcp_conns)
[ "$conns" -ge 1 ] || fail "ss shows no TCP connection of the daemon's"
send ks tv1 "hello tv"
assert_eq 0 "$RC" "exit status of --send to tv1 ($ERR)"
assert_eq "tv1 heard hello tv from ks (kiosk)" "$OUT" "tv1's answer"
assert_contains "$ERR" "200" "status printed"
assert_eq "$conns" "$(daemon_tcp_conns)" \
    "the daemon's TCP connections (it opened none to tv1)"

step "a tv asks k1 (UDP): the body comes back"
send ts k1 "hello kiosk"
assert_eq 0 "$RC" "exit status of --send to k1 ($ERR)"
assert_eq "k1 heard hello kiosk from ts (tv)" "$OUT" "k1's answer"

step "the hook fails: its status and output come back"
send ts k1 "fail now"
assert_eq 3 "$RC" "exit status of --send for a failing hook"
assert_contains "$ERR" "500" "status"
assert_eq "cannot do fail now" "$OUT" "the hook's output"

step "auth off: a MESSAGE from where the claimed sender did not register: 403"
# with auth off a sender is who registered from the request's source:
# one that sends from elsewhere is refused (with auth on, below, the
# header is overwritten with the authenticated ID)
out=$(timeout 20 "$DC" -s "127.0.0.1:$PORT" -i dcx -m REGISTER -n)
assert_eq 200 "$out" "REGISTER as dcx"
out=$(timeout 20 "$DC" -s "127.0.0.1:$PORT" -i dcx -m MESSAGE -t k1 -n \
    -H "Sippush-From-Id: admin")
assert_eq 403 "$out" "MESSAGE from dcx, not from where it registered"
grep -q "heard .* from admin" "$T/k1.log" "$T/k1.out" 2>/dev/null &&
    fail "k1 saw the forged sender"

step "no rule lets a panel send: 403 with a reason"
send p1 tv1 "let me in"
assert_eq 3 "$RC" "exit status of --send from a panel"
assert_contains "$ERR" "403 Relay Not Allowed: panel -> tv" "reason"

step "a target nobody registered: 404"
send ks nosuch "anyone?"
assert_eq 3 "$RC" "exit status for an unknown target"
assert_contains "$ERR" "404" "status"

step "a target that stopped heartbeats: offline, 480"
start_agent k3
wait_until 15 online k3
kill -KILL "$PID_k3"
wait_pid "$PID_k3" 5 || true
wait_until 15 offline k3
send ts k3 "are you there?"
assert_eq 3 "$RC" "exit status for an offline target"
assert_contains "$ERR" "480" "status"

step "a silent target: 408 after relay.timeout (2 s)"
t0=$(date +%s.%N)
send ks tv1 "sleep please"
dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", (b - a) * 10 }')
assert_eq 3 "$RC" "exit status for a silent target"
assert_contains "$ERR" "408" "status"
[ "$dt" -lt 60 ] || fail "the 408 took $((dt / 10)) s, relay.timeout is 2 s"

step "store and forward: 202 and a message ID, delivered after tv1 restarts"
stop_agent tv1
send ks tv1 "remember me" --store
assert_eq 0 "$RC" "exit status of --send --store ($ERR)"
assert_contains "$ERR" "202" "status"
M=$(grep -o 'message [0-9a-f]\{16\}' <<<"$ERR" | cut -d' ' -f2)
assert_match "$M" '^[0-9a-f]{16}$' "message ID"
assert_eq pending "$(ctl --json status "$M" | jq -r '.targets[0].state')" \
    "target state before tv1 is back"
start_agent tv1
wait_until 20 eval "[ \"\$(ctl --json status $M | jq -r '.targets[0].state')\" = acked ]"
assert_contains "$(cat "$T/control")" "tv1|$M|remember me" "tv1's hook got it"

step "relay counters in sippushctl stats"
st=$(ctl --json stats)
assert_eq 1 "$(jq .relay_stored <<<"$st")" "relay_stored"
assert_eq 4 "$(jq .relay_forwarded <<<"$st")" "relay_forwarded (tv1, k1 twice, the silent one)"
[ "$(jq .relay_refused <<<"$st")" -ge 4 ] || fail "relay_refused: $(jq .relay_refused <<<"$st")"

stop_agent k1
stop_agent tv1
stop_daemon

# ---- with authentication ---------------------------------------------------
step "auth.enabled: a sender authenticates as itself"
start_daemon 'relay.enabled = true' 'relay.timeout = 2000' \
    'relay.rules = [ "* -> *" ]' 'auth.enabled = true' 'heartbeat.timeout = 30'
assert_status 0 ctl user add k1 <<<"k1-password"
assert_status 0 ctl user add ks <<<"ks-password"
assert_status 0 ctl user add mallory <<<"mallory-pw1"
agent_conf k1 kiosk udp k1-password
agent_conf ks kiosk udp ks-password
start_agent k1
wait_until 15 online k1
send ks k1 "signed"
assert_eq 0 "$RC" "exit status of an authenticated --send ($ERR)"
assert_eq "k1 heard signed from ks (kiosk)" "$OUT" "k1's answer"

step "a sender claiming another ID (mallory's credentials, From ks): refused"
out=$(timeout 20 "$DC" -s "127.0.0.1:$PORT" -i mallory -p mallory-pw1 -m REGISTER)
assert_eq "401 200" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')" "mallory registers"
out=$(timeout 20 "$DC" -s "127.0.0.1:$PORT" -i ks -u mallory -p mallory-pw1 \
    -m MESSAGE -t k1)
assert_eq "401 403" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')" \
    "MESSAGE From ks with mallory's credentials"
before=$(grep -c "client: request from ks," "$T/k1.log" || true)
out=$(timeout 20 "$DC" -s "127.0.0.1:$PORT" -i mallory -p mallory-pw1 \
    -m MESSAGE -t k1 -H "Sippush-From-Id: ks")
assert_eq "401 200" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')" \
    "MESSAGE as mallory with a forged Sippush-From-Id"
wait_until 5 grep -q "request from mallory" "$T/k1.log"
assert_eq "$before" "$(grep -c "client: request from ks," "$T/k1.log" || true)" \
    "requests k1 took as from ks (the forged header must not count)"

step "a request that passed through this server already: 482"
out=$(timeout 20 "$DC" -s "127.0.0.1:$PORT" -i mallory -p mallory-pw1 \
    -m MESSAGE -t k1 -H "Via: SIP/2.0/UDP 127.0.0.1:$PORT;branch=z9hG4bKloop1")
assert_eq "401 482" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')" "MESSAGE with our own Via"

stop_agent k1
stop_daemon
pass
