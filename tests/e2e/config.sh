#!/usr/bin/env bash
# config.sh -- sippushd's command line and configuration: -n on the
# shipped etc/sippushd.conf, bad files refused with "file:LINE: reason",
# -h/-V/unknown flags, a port already in use, a second daemon on the
# same control socket, and daemon mode (the parent exits 0 once the
# child serves, or prints why it could not start and exits 1).
. "$(dirname "$0")/lib.sh"

# check_bad NAME LINE EXPECTED-TEXT: `sippushd -n -f $T/NAME.conf' must
# exit 1 with "sippushd: FILE:LINE: ..." containing EXPECTED-TEXT on stderr.
check_bad()
{
    local f=$T/$1.conf line=$2 want=$3 rc=0 out
    out=$(timeout 10 "$SIPPUSHD" -n -f "$f" 2>&1 >/dev/null) || rc=$?
    [ "$rc" -eq 1 ] || fail "$1: expected exit status 1, got $rc; output: $out"
    if [ "$line" -gt 0 ]; then
        assert_contains "$out" "sippushd: $f:$line: " "$1: error location"
    else
        assert_contains "$out" "sippushd: $f: " "$1: error location"
    fi
    assert_contains "$out" "$want" "$1: reason"
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$1: expected one line of error, got:
$out"
}

# ---------------------------------------------------------------------
step "sippushd -n -f etc/sippushd.conf (the shipped configuration)"
shipped=$top_srcdir/etc/sippushd.conf
[ -f "$shipped" ] || fail "$shipped is missing (it ships with sippushd)"
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$shipped"
assert_contains "$OUT" "# effective settings, from $shipped"
assert_contains "$OUT" "sip = {"
# It says it lists the built-in defaults and changes nothing (the
# settings on standard output; the warning on 0.0.0.0 is on stderr).
: >"$T/empty.conf"
shipped_eff=$(timeout 10 "$SIPPUSHD" -n -f "$shipped" 2>/dev/null)
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/empty.conf"
soft assert_eq "$(timeout 10 "$SIPPUSHD" -n -f "$T/empty.conf" 2>/dev/null | sed 1d)" \
    "$(sed 1d <<<"$shipped_eff")" "settings from $shipped vs the built-in defaults"

step "sippushd -n prints settings that sippushd -n reads back unchanged"
PORT=$(free_port)
write_config "$T/good.conf" 'registration.default_class = "kiosk"' 'database.synchronous = "normal"'
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/good.conf"
eff=$OUT
assert_contains "$eff" "  port = $PORT;" "effective settings"
assert_contains "$eff" '  default_class = "kiosk";' "effective settings"
assert_contains "$eff" '  synchronous = "normal";' "effective settings"
assert_contains "$eff" '  timeout = 3;' "effective settings"
assert_contains "$eff" '  commit_delay = 10;' "effective settings (a built-in default)"
printf '%s\n' "$eff" >"$T/roundtrip.conf"
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/roundtrip.conf"
assert_eq "$(sed 1d <<<"$eff")" "$(sed 1d <<<"$OUT")" "settings read back from sippushd -n's output"

step "bad configurations are refused with file:LINE: reason, exit 1"
# Each bad value sits a few lines into a group, so the line reported must
# be the setting's own, not the group's.
cat >"$T/syntax.conf" <<'EOF'
# a syntax error on line 4
sip = {
  address = "127.0.0.1";
  port = ;
};
EOF
check_bad syntax 4 "syntax error"

cat >"$T/unknown.conf" <<'EOF'
sip = {
  address = "127.0.0.1";

  colour = "blue";
};
EOF
check_bad unknown 4 "sip.colour: unknown option"

cat >"$T/section.conf" <<'EOF'
log = { level = "info"; };
# the next group does not exist
frobnicator = {
  enabled = true;
};
EOF
check_bad section 3 "frobnicator: unknown section"

cat >"$T/range.conf" <<'EOF'
sip = {
  address = "127.0.0.1";
  udp = true;
  port = 70000;
};
EOF
check_bad range 4 "sip.port: 70000 is out of range 1..65535"

cat >"$T/range2.conf" <<'EOF'
heartbeat = {
  timeout = 30;
  sweep_interval = 0;
};
EOF
check_bad range2 3 "heartbeat.sweep_interval: 0 is out of range 1..3600"

