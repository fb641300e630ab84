#!/usr/bin/env bash
# demo.sh -- the quick start: install the dependencies, build, run
# sippushd on 127.0.0.1 with its state in ./state, register a few
# simulated clients of two classes (heartbeating) and one real SIP user
# agent (baresip), and show the application-information table.
#
# Usage: scripts/demo.sh
#   SIPPUSH_PORT=N   SIP port (default 5060)
#   DEMO_ONCE=1      stop after showing the table (also when stdin is not
#                    a terminal); otherwise the daemon keeps running, its
#                    log is followed, and Ctrl-C stops everything.
# Everything the demo writes goes to ./state/ (the database, the control
# socket, the configuration and the logs); a later run reuses it.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
port=${SIPPUSH_PORT:-5060}
state=state
conf=$state/sippushd.conf
sock=$state/sippushd.sock
log=$state/sippushd.log

if [ -t 1 ]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi
die() { echo "demo: $*" >&2; exit 1; }

case $port in
    ''|*[!0-9]*) die "SIPPUSH_PORT must be a port number, not '$port'" ;;
esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "SIPPUSH_PORT must be 1..65535"

once=0
if [ "${DEMO_ONCE:-0}" = 1 ] || [ ! -t 0 ]; then
    once=1
fi

# ---- dependencies and build ---------------------------------------------
say "installing the dependencies (scripts/install-deps.sh)"
bash scripts/install-deps.sh

say "building (scripts/build.sh)"
SIPPUSH_SKIP_DEPS=1 bash scripts/build.sh
make -j"${JOBS:-2}" tests/simclient >/dev/null

# ---- configuration --------------------------------------------------------
mkdir -p "$state"
cat >"$conf" <<EOF
# Written by scripts/demo.sh: the built-in defaults (see etc/sippushd.conf),
# except where to listen and where to keep the state.  Relative paths are
# taken from the folder sippushd is started in (the repository's top).
sip = {
  address = "127.0.0.1";
  port = $port;
};
database = {
  path = "./$state/sippush.db";
};
control = {
  socket = "./$state/sippushd.sock";
};
# client-to-client requests: a kiosk may ask a signage screen (sippushd(8),
# RELAY); off by default
relay = {
  enabled = true;
  rules = [ "kiosk -> signage" ];
};
EOF
export SIPPUSH_SOCKET=$root/$sock

if command -v ss >/dev/null 2>&1 &&
   [ -n "$(ss -Hlnu "sport = :$port" 2>/dev/null)$(ss -Hlnt "sport = :$port" 2>/dev/null)" ]; then
    die "port $port is already in use on this machine; run with SIPPUSH_PORT=another-port"
fi

# ---- processes, and their cleanup ----------------------------------------
daemon_pid=
pids=()
cleanup()
{
    local rc=$? p i alive
    trap - EXIT INT TERM
    set +e
    # the clients first (baresip unregisters on its way out), then the daemon
    for p in "${pids[@]+"${pids[@]}"}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for ((i = 0; i < 50; i++)); do
        alive=0
        for p in "${pids[@]+"${pids[@]}"}"; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]+"${pids[@]}"}"; do
        kill -KILL "$p" 2>/dev/null
    done
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        echo "demo: stopping sippushd (pid $daemon_pid)"
        kill -TERM "$daemon_pid"
        for ((i = 0; i < 100; i++)); do
            kill -0 "$daemon_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid"
    fi
    wait 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

say "starting sippushd -F -f $conf (SIP on 127.0.0.1:$port, log in $log)"
./sippushd -F -f "$conf" </dev/null >>"$log" 2>&1 &
daemon_pid=$!
ready=0
for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        tail -n 5 "$log" >&2
        daemon_pid=
        die "sippushd did not start (see above, and $log)"
    fi
    if timeout 5 ./sippushctl stats >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
[ "$ready" = 1 ] || die "sippushd did not answer on $sock within 10 s (see $log)"
./sippushctl stats | sed -n 's/^version */sippushd version /p'

# ---- clients --------------------------------------------------------------
# (the database may hold these clients from an earlier run: wait for this
# run's registrations)
t_start=$(date +%s)
registered_now()
{
    local at
    at=$(./sippushctl --json client "$1" 2>/dev/null |
        grep -o '"registered_at":[0-9]*' | cut -d: -f2) || return 1
    [ -n "$at" ] && [ "$at" -ge "$t_start" ]
}

# simclient plays many SIP clients; each step runs for all of them.  These
# register and then heartbeat (an OPTIONS every 15 s) for a day.
say "registering 3 clients of class kiosk and 2 of class signage (tests/simclient)"
./tests/simclient -s "127.0.0.1:$port" -n 3 -p kiosk- -c kiosk --interval 15 \
    register heartbeat:86400 </dev/null >"$state/simclient-kiosk.log" 2>&1 &
