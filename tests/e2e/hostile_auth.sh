#!/usr/bin/env bash
# hostile_auth.sh -- attacks on Digest authentication (auth.enabled),
# items 3 and 4 of the hardening issue:
#  - the captured bytes of an authenticated REGISTER, replayed from
#    another UDP port of the same address and on a new TCP connection,
#    are challenged again (401) and move nothing: sippushctl client shows
#    the original source; sent again from the very port that sent them (a
#    retransmission) they are answered 200 again without being applied
#    again (registered_at and expires_at unchanged); a replayed OPTIONS
#    is challenged too;
#  - a hundred forged packets from an address with another user's
#    credentials (each a "403 Credentials Not For This Client ID" before
#    the fix, counted toward auth.max_failures), made without a nonce the
#    daemon sent there, are challenged (401), do not count, and the real
#    client at that address still registers and heartbeats; failures
#    made with a nonce the daemon sent there still count.
# The raw packets come from a Perl script (perl-base) bound to
# 127.0.0.x; the real clients are tests/digestclient.
. "$(dirname "$0")/lib.sh"

command -v perl >/dev/null 2>&1 || fail "perl is missing"
DC=$top_builddir/tests/digestclient
[ -x "$DC" ] || fail "$DC is not built (run: make check)"

start_daemon 'auth.enabled = true' 'auth.realm = "fleet.example"' \
    'heartbeat.timeout = 60' 'auth.max_failures = 60'
dc() { timeout 20 "$DC" -s "127.0.0.1:$PORT" "$@"; }
lines() { tr '\n' ' ' <<<"$1" | sed 's/ $//'; }

# perl raw.pl PORT send SRC-ADDR SRC-PORT udp|tcp FILE: send FILE's bytes
#   from SRC-ADDR:SRC-PORT (0: any port) over UDP, or on a new TCP
#   connection (with TCP in the Via), and print the status of the first
#   final reply ("none" after 3 s).
# perl raw.pl PORT forge SRC-ADDR N ID: N forged REGISTERs for ID from
#   SRC-ADDR with another user's credentials (a failure that a nonce of
#   ours there would make a 403) and a nonce made up or sent to another
#   address, one at a time; prints the replies' statuses counted,
#   "401=N".
cat >"$T/raw.pl" <<'PERL'
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;

my ($port, $cmd, @args) = @ARGV;
my $srv = "127.0.0.1";

sub status_of {
    my ($s, $tcp) = @_;
    my $sel = IO::Select->new($s);
    my $buf = "";
    my $end = time + 3;
    while (time <= $end) {
        next unless $sel->can_read(0.5);
        my $got;
        if ($tcp) {
            my $n = sysread($s, $got, 65535);
            return "none" unless $n;
        } else {
            defined($s->recv($got, 65535)) or return "none";
        }
        $buf .= $got;
        while ($buf =~ s/^SIP\/2\.0 (\d{3})[^\n]*\n//m) {
            return $1 if $1 >= 200;
        }
        $buf = "" unless $tcp;
    }
    return "none";
}

if ($cmd eq "send") {
    my ($src, $sport, $proto, $file) = @args;
    open(my $f, "<", $file) or die "$file: $!\n";
    binmode($f);
    local $/;
    my $req = <$f>;
    my $s = IO::Socket::INET->new(LocalAddr => $src, LocalPort => $sport,
        PeerAddr => "$srv:$port", Proto => $proto) or die "$proto: $!\n";
    if ($proto eq "tcp") {
        # the Via names the transport: not covered by the credentials
        $req =~ s/^(Via: SIP\/2\.0\/)UDP/${1}TCP/m;
        syswrite($s, $req) == length($req) or die "write: $!\n";
    } else {
        $s->send($req) or die "send: $!\n";
    }
    print status_of($s, $proto eq "tcp"), "\n";
} elsif ($cmd eq "forge") {
    my ($src, $n, $id) = @args;
    my $s = IO::Socket::INET->new(LocalAddr => $src, PeerAddr => "$srv:$port",
        Proto => "udp") or die "udp: $!\n";
    my $lport = $s->sockport;
    # a real nonce, but sent to another address
    my $o = IO::Socket::INET->new(LocalAddr => "127.0.0.8",
        PeerAddr => "$srv:$port", Proto => "udp") or die "udp: $!\n";
    my $op = $o->sockport;
    $o->send("REGISTER sip:$srv SIP/2.0\r\n" .
        "Via: SIP/2.0/UDP 127.0.0.8:$op;branch=z9hG4bKelsewhere\r\n" .
        "Max-Forwards: 70\r\nFrom: <sip:$id\@$srv>;tag=e\r\n" .
        "To: <sip:$id\@$srv>\r\nCall-ID: elsewhere\r\nCSeq: 1 REGISTER\r\n" .
        "Content-Length: 0\r\n\r\n");
    my $other = "";
    if (IO::Select->new($o)->can_read(3)) {
        my $r;
        $o->recv($r, 65535);
        $other = $1 if $r =~ /nonce="([0-9a-f]+)"/;
    }
    die "no nonce for 127.0.0.8\n" unless $other;
    my %count;
    for my $i (1 .. $n) {
        my $nonce = $i % 3 == 0 ? $other :
            join("", map { sprintf("%x", int(rand(16))) } 1 .. 40);
        my $user = "someone-else";
        my $resp = join("", map { sprintf("%x", int(rand(16))) } 1 .. 64);
        $s->send("REGISTER sip:$srv SIP/2.0\r\n" .
            "Via: SIP/2.0/UDP $src:$lport;branch=z9hG4bKforged$i\r\n" .
            "Max-Forwards: 70\r\nFrom: <sip:$id\@$srv>;tag=f$i\r\n" .
            "To: <sip:$id\@$srv>\r\nCall-ID: forged-$i\r\n" .
            "CSeq: 1 REGISTER\r\n" .
            "Contact: <sip:$id\@$src:$lport>\r\n" .
            "Authorization: Digest username=\"$user\", " .
            "realm=\"fleet.example\", nonce=\"$nonce\", uri=\"sip:$srv\", " .
            "response=\"$resp\", algorithm=SHA-256, qop=auth, " .
            "nc=00000001, cnonce=\"f$i\"\r\n" .
            "Content-Length: 0\r\n\r\n") or die "send: $!\n";
        $count{status_of($s, 0)}++;
    }
    print join(" ", map { "$_=$count{$_}" } sort keys %count), "\n";
} else {
    die "raw.pl: $cmd?\n";
}
PERL
raw() { timeout 60 perl "$T/raw.pl" "$PORT" "$@"; }