cat >"$T/type.conf" <<'EOF'
database = {
  commit_delay = 2;
};
sip = {
  port = "5060";
};
EOF
check_bad type 5 "sip.port: expected an integer"

cat >"$T/type2.conf" <<'EOF'
sip = {
  tcp = true;
  udp = 1;
};
EOF
check_bad type2 3 "sip.udp: expected true or false"

cat >"$T/type3.conf" <<'EOF'
control = {
  socket = 42;
};
EOF
check_bad type3 2 "control.socket: expected a string"

cat >"$T/enum.conf" <<'EOF'
log = {
  sip_level = 0;
  level = "loud";
};
EOF
check_bad enum 3 'log.level: "loud" is not one of the accepted values'

# database.backend names a store backend (store.c): an unknown one is
# refused at its line, and the error lists the backends this build has
cat >"$T/backend.conf" <<'EOF'
database = {
  backend = "postgres";
};
EOF
check_bad backend 2 'database.backend: "postgres" is not one of the accepted values ("sqlite", "postgresql")'
# "postgresql" needs a conninfo libpq can parse; its password never shows
cat >"$T/noconninfo.conf" <<'EOF'
database = {
  backend = "postgresql";
};
EOF
check_bad noconninfo 0 'database.conninfo: must be set when database.backend is "postgresql"'
cat >"$T/badconninfo.conf" <<'EOF'
database = {
  backend = "postgresql";
  conninfo = "host=db.example colour=blue";
};
EOF
check_bad badconninfo 0 'database.conninfo: invalid connection option "colour"'
cat >"$T/pgconf.conf" <<'EOF'
database = {
  backend = "postgresql";
  conninfo = "postgresql://push:Secr3tPw@db.example:5433/push";
  passfile = "pgpass";
};
EOF
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/pgconf.conf"
assert_contains "$OUT" 'conninfo = "user=push password=******** dbname=push host=db.example port=5433";' "conninfo shown"
assert_not_contains "$OUT" "Secr3tPw" "sippushd -n"
assert_contains "$OUT" "passfile = \"$PWD/pgpass\";" "passfile made absolute"

cat >"$T/cross.conf" <<'EOF'
registration = {
  min_expires = 100;
  max_expires = 50;
};
EOF
check_bad cross 0 "registration.min_expires (100) is above max_expires (50)"

# integers beyond 32 bits were narrowed by libconfig: 4294972356 read as
# 5060, 4294967297 as 1, 99999999999999999999 reported as -1
cat >"$T/wrap.conf" <<'EOF'
sip = {
  address = "127.0.0.1";
  port = 4294972356;
};
EOF
check_bad wrap 3 "sip.port: 4294972356 is out of range 1..65535"

cat >"$T/wrap2.conf" <<'EOF'
registration = {
  max_clients = 4294967297;
};
EOF
check_bad wrap2 2 "registration.max_clients: 4294967297 is out of range 1..100000000"

cat >"$T/wrap3.conf" <<'EOF'
dispatch = {
  max_in_flight = 99999999999999999999;
};
EOF
check_bad wrap3 2 "dispatch.max_in_flight: 99999999999999999999 is out of range 1..100000"

cat >"$T/float.conf" <<'EOF'
dispatch = {
  timeout = 8e3;
};
EOF
check_bad float 2 "dispatch.timeout: 8e3 is not an integer"

# sip.address: what the start would refuse, -n refuses
write_config "$T/notip.conf" 'sip.address = "not-an-ip"'
check_bad notip 0 'sip.address: "not-an-ip" is not a numeric IPv4 or IPv6 address'
# 192.0.2.1 (TEST-NET-1) is no address of this host: bound, never sent to
write_config "$T/notlocal.conf" 'sip.address = "192.0.2.1"'
check_bad notlocal 0 "sip.address: cannot listen on 192.0.2.1: Cannot assign requested address"
assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/notlocal.conf"
assert_contains "$OUT" "192.0.2.1" "the start on an address not of this host"

# sippush-agent reads its file the same way
cat >"$T/agent-wrap.conf" <<'EOF'
server = {
  expires = 4294967297;
};
EOF
assert_status 1 timeout 10 "$top_builddir/sippush-agent" -n -f "$T/agent-wrap.conf"
assert_contains "$OUT" "sippush-agent: $T/agent-wrap.conf:2: server.expires: 4294967297 is out of range 1..604800"

