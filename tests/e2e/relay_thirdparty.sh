#!/usr/bin/env bash
# relay_thirdparty.sh -- a SIP user agent the project did not write sends
# a client-to-client request: baresip (baresip-core, headless) registers
# as bsip and sends a MESSAGE to sip:k1@server; sippushd relays it to the
# agent k1, whose hook answers, and baresip gets the 200 with k1's body.
# baresip is driven without a terminal through its ctrl_tcp module (a
# netstring JSON command, "message" to the current contact: k1), and
# prints the SIP it sends and receives (-s).
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built"
command -v baresip >/dev/null 2>&1 ||
    fail "baresip is not installed (scripts/install-deps.sh installs baresip-core)"

# baresip sends no OPTIONS heartbeats: a long timeout keeps it online.
start_daemon 'heartbeat.timeout = 120' 'relay.enabled = true' \
    'relay.rules = [ "thirdparty -> kiosk" ]' \
    'registration.default_class = "thirdparty"'

cat >"$T/k1.conf" <<EOF
server = { list = [ "127.0.0.1:$PORT" ]; heartbeat_interval = 2; };
client = { id = "k1"; class = "kiosk"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/k1.seen"; };
hook = { command = "echo \"\$SIPPUSH_CLIENT_ID heard \$(cat) from \$SIPPUSH_FROM\""; };
log = { level = "debug"; };
EOF
start_agent k1
wait_until 15 state_is k1 online

step "baresip registers as bsip over UDP (class: the default, thirdparty)"
B=$T/baresip
BP=$(free_port)
CP=$(free_port)
mkdir -p "$B"
cat >"$B/config" <<EOF
poll_method		epoll
sip_listen		127.0.0.1:$BP
module_path		/usr/lib/baresip/modules
audio_player		none
audio_source		none
audio_alert		none
module			menu.so
module			contact.so
module_tmp		uuid.so
module_tmp		account.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$CP
EOF
echo "<sip:bsip@127.0.0.1:$PORT;transport=udp>;regint=60;mwi=no;pubint=0;answermode=manual" >"$B/accounts"
echo "\"k1\" <sip:k1@127.0.0.1:$PORT>" >"$B/contacts"
# -t: a bound of its own; -s: the SIP it sends and receives, in its log
bg_log "$T/baresip.log" baresip -f "$B" -t 40 -s
BARESIP_PID=$BG_PID
wait_until 15 state_is bsip online
assert_eq thirdparty "$(client_field bsip class)" "class of bsip"

# ctrl CMD PARAMS: one ctrl_tcp command; its netstring answer in REPLY.
ctrl()
{
    local m="{\"command\":\"$1\",\"params\":\"$2\",\"token\":\"t$RANDOM\"}"
    exec 3<>"/dev/tcp/127.0.0.1/$CP" || fail "cannot reach baresip's ctrl_tcp port"
    printf '%d:%s,' "${#m}" "$m" >&3
    REPLY=
    IFS= read -r -t 5 -d '}' REPLY <&3 || true
    exec 3>&-
}
ctrl_up() { (exec 4<>"/dev/tcp/127.0.0.1/$CP") 2>/dev/null; }

step "baresip sends a MESSAGE to sip:k1@server: relayed, k1's answer comes back"
wait_until 10 ctrl_up
ctrl message "hello from baresip"
assert_contains "$REPLY" '"ok":true' "ctrl_tcp answer"
wait_until 10 grep -q "k1 heard hello from baresip from bsip" "$T/baresip.log"
assert_eq 1 "$(grep -c 'client: request from bsip,' "$T/k1.log")" "requests k1 got"
# the body baresip received is on a 200
awk '/SIP\/2.0 200 OK/ { r = 1 } /^(MESSAGE|REGISTER|OPTIONS) / { r = 0 }
    r && /k1 heard/ { print; exit }' "$T/baresip.log" |
    grep -q "k1 heard hello from baresip from bsip" ||
    fail "no 200 with k1's body in baresip's trace"

stop_baresip
stop_agent k1
stop_daemon
pass
