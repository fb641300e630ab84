#!/usr/bin/env bash
# ctl.sh -- sippushctl: exit statuses (0 done, 1 refused, 2 usage or no
# daemon, 4 permission denied, 5 no answer within --timeout, 6 publish
# --wait lost the daemon after the ID was printed), the clients table
# (header, aligned columns), --json output, stats against the table, a
# socket the user may not use, and control.group (a group whose members
# may use it).
. "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------------
step "no daemon: exit 2, 'not running'"
assert_status 2 env SIPPUSH_SOCKET="$T/nothing.sock" timeout 10 "$SIPPUSHCTL" stats
assert_contains "$OUT" "sippushd is not running" "sippushctl stats without a daemon"
assert_contains "$OUT" "$T/nothing.sock"
assert_status 2 timeout 10 "$SIPPUSHCTL" -s "$T/nothing.sock" --json clients
assert_contains "$OUT" "sippushd is not running" "sippushctl -s PATH --json clients without a daemon"

step "usage errors: exit 2 (no daemon needed)"
assert_status 2 timeout 10 "$SIPPUSHCTL"
assert_contains "$OUT" "usage: sippushctl" "sippushctl (no command)"
assert_status 2 timeout 10 "$SIPPUSHCTL" -s "$T/nothing.sock" frobnicate
assert_contains "$OUT" 'unknown command "frobnicate"'
assert_status 2 timeout 10 "$SIPPUSHCTL" --frobnicate stats
assert_contains "$OUT" "usage: sippushctl" "sippushctl --frobnicate stats"
# getopt's complaint names the program, not the path it was run by
assert_match "$OUT" "^sippushctl: unrecognized option '--frobnicate'" "sippushctl --frobnicate stats"
assert_not_contains "$OUT" "$SIPPUSHCTL:" "sippushctl --frobnicate stats"
assert_status 2 timeout 10 "$SIPPUSHCTL" -s "$T/nothing.sock" clients --bogus
assert_match "$OUT" "^sippushctl: clients: unrecognized option '--bogus'" "sippushctl clients --bogus"
assert_status 2 timeout 10 "$SIPPUSHCTL" -s "$T/nothing.sock" user add x --bogus
assert_match "$OUT" "^sippushctl: user add: unrecognized option '--bogus'" "sippushctl user add x --bogus"
assert_status 2 timeout 10 "$SIPPUSHCTL" --timeout soon stats
assert_contains "$OUT" 'sippushctl: bad --timeout "soon"'
assert_status 0 timeout 10 "$SIPPUSHCTL" -h
assert_contains "$OUT" "usage: sippushctl" "sippushctl -h"
assert_status 0 timeout 10 "$SIPPUSHCTL" --version
assert_match "$OUT" '^sippushctl [0-9]+\.[0-9]+\.[0-9]+' "sippushctl --version"

step "control.group: an unknown group is a configuration error with file:line"
PORT=5060       # (not started: start_daemon picks a free port)
write_config "$T/badgroup.conf" 'control.group = "no-such-group-sippush"'
assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/badgroup.conf"
assert_match "$OUT" "^sippushd: $T/badgroup.conf:[0-9]+: control.group: no group named \"no-such-group-sippush\"" \
    "sippushd -n with an unknown control.group"

step "a socket folder anybody may write (no sticky bit) is refused at start"
mkdir "$T/open"
chmod 777 "$T/open"
write_config "$T/open.conf" "control.socket = \"$T/open/s.sock\"" "database.path = \"$T/open.db\""
assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/open.conf"
assert_contains "$OUT" "sippushd: $T/open/s.sock: folder $T/open is writable by anybody" "sippushd with a folder of mode 0777"
[ ! -e "$T/open/s.sock" ] || fail "a socket was made in the open folder"

# Dedicated folder for the socket, searchable by others (for the
# permission test below); the socket itself is the daemon's, mode 0600.
pub=$T/pub
mkdir "$pub"
chmod 711 "$T" "$pub"
SOCK=$pub/sippushd.sock
start_daemon 'heartbeat.timeout = 2' 'registration.min_expires = 1'

