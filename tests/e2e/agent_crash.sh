#!/usr/bin/env bash
# agent_crash.sh -- sippush-agent killed (SIGKILL) while a hook runs.
#
#   agent  settings                       expected
#   c1     default                        the message's ID is in the state
#                                         file as started before the hook
#                                         runs; kill -9 of the agent kills
#                                         the hook and its children; the
#                                         restarted agent does not run it
#                                         again and answers the server's
#                                         retry 202: acked, last_status 202
#   c2     hook.rerun_interrupted = true  the same crash; the restarted agent
#                                         runs the hook again: one completed
#                                         run, acked 200
#   c3     default, stopped by SIGTERM    the hook gets SIGTERM and fails:
#                                         not interrupted, the retry runs it
#                                         again after the restart (200)
#   c4     its state file's folder is     the hook does not start: 500, the
#          missing (cannot be written)    server retries; once the folder is
#                                         there, it runs once: 200
# The first run of each hook sleeps 30 s in a child process (and would
# then record a completed run); later runs complete at once.
# Each agent has a port of its own (free_port, below the ephemeral range)
# and keeps it across restarts: a port a killed agent got from the kernel
# is anyone's at once, and on a busy machine (benchmarks bind 20,000 UDP
# ports) another process took it and answered the server's retry 200 in
# the agent's place (seen once); tests/e2e/moved.sh tests the server's
# side of that.
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"

# agent_conf NAME [HOOK-OPTION...]: a configuration file for agent NAME.
agent_conf()
{
    local name=$1
    shift
    cat >"$T/$name.conf" <<EOF
# written by agent_crash.sh
server = {
  list = [ "127.0.0.1:$PORT" ];
  heartbeat_interval = 1;
  timeout = 1000;
  retry_initial = 200;
  retry_max = 1000;
};
client = { id = "$name"; class = "crash"; };
sip = { address = "127.0.0.1"; port = $(free_port); };
messages = { state_file = "$T/$name.seen"; answer_timeout = 20000; };
hook = { command = "$T/hook.sh"; timeout = 30; $*};
log = { level = "debug"; };
EOF
}

