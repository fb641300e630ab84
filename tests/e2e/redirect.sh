#!/usr/bin/env bash
# redirect.sh -- libsippush (through sippush-agent) follows a 302 to a
# REGISTER, and keeps off a server that answered 503 with Retry-After.
#
#   agent  servers                       fake answers           expected
#   rd1    fake F1                       302, Contact: D        registered on D
#   sv1    fake F2, then D; failback 1 s 503, Retry-After: 30   registered on D at
#                                                               once; F2 gets one
#                                                               REGISTER and nothing
#                                                               else for 30 s (we
#                                                               watch 8 s)
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"
FAKEREG=$top_srcdir/tests/e2e/fakereg.py

agent_conf()
{
    local name=$1 list="" s
    shift
    for s in "$@"; do list+="${list:+, }\"$s\""; done
    cat >"$T/$name.conf" <<EOC
server = {
  list = [ $list ];
  heartbeat_interval = 1;
  timeout = 1000;
  retry_initial = 200;
  retry_max = 1000;
  failback_interval = 1;
};
client = { id = "$name"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/$name.seen"; };
log = { level = "debug"; };
EOC
}
online() { [ "$(client_field "$1" state)" = online ]; }
count() { grep -c " $2 " "$1" 2>/dev/null || true; }

start_daemon
D=127.0.0.1:$PORT

step "302: the agent registers where the Contact points"
F1=$(free_port)
bg_log "$T/f1.out" timeout 60 python3 "$FAKEREG" --port "$F1" --status 302 \
    --contact "sip:127.0.0.1:1" --contact "sip:$D;q=0.9" --log "$T/f1.log"
# q absent means 1.0: 127.0.0.1:1 (nothing there) is tried first and
# fails, then $D (q 0.9).
wait_until 10 grep -q READY "$T/f1.log"
agent_conf rd1 "127.0.0.1:$F1"
start_agent rd1
wait_until 20 online rd1
assert_contains "$(cat "$T/rd1.log")" "redirects us (302): trying 127.0.0.1:1, $D"
assert_contains "$(cat "$T/rd1.log")" "registered with $D"
[ "$(count "$T/f1.log" REGISTER)" -ge 1 ] || fail "the fake got no REGISTER"
stop_agent rd1

step "503 Retry-After: 30: the agent moves on at once and keeps off"
F2=$(free_port)
bg_log "$T/f2.out" timeout 60 python3 "$FAKEREG" --port "$F2" --status 503 \
    --retry-after 30 --log "$T/f2.log"
wait_until 10 grep -q READY "$T/f2.log"
agent_conf sv1 "127.0.0.1:$F2" "$D"
start_agent sv1
wait_until 10 online sv1
t0=$(date +%s)
sleep 8
assert_eq 1 "$(count "$T/f2.log" REGISTER)" "REGISTERs the 503 server got"
assert_eq 0 "$(count "$T/f2.log" OPTIONS)" "OPTIONS the 503 server got"
assert_contains "$(cat "$T/sv1.log")" "Retry-After"
online sv1 || fail "sv1 is no longer online on $D"
stop_agent sv1
pass