step "usage errors with a daemon running: still exit 2, nothing sent"
for args in "clients --bogus" "clients --online --offline" "clients extra" \
        "client" "client a b" "stats extra" "frobnicate" "--frobnicate clients"; do
    # shellcheck disable=SC2086
    assert_status 2 ctl $args
done
assert_contains "$(cat "$DAEMON_LOG")" "control: listening" "daemon log"

step "client NOPE: exit 1, 'no such client'"
assert_status 1 ctl client NOPE
assert_contains "$OUT" "no such client"
assert_status 1 ctl --json client 'we ird%20id'
assert_contains "$OUT" "no such client"
assert_status 0 ctl --json clients --class 'x y=z%'
assert_eq '[]' "$OUT" "clients --class with spaces, = and %"

# ---------------------------------------------------------------------
step "a table with every state: online, offline, unregistered, expired"
sim_bg -n 2 -p longclientname -c verylongclassname --interval 0.5 register heartbeat:12
beat_pid=$BG_PID
sim -n 3 -p a -c x register
sim -n 2 -p u -c x register unregister
sim -n 2 -p e -c y -e 1 register
sim -n 1 -p t -c y --tcp -e 120 register
# a, t silent: offline after ~3 s; e: expired after ~1-2 s
wait_until 8 eval '[ "$(ctl --json stats | jq -c "[.online, .offline, .unregistered, .expired]")" = "[2,4,2,2]" ]'

table=$(ctl clients)
json=$(ctl --json clients)
printf '%s\n' "$table"

step "the table: header, one row per client sorted by ID, aligned columns"
header=$(head -n 1 <<<"$table")
assert_match "$header" '^ID +CLASS +STATE +TRANSPORT +SOURCE +LAST-SEEN +EXPIRES$' "table header"
assert_eq 11 "$(wc -l <<<"$table")" "table lines (header + 10 clients)"
assert_eq "a0 a1 a2 e0 e1 longclientname0 longclientname1 t0 u0 u1" \
    "$(sed 1d <<<"$table" | awk '{ printf "%s%s", sep, $1; sep = " " }')" "IDs in the table"
# Every column starts where its heading starts, after at least two spaces,
# and no line ends in a space.
misaligned=$(awk '
    NR == 1 {
        n = 0
        for (i = 1; i <= length($0); i++)
            if (substr($0, i, 1) != " " && (i == 1 || substr($0, i - 1, 1) == " "))
                col[++n] = i
        next
    }
    {
        for (j = 2; j <= n; j++)
            if (substr($0, col[j] - 2, 2) != "  " || substr($0, col[j], 1) == " ") {
                print "line " NR ", column " j ": [" $0 "]"
                break
            }
        if ($0 ~ / $/)
            print "line " NR " ends in a space"
    }' <<<"$table")
assert_eq "" "$misaligned" "misaligned table cells"
# the widest values set the widths: the long ID and class fit
assert_match "$table" '^longclientname0  verylongclassname  online  ' "row of longclientname0"
assert_match "$table" '^a0 +x +offline +udp +127\.0\.0\.1:[0-9]+ +[0-9]+s ago +in [0-9]+m[0-9]+s$' "row of a0"
assert_match "$table" '^u0 +x +unregistered +udp +127\.0\.0\.1:[0-9]+ +[0-9]+s ago +-$' "row of u0"
assert_match "$table" '^e1 +y +expired +udp .* -$' "row of e1"
assert_match "$table" '^t0 +y +offline +tcp +127\.0\.0\.1:[0-9]+ ' "row of t0"

step "--json parses, and says what the table says"
jq -e 'type == "array" and length == 10' <<<"$json" >/dev/null || fail "clients --json is not an array of 10: $json"
from_json=$(jq -r '.[] | "\(.id) \(.class) \(.state) \(.transport) \(.address):\(.port)"' <<<"$json")
from_table=$(sed 1d <<<"$table" | awk '{ print $1, $2, $3, $4, $5 }')
assert_eq "$from_json" "$from_table" "table rows vs JSON records"
jq -e 'all(.[]; (.port | type) == "number" and (.registered_at | type) == "number"
        and (.expires_at | type) == "number" and (.last_seen | type) == "number"
        and (.id | type) == "string" and (.contact | type) == "string")' <<<"$json" >/dev/null ||
    fail "clients --json: wrong field types: $json"
