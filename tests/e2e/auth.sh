#!/usr/bin/env bash
# auth.sh -- Digest authentication (auth.enabled): sippushctl user
# add|del|list; an unauthenticated REGISTER gets 401 and then succeeds
# with the right credentials (SHA-256 and MD5); a wrong password, an
# unknown user and someone else's ID get 403 and change nothing; a
# replayed nonce count is challenged again while a retransmission is
# answered; heartbeats must authenticate too; sippush-agent (libsippush)
# registers and receives a control message with its password, and is
# refused with a wrong one; baresip (MD5) registers with its password.
. "$(dirname "$0")/lib.sh"

DC=$top_builddir/tests/digestclient
AGENT=$top_builddir/sippush-agent
[ -x "$DC" ] || fail "$DC is not built (run: make check)"
[ -x "$AGENT" ] || fail "$AGENT is not built"

start_daemon 'auth.enabled = true' 'auth.realm = "fleet.example"' \
    'heartbeat.timeout = 30' 'auth.nonce_lifetime = 10'
dc() { timeout 20 "$DC" -s "127.0.0.1:$PORT" "$@"; }
lines() { tr '\n' ' ' <<<"$1" | sed 's/ $//'; }

# ---------------------------------------------------------------------
step "no user yet: the daemon says so at start"
assert_contains "$(cat "$DAEMON_LOG")" "no user exists" "daemon log"

step "sippushctl user add: password from stdin, from a file, generated"
assert_status 0 ctl user add dev1 <<<"dev1-password"
printf 'dev2-password\n' >"$T/pw2"
assert_status 0 ctl user add dev2 --password-file "$T/pw2"
assert_status 0 ctl user add -g dev3
pw3=$OUT
assert_match "$pw3" '^[A-Za-z0-9]{20}$' "generated password"
assert_status 0 ctl --json user list
assert_eq 'dev1,dev2,dev3' "$(jq -r 'map(.id) | join(",")' <<<"$OUT")" "users"
assert_eq '"fleet.example"' "$(jq '.[0].realm' <<<"$OUT")" "realm of dev1"

step "sippushctl user add refuses bad input with exit 1 or 2"
assert_status 1 ctl user add 'bad id' <<<"long-enough-pw"
assert_contains "$OUT" "not a valid client ID"
assert_status 1 ctl user add dev4 <<<"short"
assert_contains "$OUT" "8 to 256 characters"
assert_status 2 ctl user add dev4 </dev/null
assert_contains "$OUT" "no password"
assert_status 2 ctl user add dev4 -g -p "$T/pw2"
assert_status 1 ctl user del nobody
assert_contains "$OUT" "no user nobody"
# the password never reaches the store or the log
assert_not_contains "$(cat "$DAEMON_LOG")" "dev1-password" "daemon log"
if command -v sqlite3 >/dev/null 2>&1; then
    assert_not_contains "$(sqlite3 "$T/sippush.db" 'SELECT * FROM users')" \
        "dev1-password" "users table"
fi

step "REGISTER without credentials: 401 with SHA-256 and MD5 challenges"
assert_eq "401" "$(dc -i dev1 -n)" "status"
assert_status 1 ctl client dev1

step "the right credentials: SHA-256, then MD5"
assert_eq "401 200" "$(lines "$(dc -i dev1 -p dev1-password)")" "dev1 with SHA-256"
wait_until 5 state_is dev1 online
assert_eq "401 200" "$(lines "$(dc -i dev2 -p dev2-password -a md5)")" "dev2 with MD5"
wait_until 5 state_is dev2 online

step "a wrong password, an unknown user: 403, nothing registered"
assert_eq "401 403" "$(lines "$(dc -i dev3 -p wrong-password)")" "dev3, wrong password"
assert_eq "401 403" "$(lines "$(dc -i ghost -p whatever-pw)")" "unknown user"
assert_status 1 ctl client dev3
assert_status 1 ctl client ghost
assert_contains "$(cat "$DAEMON_LOG")" "wrong password, answered 403" "daemon log"