assert_status 0 ctl user add rep1 <<<"replay-password"
assert_status 0 ctl user add lock1 <<<"lockout-password"

# ---------------------------------------------------------------------
step "rep1 registers; its authenticated REGISTER is captured"
assert_eq "401 200" "$(lines "$(dc -i rep1 -p replay-password -w "$T/reg.txt")")" \
    "rep1 registers"
wait_until 5 state_is rep1 online
port=$(client_field rep1 port)
registered_at=$(client_field rep1 registered_at)
expires_at=$(client_field rep1 expires_at)
assert_eq udp "$(client_field rep1 transport)" "rep1's transport"
assert_contains "$(cat "$T/reg.txt")" "Authorization: Digest"

step "the same bytes on a new TCP connection: 401, the binding stays"
st=$(raw send 127.0.0.1 0 tcp "$T/reg.txt")
soft assert_eq 401 "$st" "replay over TCP"
soft assert_eq "$port" "$(client_field rep1 port)" "rep1's port"
soft assert_eq udp "$(client_field rep1 transport)" "rep1's transport"
assert_status 0 ctl client rep1
soft assert_match "$OUT" "^port +$port\$" "sippushctl client rep1"
soft assert_match "$OUT" "^transport +udp\$" "sippushctl client rep1"
soft assert_contains "$(cat "$DAEMON_LOG")" "REGISTER for rep1: nonce used again"

step "the same bytes from another UDP port: 401, the binding stays"
soft assert_eq 401 "$(raw send 127.0.0.1 0 udp "$T/reg.txt")" "replay from another port"
soft assert_eq "$port" "$(client_field rep1 port)" "rep1's port"
soft assert_eq udp "$(client_field rep1 transport)" "rep1's transport"

step "the same bytes from rep1's own port (a retransmission): 200, nothing applied again"
sleep 1.2	# a re-application would move registered_at and expires_at
soft assert_eq 200 "$(raw send 127.0.0.1 "$port" udp "$T/reg.txt")" "retransmission"
soft assert_eq "$registered_at" "$(client_field rep1 registered_at)" "rep1's registered_at"
soft assert_eq "$expires_at" "$(client_field rep1 expires_at)" "rep1's expires_at"
soft assert_eq "$port" "$(client_field rep1 port)" "rep1's port"

step "a replayed OPTIONS from another port is challenged too"
assert_eq "401 200" "$(lines "$(dc -i rep1 -m OPTIONS -p replay-password -w "$T/opt.txt")")" \
    "rep1's OPTIONS"
soft assert_eq 401 "$(raw send 127.0.0.1 0 udp "$T/opt.txt")" "OPTIONS replayed"

step "rep1 registers again from a new port with new credentials: it may move"
assert_eq "401 200" "$(lines "$(dc -i rep1 -p replay-password)")" "rep1 moves"
assert_ne "$port" "$(client_field rep1 port)" "rep1's port after it moved"

# ---------------------------------------------------------------------
step "lock1 registers from 127.0.0.7"
assert_eq "401 200" "$(lines "$(dc -b 127.0.0.7 -i lock1 -p lockout-password)")" \
    "lock1 registers"

step "100 forged failures from 127.0.0.7 (auth.max_failures 60): all challenged"
out=$(raw forge 127.0.0.7 100 lock1)
soft assert_eq "401=100" "$out" "replies to the forged packets"

step "the real client at 127.0.0.7 still registers and heartbeats"
soft assert_eq "401 200" "$(lines "$(dc -b 127.0.0.7 -i lock1 -p lockout-password)")" \
    "lock1 registers after the forged packets"
soft assert_eq "401 200" "$(lines "$(dc -b 127.0.0.7 -i lock1 -m OPTIONS -p lockout-password)")" \
    "lock1 heartbeats after the forged packets"
soft assert_eq online "$(client_field lock1 state)" "lock1's state"
soft assert_eq 127.0.0.7 "$(client_field lock1 address)" "lock1's address"
soft assert_not_contains "$(cat "$DAEMON_LOG")" "too many failed authentications" "daemon log"

step "real failures (a nonce we sent there) still count"
stop_daemon
start_daemon 'auth.enabled = true' 'auth.realm = "fleet.example"' \
    'auth.max_failures = 3'
assert_status 0 ctl user add lock2 <<<"lockout-password"
for i in 1 2 3; do
    assert_eq "401 403" "$(lines "$(dc -b 127.0.0.9 -i lock2 -p wrong-password)")" \
        "a wrong password, try $i"
done
assert_eq 503 "$(dc -b 127.0.0.9 -i lock2 -p lockout-password)" \
    "the right password after 3 real failures"
assert_contains "$(cat "$DAEMON_LOG")" "too many failed authentications"

stop_daemon
pass
