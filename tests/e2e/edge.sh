#!/usr/bin/env bash
# edge.sh -- the edge relay for isolated networks (issue 15), in network
# namespaces built here and removed at the end (root and `ip netns'
# needed, else SKIP).
#
#   namespace  links                          agent
#   S          wan 198.18.2.100               sippushd
#   a1         wan .2.1, lan 198.18.1.1       relay.mode serve, priority 10
#   a2         wan .2.2, lan .1.2             relay.mode serve, priority 20
#   a3 a4      lan .1.3, .1.4 only            relay.mode use (discovery)
#   B          the two bridges (wan, lan); broadcast stays on lan
#
# Play: discovery (a3, a4 register through a1, the elected relay, shown
# "via relay"); publish to the LAN clients; SIGKILL a1 during a fan-out
# whose hooks are slow; a2 takes over, the clients register again through
# it, every message is acked and every hook ran exactly once; the failover
# time is printed. Then a2 is killed too: a3, a4 go offline; a message
# published then waits, and is delivered when a1 comes back.
. "$(dirname "$0")/lib.sh"

AGENT_BIN=$top_builddir/sippush-agent
[ -x "$AGENT_BIN" ] || fail "$AGENT_BIN is not built"
if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
    echo "SKIP: edge.sh needs root and ip netns"
    exit 77
fi

P=sp$$
NS_B=${P}b NS_S=${P}s
NS_A=("${P}a1" "${P}a2" "${P}a3" "${P}a4")
_ns_made=()

# remove every namespace made here (the processes in them first)
edge_teardown()
{
    local rc=$? pid ns
    set +e
    for pid in "${_pids[@]+"${_pids[@]}"}"; do _stop_pid "$pid" TERM 5; done
    for ns in "${_ns_made[@]+"${_ns_made[@]}"}"; do
        ip netns del "$ns" 2>/dev/null
    done
    for ns in "${_ns_made[@]+"${_ns_made[@]}"}"; do
        ! ip netns list | grep -qw "$ns" ||
            echo "edge.sh: namespace $ns left behind" >&2
    done
    (exit "$rc")
    _cleanup
}
trap edge_teardown EXIT

mkns() { ip netns add "$1" && _ns_made+=("$1"); }
# link NS IFNAME ADDR/LEN BRIDGE: a veth from NS (named IFNAME there) to
# BRIDGE in $NS_B
link()
{
    local ns=$1 ifn=$2 addr=$3 br=$4 a="${P}${#_links}x" b="${P}${#_links}y"
    _links+=x
    ip link add "$a" type veth peer name "$b"
    ip link set "$a" netns "$ns"
    ip link set "$b" netns "$NS_B"
    ip -n "$ns" link set "$a" name "$ifn"
    ip -n "$ns" addr add "$addr" brd + dev "$ifn"
    ip -n "$ns" link set "$ifn" up
    ip -n "$NS_B" link set "$b" master "$br" up
}
_links=""

step "namespaces: server, four agents, bridges wan and lan"
mkns "$NS_B"
mkns "$NS_S"
for ns in "${NS_A[@]}"; do mkns "$ns"; done
for br in wan lan; do
    ip -n "$NS_B" link add "$br" type bridge
    ip -n "$NS_B" link set "$br" up
done
for ns in "$NS_B" "$NS_S" "${NS_A[@]}"; do ip -n "$ns" link set lo up; done
link "$NS_S" wan0 198.18.2.100/24 wan
link "${NS_A[0]}" wan0 198.18.2.1/24 wan
link "${NS_A[1]}" wan0 198.18.2.2/24 wan
for i in 1 2 3 4; do link "${NS_A[i-1]}" lan0 "198.18.1.$i/24" lan; done
ip -n "${NS_A[2]}" route get 198.18.2.100 >/dev/null 2>&1 &&
    fail "a3 has a route to the server network"
ip -n "${NS_A[0]}" route get 198.18.2.100 >/dev/null ||
    fail "a1 has no route to the server"

# the whole play is bounded
bg bash -c "sleep 170; kill -TERM $$"

step "sippushd in the server namespace"
SIPPUSHD_WRAPPER="ip netns exec $NS_S"
start_daemon 'sip.address = "198.18.2.100"' 'heartbeat.timeout = 3' \
    'dispatch.retry_initial = 500' 'dispatch.retry_max = 2000'