pids+=($!)
./tests/simclient -s "127.0.0.1:$port" -n 2 -p signage- -c signage --interval 15 \
    register heartbeat:86400 </dev/null >"$state/simclient-signage.log" 2>&1 &
pids+=($!)

agent=none
if command -v baresip >/dev/null 2>&1; then
    say "registering a third-party SIP user agent: baresip, as 'desk1' (no class: the default)"
    bdir=$state/baresip
    mkdir -p "$bdir"
    cat >"$bdir/config" <<EOF
poll_method		epoll
sip_listen		127.0.0.1:0
module_path		/usr/lib/baresip/modules
audio_player		none
audio_source		none
audio_alert		none
module_tmp		uuid.so
module_tmp		account.so
EOF
    echo "<sip:desk1@127.0.0.1:$port;transport=udp>;regint=60;mwi=no;pubint=0" >"$bdir/accounts"
    : >"$bdir/contacts"
    baresip -f "$bdir" </dev/null >"$state/baresip.log" 2>&1 &
    pids+=($!)
    agent=desk1
fi

ids=(kiosk-0 kiosk-1 kiosk-2 signage-0 signage-1)
[ "$agent" = none ] || ids+=("$agent")
for ((i = 0; i < 100; i++)); do
    missing=()
    for id in "${ids[@]}"; do
        registered_now "$id" || missing+=("$id")
    done
    [ ${#missing[@]} -eq 0 ] && break
    sleep 0.1
done
[ ${#missing[@]} -eq 0 ] ||
    echo "demo: not registered after 10 s: ${missing[*]} (see $state/*.log)" >&2

say "sippushctl clients"
./sippushctl clients
say "sippushctl clients --class kiosk"
./sippushctl clients --class kiosk
if [ "$agent" != none ]; then
    say "sippushctl client $agent"
    ./sippushctl client "$agent"
fi

# a control message for both classes; --wait follows it until every
# target has acknowledged (the simulated clients answer 200)
say "sippushctl publish --class kiosk --class signage --ttl 1m --wait 'reload the page'"
if msgid=$(timeout 70 ./sippushctl publish --class kiosk --class signage \
    --ttl 1m --wait 'reload the page'); then
    say "sippushctl status $msgid"
    ./sippushctl status "$msgid"
else
    echo "demo: the control message did not reach every target (see $log)" >&2
fi

# client-to-client: an agent answers requests with its hook's output
say "client-to-client: sippush-agent 'screen1' (class signage) answers requests with its hook"
cat >"$state/screen1-hook.sh" <<'HOOK'
#!/bin/sh
echo "screen1 shows the lunch menu (asked by $SIPPUSH_FROM: $(cat))"
HOOK
chmod +x "$state/screen1-hook.sh"
./sippush-agent -F -s "127.0.0.1:$port" -b 127.0.0.1 -i screen1 -c signage \
    -S "./$state/screen1.seen" -H "$root/$state/screen1-hook.sh" \
    </dev/null >>"$state/screen1.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do
    ./sippushctl client screen1 2>/dev/null | grep -q online && break
    sleep 0.1
done
say "sippush-agent -i kiosk9 -c kiosk --send screen1 'what is on?' (relayed by sippushd)"
./sippush-agent -s "127.0.0.1:$port" -b 127.0.0.1 -i kiosk9 -c kiosk \
    -S "./$state/kiosk9.seen" --send screen1 'what is on?' || true
say "a panel may not ask (no rule lets it): 403"
./sippush-agent -s "127.0.0.1:$port" -b 127.0.0.1 -i panel1 -c panel \
    -S "./$state/panel1.seen" --send screen1 'let me in' || true

say "sippushctl stats"
./sippushctl stats

if [ "$once" = 1 ]; then
    say "done (DEMO_ONCE=1 or no terminal): stopping"
    exit 0
fi

say "sippushd keeps running; Ctrl-C stops it"
cat <<EOF
In another terminal, from $root:
  export SIPPUSH_SOCKET=$root/$sock
  ./sippushctl clients            # the table
  ./sippushctl --json stats       # counts, as JSON
  ./tests/simclient -s 127.0.0.1:$port -n 10 -p more- -c kiosk register
The daemon's log follows.

EOF
tail -n 0 -f "$log" --pid="$daemon_pid" &
pids+=($!)
wait "$daemon_pid" || true
daemon_pid=
echo "demo: sippushd exited (see $log)" >&2
exit 1
