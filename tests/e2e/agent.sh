#!/usr/bin/env bash
# agent.sh -- sippush-agent (and libsippush under it) end to end.
#
#   agent  class    how                                  expected
#   a1 a2  kiosk    UDP, hook                            hook once per message
#   t1     kiosk    TCP, hook                            the same, over its own
#                                                        connection
#   j1     kiosk    UDP, no hook                         one JSON line on stdout
#   f1     flaky    hook exits 1 the first time          server retries: acked,
#                                                        2 attempts, 1 run
#   k1     slow     hook hangs the first time            killed after
#                                                        hook.timeout, retried
#   r1     restart  answers 480 after 300 ms, its hook   killed (SIGKILL) once its
#                   takes ~0.5 s: the server retries     state file has the ID,
#                   (at the latest 4 s later)            before the retry;
#                                                        restarted, the retry is
#                                                        acked without the hook
#   h1     held     answers 480 after 2.5 s, its hook    the retry (at ~6.5 s)
#                   takes 8 s                            waits for the running
#                                                        hook: 1 run, acked
#   fo1    fo       servers D1 then D2, failback 2 s     D1 stopped: moves to D2,
#                                                        gets a message there; D1
#                                                        back: returns to D1
# After the first server's restart, t1 has a new TCP connection and gets
# a message over it. At the end every agent gets SIGTERM: it exits 0 and
# its client is `unregistered'.
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"

# ---- helpers ---------------------------------------------------------------

# agent_conf NAME CLASS SERVER...: a configuration file for agent NAME.
agent_conf()
{
    local name=$1 class=$2 list="" s
    shift 2
    for s in "$@"; do list+="${list:+, }\"$s\""; done
    cat >"$T/$name.conf" <<EOF
# written by agent.sh
server = {
  list = [ $list ];
  heartbeat_interval = 1;
  timeout = 1000;
  retry_initial = 200;
  retry_max = 1000;
};
client = { id = "$name"; class = "$class"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/$name.seen"; };
hook = { command = "$T/hook.sh"; timeout = 10; };
log = { level = "debug"; };
EOF
}

# runs CLIENT ID: how many times CLIENT's hook completed for message ID.
runs() { grep -c "^$1|$2|" "$T/runs" 2>/dev/null || true; }

online_in() { [ "$(SOCK=$1 client_field "$2" state)" = online ]; }
state_in() { [ "$(SOCK=$1 client_field "$2" state)" = "$3" ]; }
acked() { [ "$(ctl --json status "$1" | jq -r '.targets[0].state')" = acked ]; }
attempts() { ctl --json status "$1" | jq -r '.targets[0].attempts'; }
target_state() { ctl --json status "$1" | jq -r '.targets[0].state'; }
registered_since() { [ "$(client_field "$1" registered_at)" -ge "$2" ]; }
seen_in_state() { grep -qx "$2" "$T/$1.seen" 2>/dev/null; }

agent_log_tail()
{
    local n
    for n in "$@"; do
        echo "---- $T/$n.log (tail)" >&2
        tail -n 25 "$T/$n.log" >&2 || true
    done
}

# The hook: records each completed run as CLIENT|ID|CLASS|TYPE|SERVER|BODY.
# f1 fails its first run, k1 hangs in its first; r1 takes a while.
cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
dir=$(dirname "$0")
body=$(cat)
case $SIPPUSH_CLIENT_ID in
f1)
    if [ ! -e "$dir/f1.marker" ]; then : >"$dir/f1.marker"; exit 1; fi ;;
k1)
    if [ ! -e "$dir/k1.marker" ]; then
        echo $$ >"$dir/k1.marker"
        sleep 30 &
        echo $! >"$dir/k1.sleep"
        wait
        echo late >>"$dir/k1.late"
    fi ;;
esac
printf '%s|%s|%s|%s|%s|%s\n' "$SIPPUSH_CLIENT_ID" "$SIPPUSH_MESSAGE_ID" \
    "$SIPPUSH_CLASS" "$SIPPUSH_CONTENT_TYPE" "$SIPPUSH_SERVER" "$body" \
    >>"$dir/runs"
[ "$SIPPUSH_CLIENT_ID" = r1 ] && sleep 0.5
[ "$SIPPUSH_CLIENT_ID" = h1 ] && sleep 8
exit 0
EOF
chmod +x "$T/hook.sh"

# ---- settings --------------------------------------------------------------

step "settings: -n prints the effective settings, flags win over the file"
agent_conf x1 kiosk 127.0.0.1:5070
assert_status 0 "$AGENT" -n -f "$T/x1.conf" --class other -s 10.0.0.1 -s 10.0.0.2:5080
assert_contains "$OUT" 'list = [ "10.0.0.1", "10.0.0.2:5080" ];'
assert_contains "$OUT" 'class = "other";'
assert_contains "$OUT" "state_file = \"$T/x1.seen\";"
assert_status 0 "$AGENT" --help
assert_contains "$OUT" "--hook-timeout"