step "someone else's ID with one's own credentials: 403, its binding kept"
port_before=$(client_field dev1 port)
assert_eq "401 403" "$(lines "$(dc -i dev1 -u dev2 -p dev2-password)")" "dev2 as dev1"
assert_eq "$port_before" "$(client_field dev1 port)" "dev1's port"
assert_eq "401 403" "$(lines "$(dc -i dev1 -u dev2 -p dev2-password -m OPTIONS)")" \
    "dev2 heartbeating as dev1"

step "a replayed nonce count is challenged again; a retransmission is not"
# prints: 401 (no credentials), 200, 401 (same nc, new request), 200
# (the authenticated request again, byte for byte)
assert_eq "401 200 401 200" "$(lines "$(dc -i dev3 -p "$pw3" -r)")" "dev3 replay"
assert_eq "401 200 401 200" "$(lines "$(dc -i dev3 -p "$pw3" -a md5 -r)")" "dev3 replay (MD5)"
assert_contains "$(cat "$DAEMON_LOG")" "nonce used again" "daemon log"

step "credentials with no parameters: 401, and the daemon lives on"
# Sofia-SIP asserts on a Digest header without parameters (found by the
# fuzzer): one such OPTIONS used to take the daemon down
for h in 'Authorization: Digest' 'Authorization: Digest  ,'; do
    # perl: one datagram (bash's /dev/udp may split a printf in several)
    perl -MIO::Socket::INET -e '
        my ($port, $h) = @ARGV;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
            Proto => "udp") or die "$!\n";
        my $n = int(rand(1e9));
        $s->send("OPTIONS sip:127.0.0.1 SIP/2.0\r\n" .
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK$n\r\n" .
            "From: <sip:dev1\@127.0.0.1>;tag=1\r\nTo: <sip:dev1\@127.0.0.1>\r\n" .
            "Call-ID: np$n\r\nCSeq: 1 OPTIONS\r\n$h\r\n" .
            "Content-Length: 0\r\n\r\n") or die "$!\n";' "$PORT" "$h"
done
sleep 0.3
assert_status 0 ctl stats
assert_eq "401 200" "$(lines "$(dc -i dev1 -p dev1-password)")" "dev1 after it"

step "heartbeats must authenticate too"
assert_eq "401" "$(dc -i dev1 -m OPTIONS -n)" "OPTIONS without credentials"
assert_eq "401 200" "$(lines "$(dc -i dev1 -m OPTIONS -p dev1-password)")" "OPTIONS with them"

step "user import: a fleet's users at once; simclient registers and heartbeats them"
for i in $(seq 0 49); do echo "fleet$i fleet-password-$i"; done >"$T/fleet.txt"
printf '# comments and blank lines are skipped\n\n' >>"$T/fleet.txt"
assert_status 0 ctl user import "$T/fleet.txt"
assert_eq "50 users imported" "$OUT" "user import"
assert_eq 50 "$(ctl --json user list | jq '[.[] | select(.id | startswith("fleet"))] | length')" \
    "fleet users listed"
# one password for all in simclient: give fleet0..19 the same one
for i in $(seq 0 19); do echo "fleet$i same-for-all"; done | ctl user import - >/dev/null
assert_status 0 sim -n 20 -p fleet --password same-for-all register options heartbeat:2
assert_contains "$OUT" "register: n=20 ok=20 fail=0"
assert_contains "$OUT" "challenged=20"
assert_contains "$OUT" "options: n=20 ok=20 fail=0"
assert_match "$OUT" "heartbeat: n=20 sent=[0-9]+ ok=[0-9]+ fail=0 timeout=0"
# all or none: one bad entry stores nothing of its batch
printf 'fleetX long-enough-pw\nfleetY short\n' >"$T/bad.txt"
assert_status 1 ctl user import "$T/bad.txt"
assert_contains "$OUT" "entry 2 (fleetY): the password must have 8 to 256"
assert_status 0 ctl --json user list fleetX
assert_eq "[]" "$OUT" "fleetX after a refused import"
printf 'fleetZ\n' >"$T/bad.txt"
assert_status 2 ctl user import "$T/bad.txt"
assert_contains "$OUT" "bad.txt:1: expected \"ID PASSWORD\""

