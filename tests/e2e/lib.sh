# shellcheck shell=bash
# lib.sh -- shared helpers for the end-to-end tests (bash; sourced).
#
#   . "$(dirname "$0")/lib.sh"
#
# Gives each test a temporary folder $T under $top_builddir/tests/e2e/,
# starts sippushd on a random free port of 127.0.0.1 with its database and
# control socket in $T, and cleans up on exit: every process started
# through this file is killed, and $T is removed unless the test failed
# (then its path and the tails of the logs in it are printed).
#
# Environment: top_builddir, top_srcdir (set by `make check'; both default
# to the repository root when a test is run by hand).
#
# Functions:
#   start_daemon [OPTION=VALUE...]  config + `sippushd -F -f', wait until it
#                          answers; an argument like 'heartbeat.timeout = 0'
#                          replaces (or adds) that option.  Sets PORT,
#                          DAEMON_PID, CONF, SOCK.
#   restart_daemon         start again with the same config file (and port)
#   stop_daemon            SIGTERM, bounded wait, must exit 0
#   kill_daemon [SIG]      send SIG (default KILL), bounded wait
#   ctl ARGS...            sippushctl with SIPPUSH_SOCKET=$SOCK (bounded)
#   sim ARGS... STEPS...   tests/simclient -s 127.0.0.1:$PORT (bounded)
#   sim_bg ARGS...         the same in the background (sets BG_PID)
#   bg CMD...              run an external CMD in the background, killed on
#                          exit; sets BG_PID
#   bg_log FILE CMD...     the same, output into FILE
#   wait_pid PID SECS      wait for a background process, return its status
#   wait_until SECS CMD... poll CMD until it succeeds (fails the test if not)
#   free_port              print a random port free for UDP and TCP
#   client_field ID FIELD  one field of `sippushctl --json client ID'
#   assert_eq, assert_ne, assert_contains, assert_not_contains,
#   assert_match, assert_status, fail, step, pass
#   soft ASSERTION...      a failed assertion is reported, the test goes on
#                          and fails at `pass'

set -euo pipefail

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$_lib_dir/../.." && pwd)}"
: "${top_builddir:=$(cd "$_lib_dir/../.." && pwd)}"
export top_srcdir top_builddir

SIPPUSHD=$top_builddir/sippushd
SIPPUSHCTL=$top_builddir/sippushctl
SIMCLIENT=$top_builddir/tests/simclient
TEST_NAME=$(basename "$0" .sh)
export LC_ALL=C

_t0=$(date +%s.%N)
_pids=()
_failed=0

# ---- reporting ------------------------------------------------------

_elapsed() { awk -v a="$_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

step() { echo "== [$(_elapsed)s] $*"; }

fail()
{
    _failed=1
    echo "FAIL: $TEST_NAME: $*" >&2
    exit 1
}

_soft_failed=0

# soft CMD...: run an assertion; if it fails, note it and go on (the test
# still fails at `pass').  For checks whose failure should not hide the
# checks after them.
soft()
{
    ( "$@" ) && return 0
    _soft_failed=$((_soft_failed + 1))
    local what="$*"
    [ "${#what}" -le 200 ] || what="${what:0:200}..."
    case $1 in
        assert_*|fail|wait_until) ;;    # these said what failed
        *) echo "FAIL: $TEST_NAME: check failed: $what" >&2 ;;
    esac
    echo "(going on; the test will fail at the end)" >&2
}

pass()
{
    if [ "$_soft_failed" -gt 0 ]; then
        _failed=1
        echo "FAIL: $TEST_NAME: $_soft_failed check(s) failed above ($(_elapsed)s)" >&2
        exit 1
    fi
    echo "PASS: $TEST_NAME ($(_elapsed)s)"
    exit 0
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq()
{
    [ "$1" == "$2" ] && return 0
    fail "${3:-value}: expected [$1], got [$2]"
}

assert_ne()
{
    [ "$1" != "$2" ] && return 0
    fail "${3:-value}: expected anything but [$1]"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains()
{
    case $1 in *"$2"*) return 0 ;; esac
    fail "${3:-output}: expected to contain [$2], got:
$1"
}

assert_not_contains()
{
    case $1 in *"$2"*) fail "${3:-output}: expected not to contain [$2], got:
$1" ;; esac
    return 0
}

