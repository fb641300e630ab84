#!/usr/bin/env bash
# thirdparty.sh -- SIP user agents the project did not write: sip-options
# (sofia-sip-bin) gets 200 from the daemon over UDP and TCP, and baresip
# (baresip-core) registers -- with no class, so it gets the default one --
# shows up online, and unregisters when it is stopped.
. "$(dirname "$0")/lib.sh"

for tool in sip-options baresip; do
    command -v "$tool" >/dev/null 2>&1 ||
        fail "$tool is not installed (scripts/install-deps.sh installs sofia-sip-bin and baresip-core)"
done

# baresip sends no OPTIONS heartbeats: a long timeout keeps it online.
start_daemon 'heartbeat.timeout = 120' 'registration.default_class = "thirdparty"'

# ---------------------------------------------------------------------
step "sip-options (Sofia-SIP's own tool) gets 200 over UDP"
assert_status 0 timeout 15 sip-options "sip:127.0.0.1:$PORT"
assert_match "$OUT" '^SIP/2\.0 200 OK' "sip-options over UDP"
assert_contains "$OUT" "Server: sippushd/" "sip-options over UDP"
assert_contains "$OUT" "Allow: REGISTER, OPTIONS" "sip-options over UDP"

step "sip-options gets 200 over TCP"
assert_status 0 timeout 15 sip-options "sip:127.0.0.1:$PORT;transport=tcp"
assert_match "$OUT" '^SIP/2\.0 200 OK' "sip-options over TCP"

step "sip-options as a client that is not registered changes nothing"
assert_status 0 timeout 15 sip-options --from="sip:optclient@127.0.0.1" "sip:127.0.0.1:$PORT"
assert_match "$OUT" '^SIP/2\.0 200 OK' "sip-options --from"
assert_status 1 ctl client optclient
assert_eq 0 "$(ctl --json stats | jq .clients)" "stats: clients after sip-options"

# ---------------------------------------------------------------------
step "baresip registers over UDP and TCP (headless, no audio)"
start_baresip 45 \
    "<sip:baresip1@127.0.0.1:$PORT;transport=udp>;regint=60;mwi=no;pubint=0;answermode=manual" \
    "<sip:baresip2@127.0.0.1:$PORT;transport=tcp>;regint=60;mwi=no;pubint=0;answermode=manual"
baresip_pid=$BARESIP_PID
bport=$BARESIP_PORT
wait_until 15 eval '[ "$(ctl --json clients | jq "[.[] | select(.state == \"online\")] | length")" = 2 ]'
# and baresip got its 200s (its Contact over TCP is ~125 bytes long)
wait_until 5 grep -q "baresip1@127.0.0.1: {0/UDP/v4} 200 OK" "$T/baresip.log"
soft wait_until 5 grep -q "baresip2@127.0.0.1: {0/TCP/v4} 200 OK" "$T/baresip.log"

step "sippushctl client baresip1: online, default class, baresip's address"
c1=$(ctl --json client baresip1)
echo "$c1" | jq .
assert_eq online "$(jq -r .state <<<"$c1")" "state of baresip1"
assert_eq thirdparty "$(jq -r .class <<<"$c1")" "class of baresip1 (the configured default)"
assert_eq udp "$(jq -r .transport <<<"$c1")" "transport of baresip1"
assert_eq 127.0.0.1 "$(jq -r .address <<<"$c1")" "address of baresip1"
assert_eq "$bport" "$(jq -r .port <<<"$c1")" "source port of baresip1 (its sip_listen port)"
assert_match "$(jq -r .user_agent <<<"$c1")" '^baresip' "user agent of baresip1"
assert_eq 60 "$(jq '.expires_at - .registered_at' <<<"$c1")" "granted expiry of baresip1"
plain=$(ctl client baresip1)
assert_match "$plain" '^state +online$' "sippushctl client baresip1"
assert_match "$plain" '^class +thirdparty$' "sippushctl client baresip1"

c2=$(ctl --json client baresip2)
assert_eq online "$(jq -r .state <<<"$c2")" "state of baresip2"
assert_eq thirdparty "$(jq -r .class <<<"$c2")" "class of baresip2"
assert_eq tcp "$(jq -r .transport <<<"$c2")" "transport of baresip2"
assert_contains "$(ctl clients --class thirdparty)" "baresip2" "clients --class thirdparty"

step "baresip stops on SIGTERM and unregisters (Expires: 0)"
kill -TERM "$baresip_pid"
# baresip waits for the answers to its un-REGISTERs before it exits
for ((i = 0; i < 100; i++)); do _pid_done "$baresip_pid" && break; sleep 0.1; done
if ! _pid_done "$baresip_pid"; then
    soft fail "baresip did not stop within 10 s of SIGTERM (waiting for an answer from sippushd?)"
    _stop_pid "$baresip_pid" KILL 5
fi
wait_pid "$baresip_pid" 5 || true
wait_until 5 state_is baresip1 unregistered
soft wait_until 5 state_is baresip2 unregistered
assert_eq 0 "$(ctl --json stats | jq .online)" "stats: online after baresip stopped"

stop_daemon
pass