SERVER=198.18.2.100:$PORT

cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
body=$(cat)
printf '%s|%s|%s\n' "$SIPPUSH_CLIENT_ID" "$SIPPUSH_MESSAGE_ID" "$body" \
    >>"$(dirname "$0")/runs"
case $body in slow*) sleep 1 ;; esac
exit 0
EOF
chmod +x "$T/hook.sh"

# edge_conf NAME CLASS MODE [PRIORITY]
edge_conf()
{
    cat >"$T/$1.conf" <<EOF
server = { list = [ "$SERVER" ]; heartbeat_interval = 1; timeout = 1000;
  retry_initial = 200; retry_max = 1000; expires = 60; };
client = { id = "$1"; class = "$2"; };
messages = { state_file = "$T/$1.seen"; };
hook = { command = "$T/hook.sh"; timeout = 10; };
log = { level = "debug"; };
relay = { mode = "$3"; interface = "lan0"; priority = ${4:-100};
  announce_interval = 500; lease = 1500; };
EOF
}
edge_conf a1 relay serve 10
edge_conf a2 relay serve 20
edge_conf a3 lan use
edge_conf a4 lan use

# start NAME: its agent in its namespace; PID_NAME
start()
{
    local n=${1#a}
    echo "---- $(date +%T) start" >>"$T/$1.log"
    bg env ${EDGE_ENV:-} bash -c 'log=$1; shift; exec "$@" >>"$log" 2>&1' _ "$T/$1.log" \
        ip netns exec "${NS_A[n-1]}" "$AGENT_BIN" -F -f "$T/$1.conf"
    printf -v "PID_$1" '%s' "$BG_PID"
}

runs() { grep -c "^$1|$2|" "$T/runs" 2>/dev/null || true; }
path_of() { client_field "$1" path; }
acked_all() { [ "$(ctl --json status "$1" | jq -r '[.targets[] | select(.state != "acked")] | length')" = 0 ]; }

step "two relays and two LAN clients: discovery, election"
for a in a1 a2 a3 a4; do start $a; done
wait_until 20 state_is a3 online
wait_until 20 state_is a4 online
wait_until 10 state_is a1 online
wait_until 10 state_is a2 online
assert_contains "$(path_of a3)" "198.18.1.1:5070;lr" "a3 registered through a1"
assert_contains "$(path_of a4)" "198.18.1.1:5070;lr" "a4 registered through a1"
assert_eq "null" "$(path_of a1)" "a1 is a direct client"
assert_contains "$(ctl clients)" "via relay 198.18.2.1:" "clients shows the relay"
assert_contains "$(cat "$T/a1.log")" "is now the active relay" "a1 active"
assert_not_contains "$(cat "$T/a2.log")" "is now the active relay" "a2 not active"
assert_contains "$(cat "$T/a3.log")" "using relay 198.18.1.1:5070" "a3 discovered a1"

step "publish to the LAN clients through the relay"
OUT=$(ctl --json publish --class lan --wait 'hello lan') || fail "publish: $OUT"
M0=$(jq -r .id <<<"$OUT")
acked_all "$M0" || fail "hello lan not acked by all: $(ctl status "$M0")"
assert_eq 1 "$(runs a3 "$M0")" "a3 hook runs for $M0"
assert_eq 1 "$(runs a4 "$M0")" "a4 hook runs for $M0"

step "kill the active relay (a1) during a fan-out with slow hooks"
IDS=()
for i in 1 2 3; do
    IDS+=("$(ctl --json publish --class lan "slow $i" | jq -r .id)")
done
sleep 0.3
t0=$(date +%s.%N)
t0_day=$(date -d "@$t0" +%H:%M:%S.%N)
kill -KILL "$PID_a1"
wait_pid "$PID_a1" 5 || true
for id in "${IDS[@]}"; do wait_until 40 acked_all "$id"; done
t_acked=$(date +%s.%N)
wait_until 10 bash -c "[[ \"\$(SIPPUSH_SOCKET=$SOCK $SIPPUSHCTL --json client a3 | jq -r .path)\" == *198.18.1.2* ]]"
wait_until 10 bash -c "[[ \"\$(SIPPUSH_SOCKET=$SOCK $SIPPUSHCTL --json client a4 | jq -r .path)\" == *198.18.1.2* ]]"
assert_contains "$(cat "$T/a2.log")" "is now the active relay" "a2 took over"
# the kill hit answers in flight: some target needed another attempt
retried=0
for id in "${IDS[@]}"; do
    n=$(ctl --json status "$id" | jq '[.targets[] | select(.attempts > 1)] | length')
    retried=$((retried + n))
done
[ "$retried" -gt 0 ] || fail "no target was retried: the relay was not killed during the fan-out"
echo "targets sent again after the relay was killed: $retried of $((2 * ${#IDS[@]}))"
for id in "${IDS[@]}"; do
    assert_eq 1 "$(runs a3 "$id")" "a3 hook runs for $id"
    assert_eq 1 "$(runs a4 "$id")" "a4 hook runs for $id"
done
# the registrations' times, from the server's log
# the last registration through a relay, from the server's log (its lines
# start with the time of day, HH:MM:SS.mmm, as does t0_day)
reg_last=$(grep -E "registrar: a[34] registered.*through a relay" "$DAEMON_LOG" | tail -1 | cut -d' ' -f1)
secs() { awk -F: '{ printf "%.3f", $1 * 3600 + $2 * 60 + $3 }' <<<"$1"; }
t_reg=$(awk -v a="$(secs "$t0_day")" -v b="$(secs "$reg_last")" \
    'BEGIN { d = b - a; if (d < -43200) d += 86400; printf "%.2f", d }')
echo "failover: relay killed -> last client registered again: $t_reg s, -> last target acked: $(awk -v a="$t0" -v b="$t_acked" 'BEGIN { printf "%.2f", b - a }') s"

step "no relay left: the LAN clients go offline, a message waits"
kill -KILL "$PID_a2"
wait_pid "$PID_a2" 5 || true
wait_until 15 state_is a3 offline
wait_until 15 state_is a4 offline
M4=$(ctl --json publish --class lan 'while away' | jq -r .id)
sleep 1
acked_all "$M4" && fail "$M4 acked with no relay"
assert_eq 0 "$(runs a3 "$M4")" "no hook without a relay"

step "a relay comes back: the waiting message is delivered"
start a1
wait_until 30 acked_all "$M4"
assert_eq 1 "$(runs a3 "$M4")" "a3 hook runs for $M4"
assert_eq 1 "$(runs a4 "$M4")" "a4 hook runs for $M4"
state_is a3 online || fail "a3 not online"

step "measure: the relay's CPU per relayed control message"
# utime + stime of a1 (its own client idles) over N messages to a3 and a4
N=${EDGE_MESSAGES:-100}
relay_pid=$(cat "/proc/$PID_a1/task/$PID_a1/children" 2>/dev/null | awk '{print $1}')
[ -n "$relay_pid" ] || relay_pid=$PID_a1
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# first its idle cost (announcements, probes, its own client, the LAN
# clients' heartbeats through it), to take off what the burst costs
IDLE=${EDGE_IDLE:-3}
c0=$(ticks "$relay_pid")
sleep "$IDLE"
idle=$(( $(ticks "$relay_pid") - c0 ))
c0=$(ticks "$relay_pid")
w0=$(date +%s.%N)
for ((i = 0; i < N; i++)); do
    ctl --json publish --class lan "fast $i" >/dev/null || fail "publish fast $i"
done
wait_until 60 bash -c "[ \"\$(grep -c '|fast ' '$T/runs')\" -ge $((2 * N)) ]"
sleep 1
c1=$(ticks "$relay_pid")
w1=$(date +%s.%N)
awk -v t=$((c1 - c0)) -v hz="$hz" -v n=$((2 * N)) -v idle="$idle" \
    -v is="$IDLE" -v w0="$w0" -v w1="$w1" 'BEGIN {
    base = idle / is * (w1 - w0)
    printf "relay CPU: %d ticks (1/%d s) over %.1f s for %d messages x 2 clients: %.0f us per relayed message; idle %d ticks in %d s, so %.0f us net of idle\n",
        t, hz, w1 - w0, n / 2, t / hz / n * 1e6, idle, is, (t - base) / hz / n * 1e6 }'

step "stop the agents"
for a in a1 a3 a4; do
    pv=PID_$a
    kill -TERM "${!pv}"
    rc=0; wait_pid "${!pv}" 10 || rc=$?
    assert_eq 0 "$rc" "exit status of $a"
done
pass