# assert_match STRING ERE [WHAT]
assert_match()
{
    # a here-string, not a pipe: with pipefail, grep -q leaving at the
    # first match could kill printf (SIGPIPE) and fail a match on a long
    # STRING (seen once in systemd.sh)
    grep -Eq -- "$2" <<<"$1" && return 0
    fail "${3:-output}: expected to match /$2/, got:
$1"
}

# assert_status EXPECTED CMD...: run CMD, compare its exit status; its
# stdout+stderr are left in $OUT.
assert_status()
{
    local want=$1 rc=0
    shift
    OUT=$("$@" 2>&1) || rc=$?
    [ "$rc" -eq "$want" ] && return 0
    fail "\`$*': expected exit status $want, got $rc; output:
$OUT"
}

# ---- prerequisites ---------------------------------------------------

for _p in "$SIPPUSHD" "$SIPPUSHCTL" "$SIMCLIENT"; do
    [ -x "$_p" ] || { echo "FAIL: $TEST_NAME: $_p is not built (run: make sippushd sippushctl tests/simclient)" >&2; exit 1; }
done
command -v jq >/dev/null 2>&1 ||
    { echo "FAIL: $TEST_NAME: jq is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
command -v timeout >/dev/null 2>&1 ||
    { echo "FAIL: $TEST_NAME: timeout (coreutils) is missing" >&2; exit 1; }

# ---- temporary folder and cleanup -------------------------------------

mkdir -p "$top_builddir/tests/e2e"
T=$(mktemp -d "$top_builddir/tests/e2e/state-$TEST_NAME.XXXXXX")
# A Unix socket path must fit in 108 bytes: fall back to a short folder.
if [ ${#T} -le 80 ]; then
    SOCKDIR=$T
else
    SOCKDIR=$(mktemp -d "${TMPDIR:-/tmp}/sippush-e2e.XXXXXX")
fi
SOCK=$SOCKDIR/sippushd.sock
CONF=$T/sippushd.conf
DAEMON_LOG=$T/sippushd.log
DAEMON_PID=
PORT=

# Processes are tracked by PID, and a PID is only signalled while it is
# still the process we mean: our own child (parent $$) that has not
# exited, or, for a process that is not our child (a daemon that forked
# away), the same start time as when we took note of it.  Bash reaps
# finished background jobs on its own, and a freed PID may be reused.
_foreign=()             # "PID:STARTTIME"

# _stat PID: prints "STATE PPID STARTTIME" of a process, fails if none.
_stat()
{
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$stat" ] || return 1
    # fields after "(comm) ": 3 state, 4 ppid, ... 22 starttime
    awk '{ print $1, $2, $20 }' <<<"${stat##*) }"
}

# _alive PID: is PID our child and still running?
_alive()
{
    local st ppid start
    read -r st ppid start < <(_stat "$1") || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] && [ "$ppid" = "$$" ]
}

# Has our child PID exited (or is it not ours any more)?
_pid_done() { ! _alive "$1"; }

# _stop_pid PID SIG SECS: signal our child and wait for it, bounded;
# SIGKILL if it outlives the wait.  Never fails.
_stop_pid()
{
    local pid=$1 sig=$2 secs=$3 i
    if _alive "$pid"; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < secs * 20; i++)); do
            _pid_done "$pid" && break
            sleep 0.05
        done
        if _alive "$pid"; then
            # its children first: timeout(1) cannot pass SIGKILL on
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -s KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# track_foreign PID: a process that is not our child (e.g. a daemon that
# forked away), to be killed on exit if still running.
track_foreign()
{
    local st ppid start
    read -r st ppid start < <(_stat "$1") || fail "track_foreign: no process $1"
    _foreign+=("$1:$start")
}

# _foreign_alive PID: still running, and still the process we noted?
_foreign_alive()
{
    local e st ppid start
    read -r st ppid start < <(_stat "$1") || return 1
    [ "$st" != Z ] && [ "$st" != X ] || return 1
    for e in "${_foreign[@]+"${_foreign[@]}"}"; do
        [ "$e" = "$1:$start" ] && return 0
    done
    return 1
}

# stop_foreign PID SECS: SIGTERM a tracked foreign process and wait for it
# to be gone (SIGKILL after SECS).  Fails if it needed SIGKILL.
stop_foreign()
{
    local pid=$1 secs=$2 i rc=0 e
    local -a keep=()
    if _foreign_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < secs * 20; i++)); do
            _foreign_alive "$pid" || break
            sleep 0.05
        done
        if _foreign_alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            rc=1
        fi
    fi
    for e in "${_foreign[@]+"${_foreign[@]}"}"; do
        [ "${e%%:*}" = "$pid" ] || keep+=("$e")
    done
    _foreign=("${keep[@]+"${keep[@]}"}")
    return "$rc"
}

