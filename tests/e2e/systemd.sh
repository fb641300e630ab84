#!/usr/bin/env bash
# systemd.sh -- running under systemd: the generated units pass
# `systemd-analyze verify' (no warning either); the sysusers.d and
# tmpfiles.d files make the sippush user and the database and socket
# folders in a scratch root; sippushd -F and sippush-agent -F tell
# systemd (NOTIFY_SOCKET) READY=1 only once they serve and STOPPING=1 on
# SIGTERM; on a stderr that is the journal (JOURNAL_STREAM) each line
# carries its priority as "<N>" and no time of its own.
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built"
command -v systemd-analyze >/dev/null ||
    fail "systemd-analyze is missing (Debian: apt-get install systemd; scripts/install-deps.sh does)"
command -v perl >/dev/null || fail "perl is missing"

for f in etc/sippushd.service etc/sippush-agent.service \
    etc/sysusers.d/sippush.conf etc/tmpfiles.d/sippush.conf; do
    [ -s "$top_builddir/$f" ] || fail "$top_builddir/$f is not built (run make)"
done

# ---------------------------------------------------------------------
step "the units name this build's paths and nothing is left to substitute"
for f in etc/sippushd.service etc/sippush-agent.service \
    etc/sysusers.d/sippush.conf etc/tmpfiles.d/sippush.conf; do
    assert_not_contains "$(cat "$top_builddir/$f")" "@" "$f"
done
sbindir=$(sed -n 's|^ExecStart=\(.*\)/sippushd -F$|\1|p' "$top_builddir/etc/sippushd.service")
[ -n "$sbindir" ] || fail "sippushd.service: no 'ExecStart=SBINDIR/sippushd -F'"
assert_contains "$(cat "$top_builddir/etc/sippushd.service")" "Type=notify"

step "systemd-analyze verify: no error, no warning"
# verify wants the programs where ExecStart says: point it at this build
mkdir -p "$T/units"
sed "s|^ExecStart=[^ ]*/sippushd |ExecStart=$SIPPUSHD |" \
    "$top_builddir/etc/sippushd.service" >"$T/units/sippushd.service"
sed "s|^ExecStart=[^ ]*/sippush-agent |ExecStart=$AGENT |" \
    "$top_builddir/etc/sippush-agent.service" >"$T/units/sippush-agent.service"
for u in sippushd sippush-agent; do
    out=$(cd "$T/units" && systemd-analyze verify --man=no "./$u.service" 2>&1) ||
        fail "systemd-analyze verify $u.service: $out"
    # unknown keys and bad values are only warnings: refuse those too
    assert_eq "" "$out" "what systemd-analyze verify says of $u.service"
done

step "sysusers.d and tmpfiles.d make the user and the folders (scratch root)"
root=$T/root
mkdir -p "$root/etc"
: >"$root/etc/passwd"
: >"$root/etc/group"
systemd-sysusers --root="$root" "$top_builddir/etc/sysusers.d/sippush.conf" >/dev/null 2>&1 ||
    fail "systemd-sysusers --root: $(systemd-sysusers --root="$root" \
        "$top_builddir/etc/sysusers.d/sippush.conf" 2>&1)"
assert_match "$(cat "$root/etc/passwd")" '^sippush:x:[0-9]+:[0-9]+:' "the sippush user"
assert_match "$(cat "$root/etc/group")" '^sippush:x:[0-9]+:' "the sippush group"
if [ "$(id -u)" = 0 ]; then
    systemd-tmpfiles --root="$root" --create "$top_builddir/etc/tmpfiles.d/sippush.conf" ||
        fail "systemd-tmpfiles --create failed"
    uid=$(awk -F: '$1 == "sippush" { print $3 }' "$root/etc/passwd")
    for d in $(awk '$1 == "d" { print $2 }' "$top_builddir/etc/tmpfiles.d/sippush.conf"); do
        [ -d "$root$d" ] || fail "tmpfiles.d did not make $d"
        assert_eq "$uid 750" "$(stat -c '%u %a' "$root$d")" "owner and mode of $d"
    done
    dbdir=$(sed -n 's|^ReadWritePaths=\([^ ]*\) .*|\1|p' "$top_builddir/etc/sippushd.service")
    [ -d "$root$dbdir" ] || fail "ReadWritePaths= names $dbdir, which tmpfiles.d does not make"
