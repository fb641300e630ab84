#!/usr/bin/env bash
# thirdparty_message.sh -- a SIP user agent the project did not write
# receives control messages: baresip (baresip-core, headless) registers
# over UDP and over TCP (no class: it gets the default one) and answers
# each MESSAGE with 200, which sippushd takes as the acknowledgement.
. "$(dirname "$0")/lib.sh"

# baresip sends no OPTIONS heartbeats: a long timeout keeps it online.
start_daemon 'heartbeat.timeout = 120' 'registration.default_class = "thirdparty"'

step "baresip registers over UDP and TCP (headless, no audio)"
start_baresip 45 \
    "<sip:bsip1@127.0.0.1:$PORT;transport=udp>;regint=60;mwi=no;pubint=0;answermode=manual" \
    "<sip:bsip2@127.0.0.1:$PORT;transport=tcp>;regint=60;mwi=no;pubint=0;answermode=manual"
wait_until 15 all_in_state 2 online --class thirdparty
assert_eq udp "$(client_field bsip1 transport)" "transport of bsip1"
assert_eq tcp "$(client_field bsip2 transport)" "transport of bsip2"

step "a control message to class thirdparty: both acknowledge (--wait exits 0)"
assert_status 0 ctl --json publish --class thirdparty --wait 'reload config=v7'
M=$(jq -r .id <<<"${OUT%%$'\n'*}")
assert_match "$M" '^[0-9a-f]{16}$' "message ID"
st=$(ctl --json status "$M")
assert_eq 2 "$(jq '[.targets[] | select(.state == "acked" and .last_status == 200)] | length' <<<"$st")" \
    "targets acked with 200"
assert_eq 1,1 "$(jq -r '[.targets[].attempts] | map(tostring) | join(",")' <<<"$st")" "attempts"

step "baresip stops on SIGTERM"
stop_baresip

stop_daemon
pass