step "user del: the registration ends and the next REGISTER is refused"
assert_ne unregistered "$(client_field dev2 state)" "dev2 before user del"
assert_status 0 ctl user del dev2
assert_contains "$OUT" "dev2: credentials removed, registration ended"
assert_eq unregistered "$(client_field dev2 state)" "dev2 after user del"
assert_status 0 ctl --json user del dev3
assert_eq 1 "$(jq -r '.unregistered' <<<"$OUT")" "dev3 unregistered"
assert_eq "401 403" "$(lines "$(dc -i dev2 -p dev2-password)")" "dev2 after user del"

# ---------------------------------------------------------------------
step "sippush-agent registers with its password (SHA-256) and gets a message"
assert_status 0 ctl user add ag1 <<<"agent-password-1"
cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
printf '%s|%s\n' "$SIPPUSH_MESSAGE_ID" "$(cat)" >>"$HOOK_OUT"
EOF
chmod +x "$T/hook.sh"
agent_conf()
{
    cat >"$T/$1.conf" <<EOF
server = { list = [ "127.0.0.1:$PORT" ]; heartbeat_interval = 1;
           timeout = 1000; retry_initial = 200; retry_max = 1000; };
client = { id = "$1"; class = "kiosk"; };
sip = { address = "127.0.0.1"; };
auth = { password = "$2"; };
messages = { state_file = "$T/$1.seen"; };
hook = { command = "$T/hook.sh"; timeout = 10; };
log = { level = "debug"; };
EOF
}
agent_conf ag1 agent-password-1
chmod 600 "$T/ag1.conf"
HOOK_OUT=$T/hook.out bg_log "$T/ag1.log" "$AGENT" -F -f "$T/ag1.conf"
ag1_pid=$BG_PID
wait_until 10 state_is ag1 online
assert_contains "$(cat "$T/ag1.log")" "asks for credentials (SHA-256" "agent log"
assert_status 0 ctl --json publish --client ag1 --wait 'reboot now'
M=$(jq -r .id <<<"${OUT%%$'\n'*}")
wait_until 5 grep -q "^$M|reboot now\$" "$T/hook.out"
step "its heartbeats keep it online (authenticated, no new challenge each)"
sleep 3
state_is ag1 online || fail "ag1 is $(client_field ag1 state) after 3 s of heartbeats"
assert_eq 0 "$(grep -c 'OPTIONS for ag1' "$DAEMON_LOG" || true)" \
    "heartbeats of ag1 refused or challenged again"
step "past auth.nonce_lifetime (10 s): challenged as stale, it answers at once"
wait_until 15 grep -q "OPTIONS for ag1: a stale nonce, answered 401" "$DAEMON_LOG"
sleep 1.5
state_is ag1 online || fail "ag1 is $(client_field ag1 state) after its nonce expired"
seen=$(client_field ag1 last_seen)
[ $(( $(date +%s) - seen )) -le 2 ] ||
    fail "ag1's last heartbeat counted $(( $(date +%s) - seen )) s ago: not answered after the stale challenge"
step "user del ag1: its registration ends, its heartbeat gets 403, it retries"
assert_status 0 ctl user del ag1
assert_eq unregistered "$(client_field ag1 state)" "ag1 after user del"
wait_until 5 grep -q "heartbeat failed: 403" "$T/ag1.log"
sleep 1.5   # retries (REGISTER, 403) at most every retry_max
assert_eq unregistered "$(client_field ag1 state)" "ag1 while its user is gone"
step "user add ag1 again: the agent registers by itself"
assert_status 0 ctl user add ag1 <<<"agent-password-1"
wait_until 5 state_is ag1 online
step "it unregisters on SIGTERM, authenticated"
kill -TERM "$ag1_pid"
wait_pid "$ag1_pid" 10 || fail "the agent did not stop on SIGTERM"
wait_until 5 state_is ag1 unregistered

step "sippush-agent with a wrong password: refused, it says why"
agent_conf ag2 not-the-password
chmod 644 "$T/ag2.conf"
assert_status 0 ctl user add ag2 <<<"agent-password-2"
HOOK_OUT=$T/hook.out bg_log "$T/ag2.log" "$AGENT" -F -f "$T/ag2.conf"
ag2_pid=$BG_PID
wait_until 10 grep -q "403 Bad Credentials" "$T/ag2.log"
assert_contains "$(cat "$T/ag2.log")" "other users may read it" "ag2 log (its file is 0644)"
assert_not_contains "$(cat "$T/ag1.log")" "other users may read it" "ag1 log (0600)"
assert_status 1 ctl client ag2
kill -TERM "$ag2_pid"
wait_pid "$ag2_pid" 10 || true