# (last_seen of the heartbeating clients moves on between two calls)
nols() { jq -c 'map(del(.last_seen))'; }
assert_eq "$(nols <<<"$json")" "$(ctl clients --json | nols)" "--json after the command"
assert_eq "$(nols <<<"$json")" "$(ctl -j clients | nols)" "-j"
assert_eq 5 "$(ctl clients -j --class x --offline | jq length)" "clients -j --class x --offline (offline + unregistered)"
one=$(ctl --json client longclientname1)
jq -e 'type == "object" and .id == "longclientname1" and .class == "verylongclassname"
       and .state == "online" and .transport == "udp"' <<<"$one" >/dev/null ||
    fail "client --json longclientname1: $one"
assert_eq "$(jq -c '.[] | select(.id == "t0") | del(.last_seen)' <<<"$json")" \
    "$(ctl --json client t0 | jq -c 'del(.last_seen)')" "client t0 vs its row in clients"

step "client ID (plain): one 'key  value' line per field"
plain=$(ctl client u1)
assert_match "$plain" '^id +u1$' "client u1"
assert_match "$plain" '^state +unregistered$' "client u1"
assert_match "$plain" '^user_agent +sippush-simclient$' "client u1"
assert_match "$plain" '^registered_at +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} \(' "client u1"

step "stats counts match the table"
stats=$(ctl --json stats)
jq -e 'type == "object" and (.clients | type) == "number" and (.uptime | type) == "number"
       and (.version | type) == "string"' <<<"$stats" >/dev/null || fail "stats --json: $stats"
rows=$(sed 1d <<<"$table")
assert_eq "$(wc -l <<<"$rows")" "$(jq .clients <<<"$stats")" "stats clients vs table rows"
for st in online offline expired unregistered; do
    assert_eq "$(awk -v s="$st" '$3 == s' <<<"$rows" | wc -l)" "$(jq ".$st" <<<"$stats")" "stats $st vs table"
done
assert_eq "$(jq .clients <<<"$stats")" "$(jq '.online + .offline + .expired + .unregistered' <<<"$stats")" \
    "stats: clients = sum of the states"
assert_eq 2 "$(ctl clients --online | sed 1d | wc -l)" "rows of clients --online"
assert_eq 8 "$(ctl clients --offline | sed 1d | wc -l)" "rows of clients --offline"
plain=$(ctl stats)
assert_match "$plain" '^clients +10$' "stats (plain)"
assert_match "$plain" '^online +2$' "stats (plain)"
assert_eq 2 "$(ctl clients --class verylongclassname --online | sed 1d | wc -l)" \
    "rows of clients --class verylongclassname --online"
empty=$(ctl clients --class nobody-has-this)
assert_match "$empty" '^ID +CLASS +STATE +TRANSPORT +SOURCE +LAST-SEEN +EXPIRES$' "table with no rows"
assert_eq 1 "$(wc -l <<<"$empty")" "lines of a table with no rows"