_cleanup()
{
    local rc=$? pid
    trap - EXIT INT TERM HUP
    set +e
    [ "$_soft_failed" -eq 0 ] || _failed=1
    for pid in "${_pids[@]+"${_pids[@]}"}"; do
        _stop_pid "$pid" TERM 5
    done
    for pid in "${_foreign[@]+"${_foreign[@]}"}"; do
        stop_foreign "${pid%%:*}" 5
    done
    if [ "$rc" -eq 0 ] && [ "$_failed" -eq 0 ]; then
        rm -rf "$T"
        [ "$SOCKDIR" = "$T" ] || rm -rf "$SOCKDIR"
    else
        echo "FAIL: $TEST_NAME: exit status $rc after $(_elapsed)s; files kept in $T" >&2
        local log
        for log in "$DAEMON_LOG" "$T"/*.log; do
            [ -s "$log" ] || continue
            [ "$log" != "$DAEMON_LOG" ] || [ -z "${_shown_daemon_log:-}" ] || continue
            [ "$log" != "$DAEMON_LOG" ] || _shown_daemon_log=1
            echo "---- last 40 lines of $log ----" >&2
            tail -n 40 "$log" >&2
            echo "----" >&2
        done
        [ "$rc" -ne 0 ] || rc=1
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'echo "$TEST_NAME: interrupted" >&2; exit 1' INT TERM HUP

# ---- processes --------------------------------------------------------

# bg CMD...: start CMD in the background (stdin from /dev/null), track it.
bg()
{
    "$@" </dev/null &
    BG_PID=$!
    _pids+=("$BG_PID")
}

# bg_log FILE CMD...: the same, with its output into FILE (shown if the
# test fails when FILE is $T/*.log).
bg_log()
{
    local log=$1
    shift
    "$@" </dev/null >"$log" 2>&1 &
    BG_PID=$!
    _pids+=("$BG_PID")
}

# wait_pid PID SECS: wait for PID to exit (bounded); returns its status,
# or fails the test if it is still running after SECS.
wait_pid()
{
    local pid=$1 secs=$2 i rc=0
    for ((i = 0; i < secs * 20; i++)); do
        _pid_done "$pid" && break
        sleep 0.05
    done
    _pid_done "$pid" || fail "process $pid still running after ${secs}s"
    wait "$pid" 2>/dev/null || rc=$?
    _forget "$pid"
    return "$rc"
}

# _forget PID: a process reaped by us is no longer ours to kill (its PID
# may be reused).
_forget()
{
    local -a keep=()
    local p
    for p in "${_pids[@]+"${_pids[@]}"}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    _pids=("${keep[@]+"${keep[@]}"}")
}

# wait_until SECS CMD...: poll every 0.1 s.
wait_until()
{
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@" >/dev/null 2>&1 && return 0
    fail "condition not met within ${secs}s: $*"
}

# ---- ports ------------------------------------------------------------

# Ports in use on any address, TCP or UDP, any state.
_used_ports()
{
    if command -v ss >/dev/null 2>&1; then
        ss -Hantu 2>/dev/null | awk '{ n = split($5, a, ":"); print a[n] }'
    else
        local f
        for f in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do
            [ -r "$f" ] || continue
            awk 'NR > 1 { split($2, a, ":"); print strtonum("0x" a[2]) }' "$f"
        done
    fi
}

# free_port: a random port below the ephemeral range (so no client socket
# of simclient can take it), not used by any TCP or UDP socket.
free_port()
{
    local lo=32768 hi=60999 top base p i used
    if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
        read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    fi
    if [ "$lo" -gt 12000 ]; then
        base=10000 top=$((lo - 1))
    else
        base=$((hi + 1)) top=65535
    fi
    used=" $(_used_ports | sort -u | tr '\n' ' ') "
    for ((i = 0; i < 200; i++)); do
        p=$((base + (RANDOM * 32768 + RANDOM) % (top - base + 1)))
        case $used in *" $p "*) continue ;; esac
        echo "$p"
        return 0
    done
    fail "free_port: no free port found in $base..$top"
}

# ---- configuration and daemon ----------------------------------------

# write_config FILE [OPTION = VALUE...]: the test defaults, with the given
# options replaced or added ('group.name = value', value in libconfig
# syntax, strings in double quotes).
write_config()
{
    local file=$1 arg key val g o
    shift
    local -a order=(
        sip.address sip.port
        database.path
        registration.min_expires registration.max_expires
        registration.default_expires registration.rate_per_source
        heartbeat.timeout heartbeat.sweep_interval
        control.socket
        log.level
    )
    local -A v=(
        [sip.address]='"127.0.0.1"'
        [sip.port]=$PORT
        [database.path]="\"$T/sippush.db\""
        [registration.min_expires]=60
        [registration.max_expires]=3600
        [registration.default_expires]=600
        [heartbeat.timeout]=3
        [heartbeat.sweep_interval]=1
        [control.socket]="\"$SOCK\""
        [log.level]='"debug"'
        # the tests register hundreds of clients from 127.0.0.1 at once:
        # no per-source limit (its default: hostile_conf.sh)
        [registration.rate_per_source]=0
    )
    local re='^[[:space:]]*([a-z_]+\.[a-z0-9_]+)[[:space:]]*=[[:space:]]*(.*[^[:space:];])[[:space:];]*$'
    for arg in "$@"; do
        [[ $arg =~ $re ]] ||
            fail "write_config: not 'group.option = value': [$arg]"
        key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
        [ -n "${v[$key]+x}" ] || order+=("$key")
        v[$key]=$val
    done
    local -a groups=()
    for o in "${order[@]}"; do
        [[ " ${groups[*]-} " == *" ${o%%.*} "* ]] || groups+=("${o%%.*}")
    done
    {
        echo "# written by tests/e2e/lib.sh for $TEST_NAME"
        for g in "${groups[@]}"; do
            local body=""
            for o in "${order[@]}"; do
                [ "${o%%.*}" = "$g" ] || continue
                body+="  ${o#*.} = ${v[$o]};"$'\n'
            done
            [ -n "$body" ] && printf '%s = {\n%s};\n' "$g" "$body"
        done
    } >"$file"
}

# _launch: start sippushd on $CONF and wait until the control socket
# answers.  Returns 3 if it could not bind its port (caller may retry).
_launch()
{
    local i
    echo "---- $(date +%T) sippushd -F -f $CONF (port $PORT)" >>"$DAEMON_LOG"
    # SIPPUSHD_WRAPPER: a command to run the daemon under (scripts/valgrind.sh)
    ${SIPPUSHD_WRAPPER:-} "$SIPPUSHD" -F -f "$CONF" </dev/null >>"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    _pids+=("$DAEMON_PID")
    for ((i = 0; i < 200; i++)); do   # 10 s
        if _pid_done "$DAEMON_PID"; then
            wait "$DAEMON_PID" 2>/dev/null || true
            _forget "$DAEMON_PID"
            DAEMON_PID=
            if tail -n 5 "$DAEMON_LOG" | grep -q "cannot listen"; then
                return 3
            fi
            fail "sippushd exited during start-up (log: $DAEMON_LOG)"
        fi
        if SIPPUSH_SOCKET=$SOCK timeout 5 "$SIPPUSHCTL" stats >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    fail "sippushd did not answer on $SOCK within 10s"
}

# start_daemon [OPTION = VALUE...]
start_daemon()
{
    local rc
    [ -z "$DAEMON_PID" ] || fail "start_daemon: a daemon is already running"
    for _ in 1 2 3 4 5; do
        PORT=$(free_port)
        write_config "$CONF" "$@"
        rc=0
        _launch || rc=$?
        [ "$rc" -eq 3 ] || return "$rc"
        echo "start_daemon: port $PORT was taken, trying another" >&2
    done
    fail "start_daemon: could not bind a port in 5 tries"
}

# restart_daemon: same config (same port, database and socket).
restart_daemon()
{
    [ -z "$DAEMON_PID" ] || fail "restart_daemon: a daemon is already running"
    _launch || fail "restart_daemon: port $PORT is no longer free"
}

# stop_daemon: SIGTERM; it must exit 0 within 10 s.  A non-zero status
# (a crash on the way out) fails the test, but only at `pass', so the
# checks after it still run.
stop_daemon()
{
    local rc=0
    [ -n "$DAEMON_PID" ] || fail "stop_daemon: no daemon running"
    kill -TERM "$DAEMON_PID"
    wait_pid "$DAEMON_PID" "${SIPPUSHD_STOP_WAIT:-10}" || rc=$?
    DAEMON_PID=
    [ "$rc" -eq 0 ] && return 0
    soft fail "exit status of sippushd after SIGTERM: expected [0], got [$rc]$(
        [ "$rc" -gt 128 ] && echo " (killed by signal $((rc - 128)))")"
}

# kill_daemon [SIG]: default SIGKILL, no clean shutdown.
kill_daemon()
{
    [ -n "$DAEMON_PID" ] || fail "kill_daemon: no daemon running"
    kill -s "${1:-KILL}" "$DAEMON_PID"
    wait_pid "$DAEMON_PID" 10 || true
    DAEMON_PID=
}

# ---- clients ------------------------------------------------------------

ctl() { SIPPUSH_SOCKET=$SOCK timeout 20 "$SIPPUSHCTL" "$@"; }

sim() { timeout 60 "$SIMCLIENT" -s "127.0.0.1:$PORT" "$@"; }

# sim_bg ARGS... STEPS...: simclient in the background (BG_PID), bounded.
sim_bg() { bg timeout 60 "$SIMCLIENT" -s "127.0.0.1:$PORT" "$@"; }

# client_field ID FIELD: one field of the client's JSON record.
client_field() { ctl --json client "$1" | jq -r ".$2"; }

# clients_json [ARGS...]: the JSON array of `sippushctl clients ARGS'.
clients_json() { ctl --json clients "$@"; }

# count_state STATE [ARGS...]: how many clients listed are in STATE.
count_state()
{
    local st=$1
    shift
    ctl --json clients "$@" | jq --arg s "$st" '[.[] | select(.state == $s)] | length'
}

# state_is ID STATE: for wait_until.
state_is() { [ "$(client_field "$1" state)" = "$2" ]; }

# all_in_state N STATE [ARGS...]: for wait_until.
all_in_state()
{
    local n=$1 st=$2
    shift 2
    [ "$(count_state "$st" "$@")" = "$n" ]
}

# ---- baresip (a third-party SIP user agent) --------------------------------

# start_baresip SECONDS ACCOUNT...: baresip (baresip-core), headless, on a
# free port of 127.0.0.1, with one account per ACCOUNT line (an address
# and its parameters, baresip's accounts syntax), stopping by itself after
# SECONDS; its log in $T/baresip.log; sets BARESIP_PID and BARESIP_PORT
# (its SIP port). Only what
# registration and MESSAGE need: the menu module listens for messages
# (with no module listening, baresip answers MESSAGE 501); no audio or
# video, no module reading stdin, no control ports.
start_baresip()
{
    local secs=$1 b=$T/baresip
    shift
    BARESIP_PORT=$(free_port)
    command -v baresip >/dev/null 2>&1 ||
        fail "baresip is not installed (scripts/install-deps.sh installs baresip-core)"
    mkdir -p "$b"
    cat >"$b/config" <<EOF2
poll_method		epoll
sip_listen		127.0.0.1:$BARESIP_PORT
module_path		/usr/lib/baresip/modules
audio_player		none
audio_source		none
audio_alert		none
module			menu.so
module_tmp		uuid.so
module_tmp		account.so
EOF2
    printf '%s\n' "$@" >"$b/accounts"
    : >"$b/contacts"
    # -t: a bound of its own, in case everything else fails to stop it
    # (not under timeout(1): a SIGKILL must reach baresip itself)
    bg_log "$T/baresip.log" baresip -f "$b" -t "$secs"
    BARESIP_PID=$BG_PID
}

# stop_baresip: SIGTERM, then SIGKILL after 10 s.
stop_baresip()
{
    local i
    kill -TERM "$BARESIP_PID"
    for ((i = 0; i < 100; i++)); do _pid_done "$BARESIP_PID" && break; sleep 0.1; done
    _pid_done "$BARESIP_PID" || _stop_pid "$BARESIP_PID" KILL 5
    wait_pid "$BARESIP_PID" 5 || true
}

# ---- sippush-agent ($AGENT, set by the test) ---------------------------

# start_agent NAME [FLAGS...]: sippush-agent -F -f $T/NAME.conf FLAGS, its
# stdout in $T/NAME.out, its log in $T/NAME.log; sets PID_NAME.
start_agent()
{
    local name=$1
    shift
    echo "---- $(date +%T) start" >>"$T/$name.log"
    bg bash -c 'out=$1 log=$2; shift 2; exec "$@" >>"$out" 2>>"$log"' _ \
        "$T/$name.out" "$T/$name.log" "$AGENT" -F -f "$T/$name.conf" "$@"
    printf -v "PID_$name" '%s' "$BG_PID"
}

# stop_agent NAME: SIGTERM, it must exit 0 within 10 s.
stop_agent()
{
    local pidvar=PID_$1 rc=0
    kill -TERM "${!pidvar}"
    wait_pid "${!pidvar}" 10 || rc=$?
    assert_eq 0 "$rc" "exit status of agent $1 after SIGTERM"
}

# relay_hook: $T/hook.sh, the agents' hook of the relay tests: a relayed
# request is answered on stdout ("ID heard BODY from SENDER (CLASS)";
# a body "sleep..." waits 10 s, "fail..." exits 3), a control message is
# recorded in $T/control as "ID|MESSAGE-ID|BODY".
relay_hook()
{
    cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
body=$(cat)
if [ -n "$SIPPUSH_REQUEST" ]; then
    case $body in
    sleep*) sleep 10 ;;
    fail*) echo "cannot do $body"; exit 3 ;;
    esac
    echo "$SIPPUSH_CLIENT_ID heard $body from $SIPPUSH_FROM ($SIPPUSH_FROM_CLASS)"
    exit 0
fi
echo "$SIPPUSH_CLIENT_ID|$SIPPUSH_MESSAGE_ID|$body" >>"$(dirname "$0")/control"
EOF
    chmod +x "$T/hook.sh"
}

# send NAME TARGET BODY [FLAGS]: sippush-agent --send as NAME (config
# $T/NAME.conf); its answer in OUT (stdout), ERR (stderr's sippush-agent
# lines) and RC (exit status).
send()
{
    local name=$1 to=$2 body=$3
    shift 3
    RC=0
    OUT=$(timeout 30 "$AGENT" -f "$T/$name.conf" "$@" --send "$to" "$body" \
        2>"$T/send.err") || RC=$?
    ERR=$(grep '^sippush-agent:' "$T/send.err" || true)
    cat "$T/send.err" >>"$T/send.log"
}