step "settings: errors name the file and line, or the flag"
printf 'server = {\n  list = [ "127.0.0.1" ];\n  timeout = 10;\n};\n' >"$T/bad.conf"
assert_status 1 "$AGENT" -n -f "$T/bad.conf"
assert_contains "$OUT" "$T/bad.conf:3: server.timeout: 10 is out of range 500..64000"
printf 'hook = { comand = "x"; };\n' >"$T/bad.conf"
assert_status 1 "$AGENT" -n -f "$T/bad.conf"
assert_contains "$OUT" "$T/bad.conf:1: hook.comand: unknown option"
assert_status 1 "$AGENT" -n -f "$T/x1.conf" --transport sctp
assert_contains "$OUT" "--transport: \"sctp\" is not one of the accepted values"
assert_status 1 "$AGENT" -n -f "$T/x1.conf" --id "bad id"
assert_contains "$OUT" "client.id"
assert_status 2 "$AGENT" --no-such-flag

# ---- registration ------------------------------------------------------------

step "start sippushd (retries after 4 s, no jitter) and eight agents"
start_daemon 'dispatch.retry_initial = 4000' 'dispatch.retry_jitter = 0'
D1_PORT=$PORT D1_SOCK=$SOCK
SERVER1=127.0.0.1:$PORT
for n in a1 a2 t1 j1; do agent_conf $n kiosk "$SERVER1"; done
agent_conf f1 flaky "$SERVER1"
agent_conf k1 slow "$SERVER1"
agent_conf r1 restart "$SERVER1"
agent_conf h1 held "$SERVER1"
sed -i '/^hook = /d' "$T/j1.conf"
start_agent a1
start_agent a2
start_agent t1 --transport tcp
start_agent j1
start_agent f1
start_agent k1 --hook-timeout 1
start_agent r1 --answer-timeout 300
start_agent h1 --answer-timeout 2500

step "the agents register by themselves, with their class"
wait_until 15 all_in_state 8 online
assert_eq kiosk "$(client_field a1 class)" "class of a1"
assert_eq flaky "$(client_field f1 class)" "class of f1"
assert_eq tcp "$(client_field t1 transport)" "transport of t1"
assert_eq udp "$(client_field a1 transport)" "transport of a1"
assert_match "$(client_field a1 user_agent)" '^sippush-agent/'
# t1's source is the connection it opened, not its listening port
t1_port=$(client_field t1 port)
t1_contact=$(client_field t1 contact)
assert_not_contains "$t1_contact" ":$t1_port;" "t1's Contact vs its connection"

# ---- messages ------------------------------------------------------------------

step "publish to class kiosk --wait: every hook runs once, JSON without hook"
assert_status 0 ctl --json publish --class kiosk --wait 'hello "world"'
M1=$(jq -r .id <<<"${OUT%%$'\n'*}")
assert_match "$M1" '^[0-9a-f]{16}$' "message ID"
for n in a1 a2 t1; do
    assert_eq 1 "$(runs $n "$M1")" "hook runs of $n for $M1"
done
assert_eq "a1|$M1|kiosk|text/plain|$SERVER1|hello \"world\"" \
    "$(grep "^a1|$M1|" "$T/runs")" "a1's hook environment and body"
assert_contains "$(cat "$T/t1.log")" "message $M1 from $SERVER1"
wait_until 5 test -s "$T/j1.out"
assert_eq 1 "$(wc -l <"$T/j1.out")" "JSON lines printed by j1"
assert_eq "$M1|text/plain|hello \"world\"|$SERVER1" \
    "$(jq -r '[.id, .content_type, .body, .server] | join("|")' "$T/j1.out")" "j1's JSON line"
for n in a1 a2 t1 j1; do
    seen_in_state $n "$M1" || fail "$M1 is not in $n's state file"
done

step "publish to f1 (hook fails once), k1 (hook hangs once), r1 and h1 (slow)"
ctl --json publish --client f1 'flaky' >"$T/pub.f1" || fail "publish to f1"
ctl --json publish --client k1 'slow' >"$T/pub.k1" || fail "publish to k1"
ctl --json publish --client r1 'restart' >"$T/pub.r1" || fail "publish to r1"
ctl --json publish --client h1 'held' >"$T/pub.h1" || fail "publish to h1"
MF=$(jq -r .id "$T/pub.f1") MK=$(jq -r .id "$T/pub.k1") MR=$(jq -r .id "$T/pub.r1")
MH=$(jq -r .id "$T/pub.h1")

step "r1: the hook ran and its ID is on disk, but the server has no 2xx yet"
wait_until 10 seen_in_state r1 "$MR"
kill -KILL "$PID_r1"
wait_pid "$PID_r1" 5 || true
assert_eq 1 "$(runs r1 "$MR")" "hook runs of r1 before its restart"
assert_ne acked "$(target_state "$MR")" "r1's target before the restart (the test needs the retry)"

step "r1 restarted with the same state file: the retry is acked, no new run"
start_agent r1 --answer-timeout 300
wait_until 20 acked "$MR" || { agent_log_tail r1; fail "r1 never acked $MR"; }
assert_eq 2 "$(attempts "$MR")" "attempts for $MR"
assert_eq 1 "$(runs r1 "$MR")" "hook runs of r1 after its restart"
assert_contains "$(cat "$T/r1.log")" "message $MR again: taken before, 200"