# ---------------------------------------------------------------------
step "a socket the user may not use: exit 4, 'permission denied'"
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP (this part only): needs root to run sippushctl as nobody"
else
    assert_eq 600 "$(stat -c %a "$SOCK")" "mode of the control socket"
    assert_eq 0 "$(stat -c %u "$SOCK")" "owner of the control socket"
    install -m 755 "$SIPPUSHCTL" "$pub/sippushctl"
    if command -v setpriv >/dev/null 2>&1; then
        as_nobody() { setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups -- "$@"; }
    else
        as_nobody() { su -s /bin/sh nobody -c "$(printf '%q ' "$@")"; }
    fi
    as_nobody stat "$pub/sippushctl" >/dev/null 2>&1 ||
        fail "nobody cannot reach $pub (a parent folder is not searchable by others?)"
    assert_status 4 as_nobody env HOME=/ SIPPUSH_SOCKET="$SOCK" timeout 10 "$pub/sippushctl" stats
    assert_contains "$OUT" "sippushctl: permission denied on $SOCK: run as root or as the user sippushd runs as" \
        "sippushctl stats as nobody"

    step "... and if the socket's mode lets nobody in, the daemon refuses the peer"
    chmod 666 "$SOCK"
    assert_status 4 as_nobody env HOME=/ SIPPUSH_SOCKET="$SOCK" timeout 10 "$pub/sippushctl" --json clients
    assert_contains "$OUT" "run as root or as the user sippushd runs as" "sippushctl as nobody, socket 0666"
    assert_not_contains "$OUT" "longclientname" "sippushctl as nobody, socket 0666"
    chmod 600 "$SOCK"
    wait_until 3 grep -q "connection refused: peer uid $(id -u nobody) is not root" "$DAEMON_LOG"
    assert_eq 10 "$(ctl --json stats | jq .clients)" "root still served"

    # control.group: a group nobody is not in (no /etc/group change)
    grp=
    for g in adm staff users daemon; do
        getent group "$g" >/dev/null 2>&1 || continue
        id -G nobody | tr ' ' '\n' | grep -qx "$(getent group "$g" | cut -d: -f3)" && continue
        grp=$g
        break
    done
    if [ -z "$grp" ]; then
        echo "SKIP (this part only): no group found that nobody is not in"
    else
        gid=$(getent group "$grp" | cut -d: -f3)
        ngid=$(id -g nobody)
        step "control.group = \"$grp\": the socket is the group's, mode 0660"
        stop_daemon
        start_daemon "control.group = \"$grp\""
        assert_eq "660 0 $gid" "$(stat -c '%a %u %g' "$SOCK")" "mode, owner, group of the socket"
        assert_contains "$(cat "$DAEMON_LOG")" "control: listening on $SOCK (mode 0660, group $grp)" "daemon log"

        step "a member of $grp (supplementary group) is admitted"
        as_member() { setpriv --reuid=nobody --regid="$ngid" --groups="$gid" -- "$@"; }
        assert_status 0 as_member env HOME=/ SIPPUSH_SOCKET="$SOCK" timeout 10 "$pub/sippushctl" --json stats
        jq -e '.clients | type == "number"' <<<"$OUT" >/dev/null || fail "stats as a member of $grp: $OUT"
        step "... and one whose primary group is $grp"
        assert_status 0 setpriv --reuid=nobody --regid="$gid" --clear-groups -- \
            env HOME=/ SIPPUSH_SOCKET="$SOCK" timeout 10 "$pub/sippushctl" stats

        step "a user outside $grp is refused, and told which group lets one in"
        assert_status 4 as_nobody env HOME=/ SIPPUSH_SOCKET="$SOCK" timeout 10 "$pub/sippushctl" stats
        assert_contains "$OUT" "sippushctl: permission denied on $SOCK: run as root or as a member of group $grp (control.group)" \
            "sippushctl stats as nobody, control.group = $grp"
        step "... also when the socket's mode would let it in (the daemon checks the peer)"
        chmod 666 "$SOCK"
        assert_status 4 as_nobody env HOME=/ SIPPUSH_SOCKET="$SOCK" timeout 10 "$pub/sippushctl" stats
        assert_contains "$OUT" "member of group $grp (control.group)" "sippushctl as nobody, socket 0666"
        chmod 660 "$SOCK"
        wait_until 3 grep -q "connection refused: peer uid $(id -u nobody) is not root, the daemon's user or a member of group $grp" "$DAEMON_LOG"
    fi
fi

