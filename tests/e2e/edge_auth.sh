#!/usr/bin/env bash
# edge_auth.sh -- the edge relay with authentication on (issue 15,
# security), in network namespaces built here and removed at the end
# (root and `ip netns' needed, else SKIP).
#
#   namespace  links                                agent / role
#   S          wan 198.18.2.100                      sippushd, auth on
#   a1         wan .2.1, lan0 198.18.1.1,            relay.mode serve on lan0
#              lan1 198.18.3.1 (a second link)
#   a2         wan .2.2, lan0 .1.2                   a rogue box (digestclient,
#                                                    forged announcements)
#   a3 a4      lan0 .1.3, .1.4 only                  relay.mode use; a4's
#                                                    password is wrong
#   a5         lan1 198.18.3.5 only (the second link) relay.mode use
#   B          the bridges wan, lan, lan2
#
# Play: a3 authenticates end to end through the relay (the challenge
# passes through it) and gets a message; a4, with a wrong password, is
# refused through it; the relay's box cannot register a3 (no
# credentials: 401; its own: 403), nor can a rogue box on the LAN, with
# a forged Path, directly or through the relay; a3's binding is
# untouched and it still gets its messages. The relay announces and
# listens on its configured interface only: a5, on the other link, finds
# no relay, a forged announcement from there does not move the relay,
# and a REGISTER from there to the relay's address is not relayed.
. "$(dirname "$0")/lib.sh"

AGENT_BIN=$top_builddir/sippush-agent
DC=$top_builddir/tests/digestclient
[ -x "$AGENT_BIN" ] || fail "$AGENT_BIN is not built"
[ -x "$DC" ] || fail "$DC is not built (run: make check)"
if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
    echo "SKIP: edge_auth.sh needs root and ip netns"
    exit 77
fi