step "f1: the failed hook made the server retry; then acked, one run"
wait_until 20 acked "$MF" || { agent_log_tail f1; fail "f1 never acked $MF"; }
assert_eq 2 "$(attempts "$MF")" "attempts for $MF"
assert_eq 1 "$(runs f1 "$MF")" "completed hook runs of f1"
test -e "$T/f1.marker" || fail "f1's hook did not fail first"

step "k1: the hanging hook was killed after 1 s; the retry ran it again"
wait_until 20 acked "$MK" || { agent_log_tail k1; fail "k1 never acked $MK"; }
assert_eq 2 "$(attempts "$MK")" "attempts for $MK"
assert_eq 1 "$(runs k1 "$MK")" "completed hook runs of k1"
assert_contains "$(cat "$T/k1.log")" "message $MK: killed after 1 s"
# gone PID: exited (a zombie waiting to be reaped counts as gone)
gone()
{
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
    [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}
for f in k1.marker k1.sleep; do
    p=$(cat "$T/$f")
    wait_until 5 gone "$p" || fail "k1's first hook (${f#k1.} pid $p) is still running"
done
[ ! -e "$T/k1.late" ] || fail "k1's first hook was not killed"

step "h1: the retry came while the hook ran, waited for it: one run, acked"
wait_until 25 acked "$MH" || { agent_log_tail h1; fail "h1 never acked $MH"; }
assert_eq 1 "$(runs h1 "$MH")" "hook runs of h1"
[ "$(attempts "$MH")" -ge 2 ] || fail "h1: expected a retry, got $(attempts "$MH") attempt(s)"
assert_contains "$(cat "$T/h1.log")" "message $MH again: still with the application, held"

# ---- failover ------------------------------------------------------------------

step "a second sippushd; fo1 lists both servers"
D1_CONF=$CONF D1_LOG=$DAEMON_LOG D1_PID=$DAEMON_PID
CONF=$T/d2.conf SOCK=$SOCKDIR/d2.sock DAEMON_LOG=$T/d2.log DAEMON_PID=
start_daemon "database.path = \"$T/d2.db\""
D2_PORT=$PORT D2_SOCK=$SOCK D2_PID=$DAEMON_PID D2_CONF=$CONF D2_LOG=$DAEMON_LOG
CONF=$D1_CONF SOCK=$D1_SOCK DAEMON_LOG=$D1_LOG DAEMON_PID=$D1_PID PORT=$D1_PORT
SERVER2=127.0.0.1:$D2_PORT
agent_conf fo1 fo "$SERVER1" "$SERVER2"
start_agent fo1 --failback 2
wait_until 10 online_in "$D1_SOCK" fo1
fo1_registered=$(client_field fo1 registered_at)

step "stop the first sippushd: fo1 moves to the second and gets a message there"
stop_daemon
wait_until 15 online_in "$D2_SOCK" fo1 || { agent_log_tail fo1; fail "fo1 did not move"; }
OUT=$(SOCK=$D2_SOCK ctl --json publish --class fo --wait "via the second") ||
    fail "publish on the second sippushd: $OUT"
M2=$(jq -r .id <<<"${OUT%%$'\n'*}")
assert_eq 1 "$(runs fo1 "$M2")" "hook runs of fo1 for $M2"
assert_eq "fo1|$M2|fo|text/plain|$SERVER2|via the second" \
    "$(grep "^fo1|$M2|" "$T/runs")" "fo1's hook saw the second server"

step "the first sippushd is back: fo1 returns to it (failback)"
sleep 1
t_back=$(date +%s)
restart_daemon
wait_until 15 state_in "$D2_SOCK" fo1 unregistered || { agent_log_tail fo1; fail "fo1 did not leave the second server"; }
wait_until 5 online_in "$D1_SOCK" fo1
[ "$(client_field fo1 registered_at)" -gt "$fo1_registered" ] ||
    fail "fo1's registration with the first server is not a new one"

step "after the restart, t1 registered over a new connection and gets a message"
wait_until 10 registered_since t1 "$t_back"
assert_ne "$t1_port" "$(client_field t1 port)" "t1's connection after the restart"
assert_status 0 ctl --json publish --client t1 --wait 'after the restart'
M3=$(jq -r .id <<<"${OUT%%$'\n'*}")
assert_eq 1 "$(runs t1 "$M3")" "hook runs of t1 for $M3"

# ---- stop ------------------------------------------------------------------------

step "SIGTERM: every agent unregisters and exits 0"
# the agents of the first server are registered with it again
for n in a1 a2 t1 j1 f1 k1 r1 h1; do
    wait_until 10 registered_since $n "$t_back"
done
for n in a1 a2 t1 j1 f1 k1 r1 h1 fo1; do
    stop_agent $n
done
for n in a1 a2 t1 j1 f1 k1 r1 h1 fo1; do
    assert_eq unregistered "$(client_field $n state)" "state of $n after SIGTERM"
done
assert_contains "$(cat "$T/a1.log")" "unregistered from $SERVER1: 200"

pass