# ---------------------------------------------------------------------
step "a stopped daemon (SIGSTOP): --timeout ends the wait, exit 5"
assert_match "$("$SIPPUSHCTL" --help)" '--timeout DURATION .*' "--help"
assert_contains "$("$SIPPUSHCTL" --help)" "(default 30s; 0: wait for ever)" "--help"
kill -STOP "$DAEMON_PID"
t0=$(date +%s)
assert_status 5 env SIPPUSH_SOCKET="$SOCK" timeout 20 "$SIPPUSHCTL" --timeout 1 stats
assert_contains "$OUT" "sippushctl: sippushd did not answer within 1s (stopped or hung?) on $SOCK" \
    "sippushctl --timeout 1 stats, daemon stopped"
assert_status 5 env SIPPUSH_SOCKET="$SOCK" timeout 20 "$SIPPUSHCTL" --timeout 2s --json clients
assert_status 5 env SIPPUSH_SOCKET="$SOCK" timeout 20 "$SIPPUSHCTL" --timeout 1 publish --client a0 'never sent'
elapsed=$(($(date +%s) - t0))
[ "$elapsed" -le 12 ] || fail "three commands with --timeout 1, 2, 1 took ${elapsed}s"
kill -CONT "$DAEMON_PID"
assert_status 0 env SIPPUSH_SOCKET="$SOCK" timeout 20 "$SIPPUSHCTL" --timeout 1 --json stats
# a listing that keeps coming is not cut by the timeout (it bounds each
# wait for the daemon, not the whole command)
assert_eq 10 "$(ctl --timeout 1 --json clients | jq length)" "clients with --timeout 1"

step "publish --wait, then the daemon stops answering: exit 6, not 2"
# (a0 is offline: its target stays pending, --wait follows it)
bg sh -c 'SIPPUSH_SOCKET=$1 exec timeout 30 "$2" --timeout 1 publish --client a0 --ttl 600 --wait "follow me" \
    >"$3/wait1.out" 2>"$3/wait1.err"' sh "$SOCK" "$SIPPUSHCTL" "$T"
wpid=$BG_PID
wait_until 10 grep -Eq '^[0-9a-f]{16}$' "$T/wait1.out"
wid=$(cat "$T/wait1.out")
kill -STOP "$DAEMON_PID"
rc=0
wait_pid "$wpid" 15 || rc=$?
kill -CONT "$DAEMON_PID"
assert_eq 6 "$rc" "exit status of publish --wait when sippushd stops answering (stderr: $(cat "$T/wait1.err"))"
assert_contains "$(cat "$T/wait1.err")" "did not answer within 1s (stopped or hung?) on $SOCK while following $wid: it is published (do not publish it again); follow it with: sippushctl status $wid" \
    "publish --wait, daemon stopped"
assert_eq 1 "$(ctl --json status "$wid" | jq .message.pending)" "the message followed is still there"

step "publish --wait, then the daemon dies (kill -9): exit 6"
bg sh -c 'SIPPUSH_SOCKET=$1 exec timeout 30 "$2" publish --client a0 --ttl 600 --wait "follow me too" \
    >"$3/wait2.out" 2>"$3/wait2.err"' sh "$SOCK" "$SIPPUSHCTL" "$T"
wpid=$BG_PID
wait_until 10 grep -Eq '^[0-9a-f]{16}$' "$T/wait2.out"
wid=$(cat "$T/wait2.out")
kill_daemon KILL
rc=0
wait_pid "$wpid" 10 || rc=$?
assert_eq 6 "$rc" "exit status of publish --wait when sippushd dies (stderr: $(cat "$T/wait2.err"))"
assert_contains "$(cat "$T/wait2.err")" "sippushd is not running (nothing answers on $SOCK) while following $wid: it is published" \
    "publish --wait, daemon killed"

step "the daemon gone (kill -9, stale socket file): exit 2, 'not running'"
[ -S "$SOCK" ] || fail "expected the stale socket $SOCK"
assert_status 2 ctl stats
assert_contains "$OUT" "sippushd is not running" "sippushctl stats with a stale socket"
_stop_pid "$beat_pid" TERM 5
_forget "$beat_pid"
pass