# ---------------------------------------------------------------------
step "auth off on a non-loopback address: a warning from -n and at start"
warning="auth.enabled is false and sip.address 0.0.0.0 is not a loopback address"
write_config "$T/open.conf" 'sip.address = "0.0.0.0"'
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/open.conf"
assert_contains "$OUT" "sippushd: warning: $warning" "sippushd -n on 0.0.0.0 without auth"
assert_contains "$OUT" "set auth.enabled = true" "the fix the warning names"
out=$(timeout 10 "$SIPPUSHD" -n -f "$T/open.conf" 2>/dev/null)
[[ $out != *warning* ]] || fail "the warning of sippushd -n is on standard output: $out"
write_config "$T/closed.conf" 'sip.address = "0.0.0.0"' 'auth.enabled = true'
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/closed.conf"
[[ $OUT != *warning* ]] || fail "a warning with auth on: $OUT"
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/good.conf"
[[ $OUT != *warning* ]] || fail "a warning on 127.0.0.1: $OUT"
# at start: the warning is logged before the store opens, so a bad
# database path stops it before it listens on 0.0.0.0
write_config "$T/open2.conf" 'sip.address = "0.0.0.0"' \
    "database.path = \"$T/no/such/folder/x.db\"" "control.socket = \"$SOCKDIR/open2.sock\""
assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/open2.conf"
assert_contains "$OUT" "sippushd: $warning" "the start on 0.0.0.0 without auth"

assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/does-not-exist.conf"
assert_contains "$OUT" "$T/does-not-exist.conf: cannot read: No such file or directory"

# ---------------------------------------------------------------------
step "sippushd -h, -V, an unknown flag, a stray argument"
assert_status 0 timeout 10 "$SIPPUSHD" -h
assert_contains "$OUT" "usage: sippushd"
assert_status 0 timeout 10 "$SIPPUSHD" -V
assert_match "$OUT" '^sippushd [0-9]+\.[0-9]+\.[0-9]+' "sippushd -V"
assert_status 2 timeout 10 "$SIPPUSHD" -Z
assert_contains "$OUT" "usage: sippushd" "sippushd -Z"
assert_status 2 timeout 10 "$SIPPUSHD" -f "$T/good.conf" stray
assert_contains "$OUT" 'unexpected argument "stray"' "sippushd ... stray"

# ---------------------------------------------------------------------
step "a second daemon on the same control socket is refused"
start_daemon
sim -n 3 -p first register
other_port=$(free_port)
write_config "$T/second.conf" "sip.port = $other_port"    # same database and socket
assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/second.conf"
assert_contains "$OUT" "$SOCK: another sippushd is running" "second sippushd on the same socket"
[ -S "$SOCK" ] || fail "the first daemon's socket $SOCK was removed by the second"
assert_eq 3 "$(ctl --json stats | jq .clients)" "the first daemon still answers"

step "starting on a port already in use fails with a clear message"
write_config "$T/clash.conf" "database.path = \"$T/clash.db\"" "control.socket = \"$SOCKDIR/clash.sock\""
assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/clash.conf"
assert_contains "$OUT" "cannot listen" "sippushd on a port in use"
assert_contains "$OUT" "$PORT" "sippushd on a port in use: the port"
soft assert_contains "$OUT" "in use" "the reason sippushd gives for not listening on a port in use"
[ ! -e "$SOCKDIR/clash.sock" ] || fail "a daemon that could not start left its socket behind"
assert_eq 3 "$(ctl --json stats | jq .clients)" "the first daemon still answers"
stop_daemon