P=sq$$
NS_B=${P}b NS_S=${P}s
NS_A=("${P}a1" "${P}a2" "${P}a3" "${P}a4" "${P}a5")
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
            echo "edge_auth.sh: namespace $ns left behind" >&2
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
# in_ns N|aN COMMAND...: run it in agent namespace N
in_ns() { local n=${1#a}; shift; ip netns exec "${NS_A[n-1]}" "$@"; }
lines() { tr '\n' ' ' <<<"$1" | sed 's/ $//'; }

step "namespaces: server, five agents, bridges wan, lan and lan2"
mkns "$NS_B"
mkns "$NS_S"
for ns in "${NS_A[@]}"; do mkns "$ns"; done
for br in wan lan lan2; do
    ip -n "$NS_B" link add "$br" type bridge
    ip -n "$NS_B" link set "$br" up
done
for ns in "$NS_B" "$NS_S" "${NS_A[@]}"; do ip -n "$ns" link set lo up; done
link "$NS_S" wan0 198.18.2.100/24 wan
link "${NS_A[0]}" wan0 198.18.2.1/24 wan
link "${NS_A[1]}" wan0 198.18.2.2/24 wan
for i in 1 2 3 4; do link "${NS_A[i-1]}" lan0 "198.18.1.$i/24" lan; done
link "${NS_A[0]}" lan1 198.18.3.1/24 lan2
link "${NS_A[4]}" lan0 198.18.3.5/24 lan2

# the whole play is bounded
bg bash -c "sleep 150; kill -TERM $$"

step "sippushd with authentication in the server namespace"
SIPPUSHD_WRAPPER="ip netns exec $NS_S"
start_daemon 'sip.address = "198.18.2.100"' 'heartbeat.timeout = 5' \
    'auth.enabled = true' 'auth.realm = "edge.example"' \
    'dispatch.retry_initial = 500' 'dispatch.retry_max = 2000'
SERVER=198.18.2.100:$PORT
for a in a1 a2 a3 a4 a5; do
    assert_status 0 ctl user add "$a" <<<"$a-password"
done

cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
printf '%s|%s|%s\n' "$SIPPUSH_CLIENT_ID" "$SIPPUSH_MESSAGE_ID" "$(cat)" \
    >>"$(dirname "$0")/runs"
EOF
chmod +x "$T/hook.sh"

# edge_conf NAME CLASS MODE PASSWORD
edge_conf()
{
    cat >"$T/$1.conf" <<EOF
server = { list = [ "$SERVER" ]; heartbeat_interval = 1; timeout = 1000;
  retry_initial = 200; retry_max = 1000; expires = 60; };
client = { id = "$1"; class = "$2"; };
auth = { password = "$4"; };
messages = { state_file = "$T/$1.seen"; };
hook = { command = "$T/hook.sh"; timeout = 10; };
log = { level = "debug"; };
relay = { mode = "$3"; interface = "lan0"; priority = 10;
  announce_interval = 500; lease = 1500; };
EOF
    chmod 600 "$T/$1.conf"
}
edge_conf a1 relay serve a1-password
edge_conf a3 lan use a3-password
edge_conf a4 lan use not-the-password
edge_conf a5 far use a5-password

# start NAME: its agent in its namespace; PID_NAME
start()
{
    local n=${1#a}
    bg bash -c 'log=$1; shift; exec "$@" >>"$log" 2>&1' _ "$T/$1.log" \
        ip netns exec "${NS_A[n-1]}" "$AGENT_BIN" -F -f "$T/$1.conf"
    printf -v "PID_$1" '%s' "$BG_PID"
}

runs() { grep -c "^$1|$2|" "$T/runs" 2>/dev/null || true; }
path_of() { client_field "$1" path; }
# dc NS ARGS: digestclient in agent namespace NS
dc() { local ns=$1; shift; in_ns "$ns" timeout 20 "$DC" "$@"; }

step "a3 authenticates end to end through the relay; a4's wrong password is refused"
for a in a1 a3 a4 a5; do start $a; done
wait_until 20 state_is a1 online
wait_until 20 state_is a3 online
assert_contains "$(path_of a3)" "198.18.1.1:5070;lr" "a3 registered through a1"
assert_contains "$(cat "$T/a3.log")" "using relay 198.18.1.1:5070" "a3 discovered a1"
assert_contains "$(cat "$T/a3.log")" "asks for credentials" "a3 was challenged through the relay"
wait_until 10 grep -q "403" "$T/a4.log"
assert_contains "$(cat "$T/a4.log")" "using relay 198.18.1.1:5070" "a4 discovered a1"
assert_status 1 ctl client a4
OUT=$(ctl --json publish --client a3 --wait 'hello a3') || fail "publish: $OUT"
M0=$(jq -r .id <<<"$OUT")
assert_eq acked "$(ctl --json status "$M0" | jq -r '.targets[0].state')" "$M0 to a3"
assert_eq 1 "$(runs a3 "$M0")" "a3 hook runs for $M0"

a3_before=$(ctl --json client a3 | jq -c '{contact, address, port, path}')

step "the relay's box cannot register a3: 401 without credentials, 403 with its own"
assert_eq "401" "$(dc 1 -s "$SERVER" -i a3 -n)" "a3 without credentials, from a1"
assert_eq "401 403" "$(lines "$(dc 1 -s "$SERVER" -i a3 -u a1 -p a1-password)")" \
    "a3 with a1's credentials, from a1"

step "a rogue box on the LAN with a forged Path: 401 or 403, directly or through the relay"
FORGED='Path: <sip:198.18.1.2:5070;lr>'
assert_eq "401" "$(dc 2 -s "$SERVER" -i a3 -H "$FORGED" -n)" \
    "a3 with a forged Path and no credentials, to the server"
assert_eq "401 403" "$(lines "$(dc 2 -s "$SERVER" -i a3 -u a2 -p a2-password -H "$FORGED")")" \
    "a3 with a forged Path and a2's credentials, to the server"
assert_eq "401" "$(dc 2 -s 198.18.1.1:5070 -i a3 -H "$FORGED" -n)" \
    "a3 with a forged Path and no credentials, through the relay"
assert_eq "401 403" "$(lines "$(dc 2 -s 198.18.1.1:5070 -i a3 -u a2 -p a2-password)")" \
    "a3 with a2's credentials, through the relay"
assert_eq "$a3_before" "$(ctl --json client a3 | jq -c '{contact, address, port, path}')" \
    "a3's binding"
OUT=$(ctl --json publish --client a3 --wait 'still a3') || fail "publish: $OUT"
M1=$(jq -r .id <<<"$OUT")
assert_eq acked "$(ctl --json status "$M1" | jq -r '.targets[0].state')" "$M1 to a3"
assert_eq 1 "$(runs a3 "$M1")" "a3 hook runs for $M1"

step "discovery on the configured interface only: a5, on a1's other link, finds no relay"
# a3 heard a1 long ago; a5 has listened as long, on lan1 of a1
sleep 1.5
assert_not_contains "$(cat "$T/a5.log")" "using relay" "a5 log"
assert_status 1 ctl client a5
# a forged announcement from the other link: a1 does not hear it
in_ns a5 perl -MIO::Socket::INET -MSocket -e '
    my $s = IO::Socket::INET->new(Proto => "udp", Broadcast => 1,
        LocalAddr => "198.18.3.5") or die "$!\n";
    my $to = sockaddr_in(5071, inet_aton("198.18.3.255"));
    for (1 .. 15) {
        $s->send("SIPPUSH-RELAY/1 id=rogue prio=0 sip=198.18.3.5:5070 up=1 active=1\r\n",
            0, $to) or die "$!\n";
        select(undef, undef, undef, 0.1);
    }'
sleep 0.5
assert_not_contains "$(cat "$T/a1.log")" "stands down" "a1 log"
assert_contains "$(path_of a3)" "198.18.1.1:5070;lr" "a3 still through a1"
# a REGISTER from the other link to the relay's LAN address: not relayed
ip -n "${NS_A[4]}" route add 198.18.1.0/24 via 198.18.3.1
rc=0
out=$(dc 5 -s 198.18.1.1:5070 -i a5 -u a5 -p a5-password 2>&1) || rc=$?
assert_eq 1 "$rc" "digestclient from the other link through the relay (output: $out)"
assert_status 1 ctl client a5

step "stop the agents"
for a in a1 a3 a4 a5; do
    pv=PID_$a
    kill -TERM "${!pv}"
    rc=0; wait_pid "${!pv}" 10 || rc=$?
    assert_eq 0 "$rc" "exit status of $a"
done
pass