else
    echo "(not root: the tmpfiles.d folders are not made, their chown needs root)"
fi

# ---------------------------------------------------------------------
# notify_listen FILE: a stand-in for systemd's notification socket; every
# datagram becomes a line of FILE, its newlines as "|".
notify_listen()
{
    rm -f "$T/notify.sock"
    bg timeout 60 perl -MIO::Socket::UNIX -e '
        my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $ARGV[0])
            or die "notify socket: $!";
        open(my $out, ">>", $ARGV[1]) or die "$ARGV[1]: $!";
        $out->autoflush(1);
        while (defined $s->recv(my $d, 4096)) {
            # is it serving when it says so? (NOTIFY_CHECK: a command)
            my $chk = ($d =~ /READY=1/ && $ENV{NOTIFY_CHECK}) ?
                " check=" . (system($ENV{NOTIFY_CHECK}) >> 8) : "";
            $d =~ s/\n/|/g;
            print $out "$d$chk\n";
        }
    ' "$T/notify.sock" "$1"
    wait_until 5 test -S "$T/notify.sock"
}

step "sippushd -F: READY=1 once it serves, STOPPING=1 on SIGTERM"
# the listener asks the control socket as soon as READY=1 comes
NOTIFY_CHECK="SIPPUSH_SOCKET=$SOCK $SIPPUSHCTL stats >/dev/null 2>&1" \
    notify_listen "$T/notify.out"
: >>"$DAEMON_LOG"
export NOTIFY_SOCKET=$T/notify.sock
export JOURNAL_STREAM
JOURNAL_STREAM=$(stat -c '%d:%i' "$DAEMON_LOG")
start_daemon
wait_until 5 grep -q '^READY=1' "$T/notify.out"
assert_eq "READY=1|STATUS=serving check=0" "$(cat "$T/notify.out")" \
    "notifications at start (check=0: sippushctl ping worked at READY=1)"
assert_contains "$(cat "$DAEMON_LOG")" "<5>sippushd 0.1.0 started" "journal-style line"
sim -n 1 -p jr register >/dev/null
wait_until 5 state_is jr0 online
stop_daemon
wait_until 5 grep -q '^STOPPING=1' "$T/notify.out"
assert_eq "READY=1|STATUS=serving check=0 STOPPING=1" "$(tr '\n' ' ' <"$T/notify.out" | sed 's/ $//')" \
    "notifications at stop"

step "on the journal, lines are <priority>text; elsewhere, time level: text"
log=$(sed -n '/^---- /h; //!p' "$DAEMON_LOG")
assert_match "$log" '^<[0-7]>' "first line"
bad=$(grep -vE '^(<[0-7]>|---- )' "$DAEMON_LOG" || true)
[ -z "$bad" ] || fail "lines without a priority on the journal: ${bad:0:300}"
assert_contains "$log" "<6>store: $T/sippush.db: 0 clients loaded"
# a stderr that is not the stream JOURNAL_STREAM names: the usual format
JOURNAL_STREAM=1:1
echo "---- plain" >>"$DAEMON_LOG"
restart_daemon
stop_daemon
assert_match "$(sed -n '/^---- plain/,$p' "$DAEMON_LOG" | sed -n 3p)" \
    '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} [a-z]+: ' "a line off the journal"
unset JOURNAL_STREAM

step "sippush-agent -F: READY=1 at start, STOPPING=1 on SIGTERM"
: >"$T/agent-notify.out"
notify_listen "$T/agent-notify.out"
unset NOTIFY_SOCKET
start_daemon
cat >"$T/ag.conf" <<EOF
server = { list = [ "127.0.0.1:$PORT" ]; heartbeat_interval = 5; };
client = { id = "ag1"; class = "box"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/ag.seen"; };
EOF
export NOTIFY_SOCKET=$T/notify.sock
start_agent ag
unset NOTIFY_SOCKET
wait_until 10 state_is ag1 online
wait_until 5 grep -q '^READY=1' "$T/agent-notify.out"
stop_agent ag
wait_until 5 grep -q '^STOPPING=1' "$T/agent-notify.out"
assert_eq "READY=1 STOPPING=1" "$(tr '\n' ' ' <"$T/agent-notify.out" | sed 's/ $//')" \
    "agent notifications"
stop_daemon

pass