# ---------------------------------------------------------------------
step "daemon mode: the parent exits 0 once the daemon serves"
# Relative paths in the file are taken from the folder sippushd starts in,
# even though the daemon moves to /.
dport=$(free_port)
cat >"$T/daemon.conf" <<EOF
sip = { address = "127.0.0.1"; port = $dport; };
database = { path = "daemon-state/d.db"; };
control = { socket = "daemon-state/d.sock"; };
heartbeat = { sweep_interval = 1; };
EOF
rc=0
# The parent must return even though $(...) waits for every holder of
# its stdout: the daemon must not keep it.
out=$(cd "$T" && timeout 10 "$SIPPUSHD" -f daemon.conf 2>&1) || rc=$?
[ "$rc" -ne 124 ] || fail "sippushd (daemon mode) did not return within 10 s (the daemon still holds stdout/stderr?)"
assert_eq 0 "$rc" "exit status of sippushd in daemon mode; output: $out"
dsock=$T/daemon-state/d.sock
# find the daemon by its command line, to stop it later (and on failure)
# (the one that has this test's database open: other runs may be going on)
dpid=
for p in /proc/[0-9]*; do
    [ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "$SIPPUSHD -f daemon.conf " ] || continue
    for fd in "$p"/fd/*; do
        if [ "$(readlink "$fd" 2>/dev/null)" = "$T/daemon-state/d.db" ]; then
            dpid=${p#/proc/}
            break
        fi
    done
done
[ -n "$dpid" ] || fail "no sippushd running after the parent exited 0"
track_foreign "$dpid"
# serving at once: no wait between the parent's exit and the first request
assert_status 0 env SIPPUSH_SOCKET="$dsock" timeout 10 "$SIPPUSHCTL" stats
assert_contains "$OUT" "clients" "sippushctl stats on the daemon"
PORT=$dport sim -n 2 -p bg register
assert_status 0 env SIPPUSH_SOCKET="$dsock" timeout 10 "$SIPPUSHCTL" client bg1
[ -f "$T/daemon-state/d.db" ] || fail "database not at $T/daemon-state/d.db (relative to the start folder)"
assert_eq "$(awk '{ print $5 }' "/proc/$dpid/stat")" "$(awk '{ print $6 }' "/proc/$dpid/stat")" \
    "the daemon's process group is its session (setsid)"
stop_foreign "$dpid" 10 || fail "the daemon did not stop within 10 s of SIGTERM"
[ ! -e "$dsock" ] || fail "the daemon left its socket $dsock behind after SIGTERM"

step "daemon mode: a bad database path is reported by the parent, exit 1"
write_config "$T/baddb.conf" "database.path = \"$T/no/such/folder/x.db\"" \
    "control.socket = \"$SOCKDIR/baddb.sock\""
rc=0
out=$(timeout 10 "$SIPPUSHD" -f "$T/baddb.conf" 2>&1) || rc=$?
assert_eq 1 "$rc" "exit status of sippushd (daemon mode, bad database path); output: $out"
assert_contains "$out" "sippushd: $T/no/such/folder/x.db: cannot create folder $T/no/such/folder" \
    "the parent's message"
[ ! -e "$SOCKDIR/baddb.sock" ] || fail "a daemon that could not start left its socket behind"
for p in /proc/[0-9]*; do
    [ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" != "$SIPPUSHD -f $T/baddb.conf " ] ||
        fail "a sippushd for baddb.conf is still running (pid ${p#/proc/})"
done

step "daemon mode: a database that is a folder is reported too"
write_config "$T/dirdb.conf" "database.path = \"$T\"" "control.socket = \"$SOCKDIR/dirdb.sock\""
rc=0
out=$(timeout 10 "$SIPPUSHD" -f "$T/dirdb.conf" 2>&1) || rc=$?
assert_eq 1 "$rc" "exit status of sippushd (daemon mode, database is a folder); output: $out"
assert_contains "$out" "sippushd: $T: is not a regular file" "the parent's message"

step "--help and the man pages name the same options"
AGENT_BIN=$top_builddir/sippush-agent
for pair in "$SIPPUSHD:sippushd.8" "$SIPPUSHCTL:sippushctl.1" \
    "$AGENT_BIN:sippush-agent.1"; do
    prog=${pair%%:*}
    page=$top_srcdir/man/${pair#*:}
    assert_status 0 "$prog" --help
    help=$OUT
    opts=$(grep -o -- '--[a-z][a-z-]*' <<<"$help" | sort -u)
    [ -n "$opts" ] || fail "$prog --help names no long option"
    for o in $opts; do
        grep -qF -- "$(sed 's/-/\\-/g' <<<"$o")" "$page" ||
            fail "$prog --help has $o, ${page##*/} does not"
    done
    # and every option the page's OPTIONS section describes is in --help
    for o in $(sed -n '/^\.SH OPTIONS/,/^\.SH [^O]/p' "$page" |
        grep -o -- '\\-\\-[a-z][a-z\\-]*[a-z]' | sed 's/\\-/-/g' | sort -u); do
        grep -qF -- "$o" <<<"$help" ||
            fail "${page##*/} has $o, $prog --help does not"
    done
done
rc=0
"$SIPPUSHD" --no-such-option >/dev/null 2>&1 || rc=$?
assert_eq 2 "$rc" "sippushd with an unknown option"

pass