# runs NAME ID: how many runs of NAME's hook completed for message ID.
runs() { cat "$T/$1.runs" 2>/dev/null | grep -cx "$2" || true; }
target_field() { ctl --json status "$1" | jq -r ".targets[0].$2"; }
acked() { [ "$(target_field "$1" state)" = acked ]; }
online() { [ "$(client_field "$1" state)" = online ]; }
# gone PID: no such process (a zombie counts as gone)
gone()
{
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
    [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
dir=$(dirname "$0")
me=$SIPPUSH_CLIENT_ID
# what the state file says about this message while the hook runs
grep -x "started $SIPPUSH_MESSAGE_ID" "$dir/$me.seen" >>"$dir/$me.instate" ||
    echo "not started $SIPPUSH_MESSAGE_ID" >>"$dir/$me.instate"
if [ ! -e "$dir/$me.first" ]; then
    echo $$ >"$dir/$me.first"
    sleep 30 &
    echo $! >"$dir/$me.sleep"
    wait
fi
echo "$SIPPUSH_MESSAGE_ID" >>"$dir/$me.runs"
EOF
chmod +x "$T/hook.sh"

# crash NAME: publish to NAME, SIGKILL the agent while its hook runs;
# sets MSG. The hook's shell and its child must be gone with the agent.
crash()
{
    local name=$1 pidvar=PID_$1 sh_pid sleep_pid
    ctl --json publish --client "$name" 'crash' >"$T/pub.$name" ||
        fail "publish to $name"
    MSG=$(jq -r .id "$T/pub.$name")
    wait_until 10 test -s "$T/$name.sleep"
    sleep 0.3
    sh_pid=$(cat "$T/$name.first") sleep_pid=$(cat "$T/$name.sleep")
    gone "$sh_pid" && fail "$name's hook is not running"
    kill -KILL "${!pidvar}"
    wait_pid "${!pidvar}" 5 || true
    # the hook's shell, and its child in the same process group
    soft wait_until 5 gone "$sh_pid"
    soft wait_until 5 gone "$sleep_pid"
    soft assert_eq "started $MSG" "$(cat "$T/$name.instate")" \
        "$name's state file while its hook ran"
    assert_ne acked "$(target_field "$MSG" state)" \
        "$name's target before the restart (the test needs the retry)"
}

step "start sippushd (first retry after 0.5 s, no jitter) and agent c1"
start_daemon 'dispatch.retry_initial = 500' 'dispatch.retry_max = 2000' \
    'dispatch.retry_jitter = 0'
agent_conf c1
start_agent c1
wait_until 15 online c1

step "c1: killed while its hook runs: the hook and its child die with it"
crash c1
M1=$MSG

step "c1 restarted: the retry is answered 202 without running the hook"
start_agent c1
wait_until 30 acked "$M1" || fail "c1 never acked $M1"
soft assert_eq 202 "$(target_field "$M1" last_status)" "last_status of $M1"
soft assert_eq 0 "$(runs c1 "$M1")" "completed hook runs of c1 for $M1"
assert_contains "$(cat "$T/c1.log")" "message $M1: its hook was interrupted"
assert_eq 1 "$(wc -l <"$T/c1.instate")" "hook starts of c1"
grep -qx "$M1" "$T/c1.seen" || fail "$M1 is not taken in c1's state file"
grep -q "^started " "$T/c1.seen" && fail "c1's state file still has a started ID"

step "c1: a new message runs the hook once, as usual"
assert_status 0 ctl --json publish --client c1 --wait 'after'
M1b=$(jq -r .id <<<"${OUT%%$'\n'*}")
assert_eq 1 "$(runs c1 "$M1b")" "hook runs of c1 for $M1b"
assert_eq 200 "$(target_field "$M1b" last_status)" "last_status of $M1b"

step "c2 (rerun_interrupted): killed while its hook runs, then restarted"
agent_conf c2 'rerun_interrupted = true;'
start_agent c2
wait_until 15 online c2
crash c2
M2=$MSG
start_agent c2
wait_until 30 acked "$M2" || fail "c2 never acked $M2"
assert_eq 200 "$(target_field "$M2" last_status)" "last_status of $M2"
assert_eq 1 "$(runs c2 "$M2")" "completed hook runs of c2 for $M2"
assert_contains "$(cat "$T/c2.log")" "message $M2: its hook was interrupted"

step "c3: SIGTERM while its hook runs: the hook fails, the retry runs it"
agent_conf c3
start_agent c3
wait_until 15 online c3
ctl --json publish --client c3 'term' >"$T/pub.c3" || fail "publish to c3"
M3=$(jq -r .id "$T/pub.c3")
wait_until 10 test -s "$T/c3.sleep"
stop_agent c3
sleep_pid=$(cat "$T/c3.sleep")
wait_until 5 gone "$sleep_pid" || fail "c3's hook's child outlived the stop"
assert_contains "$(cat "$T/c3.log")" "message $M3: killed by signal 15"
grep -q "^started " "$T/c3.seen" && fail "c3's state file has a started ID after a clean stop"
start_agent c3
wait_until 30 acked "$M3" || fail "c3 never acked $M3"
assert_eq 200 "$(target_field "$M3" last_status)" "last_status of $M3"
assert_eq 1 "$(runs c3 "$M3")" "completed hook runs of c3 for $M3"

step "c4: the state file cannot be written: the hook does not start (500)"
agent_conf c4
sed -i "s|state_file = \"$T/c4.seen\"|state_file = \"$T/c4/sub/c4.seen\"|" "$T/c4.conf"
grep -q "$T/c4/sub/c4.seen" "$T/c4.conf" || fail "c4.conf: state_file not set"
echo quick >"$T/c4.first"   # its hook completes at once
start_agent c4
wait_until 15 online c4
ctl --json publish --client c4 'no state' >"$T/pub.c4" || fail "publish to c4"
M4=$(jq -r .id "$T/pub.c4")
refused_twice() { [ "$(target_field "$M4" last_status)" = 500 ] && [ "$(target_field "$M4" attempts)" -ge 2 ]; }
wait_until 20 refused_twice || fail "c4 did not answer $M4 500 twice"
[ ! -e "$T/c4.instate" ] || fail "c4's hook ran without its start on disk"
assert_contains "$(cat "$T/c4.log")" "message $M4: not run: it cannot be recorded as started"
mkdir -p "$T/c4/sub"
wait_until 30 acked "$M4" || fail "c4 never acked $M4"
assert_eq 200 "$(target_field "$M4" last_status)" "last_status of $M4"
assert_eq 1 "$(wc -l <"$T/c4.instate")" "hook starts of c4"
assert_eq 1 "$(runs c4 "$M4")" "completed hook runs of c4 for $M4"
grep -qx "$M4" "$T/c4/sub/c4.seen" || fail "$M4 is not taken in c4's state file"

step "SIGTERM: the agents exit 0"
for n in c1 c2 c3 c4; do stop_agent $n; done

pass