# ---------------------------------------------------------------------
step "a server that challenges with no parameters: the agent lives on"
# a fake server (perl) that answers every REGISTER 401 with a bare
# "WWW-Authenticate: Digest", which Sofia-SIP's parser asserts on
fport=$(free_port)
bg perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ARGV[0]",
        Proto => "udp") or die "$!\n";
    my $end = time + 20;
    while (time < $end) {
        my $m;
        defined($s->recv($m, 65535)) or next;
        next unless $m =~ /^REGISTER /;
        my $r = "SIP/2.0 401 Unauthorized\r\n";
        for my $h (qw(Via From To Call-ID CSeq)) {
            $r .= "$1\r\n" while $m =~ /^($h:.*?)\r?$/mgi;
        }
        $r .= "WWW-Authenticate: Digest\r\nContent-Length: 0\r\n\r\n";
        $s->send($r);
    }' "$fport"
fake_pid=$BG_PID
{
    echo "server = { list = [ \"127.0.0.1:$fport\" ]; timeout = 1000;"
    echo "           retry_initial = 200; retry_max = 500; };"
    echo 'client = { id = "ag3"; };'
    echo 'sip = { address = "127.0.0.1"; };'
    echo 'auth = { password = "whatever-pw"; };'
    echo "messages = { state_file = \"$T/ag3.seen\"; };"
    echo 'log = { level = "debug"; };'
} >"$T/ag3.conf"
chmod 600 "$T/ag3.conf"
bg_log "$T/ag3.log" "$AGENT" -F -f "$T/ag3.conf"
ag3_pid=$BG_PID
wait_until 10 grep -q "credentials we cannot give" "$T/ag3.log"
sleep 1
_alive "$ag3_pid" || fail "the agent died on a bare Digest challenge"
kill -TERM "$ag3_pid"
wait_pid "$ag3_pid" 10 || fail "the agent did not stop on SIGTERM"
_stop_pid "$fake_pid" TERM 5

# ---------------------------------------------------------------------
step "auth.max_failures: an address that keeps failing gets 503, others are served"
stop_daemon
start_daemon 'auth.enabled = true' 'auth.max_failures = 3' \
    'heartbeat.timeout = 30'
assert_status 0 ctl user add lim1 <<<"limit-password"
for i in 1 2 3; do
    assert_eq "401 403" "$(lines "$(dc -i lim1 -p wrong-password)")" "wrong password, try $i"
done
assert_eq "503" "$(lines "$(dc -i lim1 -p limit-password)")" \
    "the right password from the same address, after 3 failures"
assert_contains "$(cat "$DAEMON_LOG")" "too many failed authentications"
assert_eq "401 200" "$(lines "$(dc -b 127.0.0.2 -i lim1 -p limit-password)")" \
    "the right password from 127.0.0.2"

# ---------------------------------------------------------------------
# baresip 1.0 (libre) gives up on a 401 whose first challenge is
# SHA-256 ("Function not implemented"): such clients need auth.sha256 off.
if command -v baresip >/dev/null 2>&1; then
    step "baresip (MD5 only) registers with its password, auth.sha256 off"
    stop_daemon
    start_daemon 'auth.enabled = true' 'auth.sha256 = false' \
        'heartbeat.timeout = 30'
    assert_eq "401" "$(dc -i bsip1 -n)" "status"
    assert_contains "$(dc -i bsip1 -a sha256 2>&1 || true)" \
        "no SHA-256 challenge" "digestclient asking for SHA-256"
    assert_status 0 ctl user add bsip1 <<<"baresip-password"
    start_baresip 25 \
        "<sip:bsip1@127.0.0.1:$PORT;transport=udp>;auth_pass=baresip-password;regint=60;mwi=no;pubint=0;answermode=manual"
    wait_until 15 state_is bsip1 online
    stop_baresip
fi

stop_daemon
pass
