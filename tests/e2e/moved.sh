#!/usr/bin/env bash
# moved.sh -- a UDP client registers from another port while a MESSAGE
# to its old port is in flight: an answer from the old port is not the
# client's (any process may hold that port once the client left it,
# e.g. a client restarted after a crash: agent_crash.sh), so it does not
# count as delivered; the MESSAGE is sent again to the new port.
#
#   process  registers  answers                          expected
#   old      m0, port P  the 4th copy of the MESSAGE     not recorded
#                        (after 3.5 s), 200
#   new      m0, port Q  at once, 202                    acked, 202,
#                                                        2 attempts
. "$(dirname "$0")/lib.sh"

target_field() { ctl --json status "$1" | jq -r ".targets[0].$2"; }
acked() { [ "$(target_field "$1" state)" = acked ]; }
online() { [ "$(client_field "$1" state)" = online ]; }
# copies LOG ID: how many copies of message ID the simclient logged
copies() { awk -v id="$2" '$2 == id' "$1" 2>/dev/null | wc -l; }

step "start sippushd (MESSAGE transactions live 20 s) and m0 on port P"
# no offline by silence: on a loaded machine the old process's late 200
# (about 3.5 s after the send) raced the heartbeat sweep, which parked the
# retry with m0 offline and the target never acked
start_daemon 'dispatch.timeout = 20000' 'dispatch.retry_jitter = 0' \
    'heartbeat.timeout = 0'
sim_bg -q -p m -n 1 --silent-first 3 --msglog "$T/old.log" register listen:40
wait_until 15 online m0
P=$(client_field m0 port)

step "publish to m0; the old process gets it and stays silent"
ctl --json publish --client m0 'moved' >"$T/pub" || fail "publish to m0"
MSG=$(jq -r .id "$T/pub")
wait_until 10 test "$(copies "$T/old.log" "$MSG")" -ge 1

step "m0 registers from port Q before the old process answers"
sim_bg -q -p m -n 1 --answer 202 --msglog "$T/new.log" register listen:40
moved() { [ "$(client_field m0 port)" != "$P" ]; }
wait_until 10 moved
[ "$(copies "$T/old.log" "$MSG")" -lt 4 ] ||
    fail "the old process answered before m0 registered again (the test needs the order)"

step "the 200 from port P is not taken; the MESSAGE goes to Q: 202"
wait_until 30 acked "$MSG" || fail "$MSG was never acked"
assert_eq 202 "$(target_field "$MSG" last_status)" "last_status of $MSG"
assert_eq 2 "$(target_field "$MSG" attempts)" "attempts of $MSG"
assert_eq 1 "$(copies "$T/new.log" "$MSG")" "copies of $MSG at port Q"
assert_match "$(awk -v id="$MSG" '$2 == id' "$T/old.log" | tail -n 1)" \
    "^m0 $MSG 200 " "the old process's last copy of $MSG"
assert_contains "$(cat "$DAEMON_LOG")" "$MSG to m0: 200 from the address it was sent to, which the client has left since"

pass
