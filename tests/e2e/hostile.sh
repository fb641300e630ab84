#!/usr/bin/env bash
# hostile.sh -- hostile traffic against a running daemon (issue #6):
# garbage UDP datagrams, truncated requests, huge headers, bad
# Content-Length, unknown methods and versions, a REGISTER flood from one
# address, a control client that never reads its replies, dozens of
# half-open and silent TCP connections, a TCP header that never ends, and
# descriptors running out. Throughout, legitimate
# clients on other addresses of 127.0.0.0/8 must be served and sippushctl
# answered; afterwards the flood must have had 503s with Retry-After and
# the log must say why. Then the bounds: dispatch.max_pending_per_client
# and registration.max_clients.
#
# The hostile traffic comes from a Perl script (perl-base: always there on
# Debian) bound to 127.0.0.3..127.0.0.9; simclient plays the legitimate
# clients from 127.0.0.1 and 127.0.0.2.
. "$(dirname "$0")/lib.sh"

command -v perl >/dev/null 2>&1 || fail "perl is missing"

RATE=20		# registration.rate_per_source: bursts of 40 pass
start_daemon \
    "registration.rate_per_source = $RATE" \
    'sip.max_message_size = 16384' \
    'sip.tcp_idle_timeout = 2' \
    'sip.tcp_message_timeout = 1' \
    'heartbeat.timeout = 600' \
    'dispatch.max_pending_per_client = 2' \
    'log.level = "info"'

# ---- the hostile peer -----------------------------------------------
# perl hostile.pl PORT SECTION [ARGS]: prints "key=value" lines.
cat >"$T/hostile.pl" <<'PERL'
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SOCK_STREAM);
use Time::HiRes qw(time sleep);

my ($port, $section, @args) = @ARGV;
my $srv = "127.0.0.1";
$SIG{PIPE} = 'IGNORE';
srand(6);

sub udp_from {
    my ($src) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => $src, PeerAddr => "$srv:$port",
        Proto => 'udp') or die "udp from $src: $!\n";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4 << 20);
    $s->blocking(0);
    return $s;
}

sub tcp_from {
    my ($src) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => $src, PeerAddr => "$srv:$port",
        Proto => 'tcp') or die "tcp from $src: $!\n";
    $s->blocking(0);
    return $s;
}

sub register {
    my (%o) = @_;
    my $id = $o{id} // 'x';
    my $tr = $o{tcp} ? 'TCP' : 'UDP';
    my $src = $o{src} // '127.0.0.3';
    my $extra = $o{extra} // '';
    my $body = $o{body} // '';
    my $cl = $o{cl} // length($body);
    my $branch = 'z9hG4bK' . int(rand(1e9));
    return "REGISTER sip:$srv SIP/2.0\r\n"
        . "Via: SIP/2.0/$tr $src:5999;rport;branch=$branch\r\n"
        . "Max-Forwards: 70\r\n"
        . "From: <sip:$id\@$srv>;tag=$branch\r\n"
        . "To: <sip:$id\@$srv>\r\n"
        . "Call-ID: $branch\@$src\r\n"
        . "CSeq: 1 REGISTER\r\n"
        . "Contact: <sip:$id\@$src:5999>\r\n"
        . $extra
        . "Content-Length: $cl\r\n\r\n$body";
}

# Read the replies waiting on a UDP socket; count them by status.
my (%status, $retry_after);
$retry_after = 0;
sub drain {
    my ($s, $secs) = @_;
    my $sel = IO::Select->new($s);
    my $end = time + $secs;
    while (1) {
        my $left = $end - time;
        last if $left <= 0;
        next unless $sel->can_read($left);
        while (defined(my $r = $s->recv(my $buf, 70000))) {
            last unless length $buf;
            if ($buf =~ m{^SIP/2\.0 (\d{3}) }) {
                $status{$1}++;
                $retry_after++ if $1 eq '503' && $buf =~ /^Retry-After: *\d+/mi;
            } else {
                $status{other}++;
            }
        }
    }
}

sub report {
    print "status_$_=$status{$_}\n" for sort keys %status;
    print "retry_after=$retry_after\n";
}

if ($section eq 'garbage') {
    my $s = udp_from('127.0.0.3');
    my $n = 0;
    # random bytes
    for my $i (1 .. 1500) {
        my $len = 1 + int(rand(1400));
        $s->send(join('', map { chr(int(rand(256))) } 1 .. $len)); $n++;
        drain($s, 0.001) if $i % 100 == 0;
    }
    # random bytes that look like a start
    for my $i (1 .. 300) {
        $s->send("REGISTER sip:x SIP/2.0\r\n" . join('', map { chr(int(rand(256))) } 1 .. int(rand(600)))); $n++;
    }
    # truncated requests
    for my $i (1 .. 300) {
        my $m = register(id => "trunc$i");
        $s->send(substr($m, 0, int(rand(length $m)))); $n++;
    }
    # keepalives, empties, NULs, a stray response, an unknown version
    # (which Sofia drops)
    $s->send($_), $n++ for ("\r\n\r\n", "\r\n", "\0" x 200, " ",
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.3:5999;branch=z9hG4bKs\r\nCall-ID: s\r\nCSeq: 1 MESSAGE\r\nFrom: <sip:a\@b>;tag=1\r\nTo: <sip:a\@b>\r\nContent-Length: 0\r\n\r\n",
        register(id => 'v3') =~ s{^REGISTER sip:\S+ SIP/2\.0}{REGISTER sip:$srv SIP/3.0}r);
    # unknown and unsupported methods: 405
    for my $m (qw(BREW INVITE SUBSCRIBE PUBLISH MESSAGE X-ABC)) {
        (my $r = register(id => "m$m")) =~ s/REGISTER/$m/g;
        $s->send($r); $n++;
    }
    # bad Content-Length: larger than the datagram, negative, not a number
    $s->send(register(id => 'cl1', cl => 9999, body => 'short')); $n++;
    $s->send(register(id => 'cl2', cl => -5)); $n++;
    $s->send(register(id => 'cl3', cl => 'abc')); $n++;
    $s->send(register(id => 'cl4', cl => '99999999999999999999999')); $n++;
    # huge headers: one under sip.max_message_size (answered), one over it
    $s->send(register(id => 'hugeok', extra => 'X-Huge: ' . ('a' x 12000) . "\r\n")); $n++;
    $s->send(register(id => 'hugeno', extra => 'X-Huge: ' . ('a' x 40000) . "\r\n")); $n++;
    # a thousand tiny headers; deep header folding; a very long URI
    $s->send(register(id => 'many', extra => join('', map { "X-$_: $_\r\n" } 1 .. 1000))); $n++;
    $s->send(register(id => 'fold', extra => "Subject: a\r\n" . (" b\r\n" x 2000))); $n++;
    $s->send(register(id => ('u' x 5000))); $n++;
    # headers given twice (Sofia lets some through to the registrar)
    $s->send(register(id => 'dup1', extra => "Max-Forwards: 71\r\nExpires: 60\r\nExpires: 70\r\n")); $n++;
    $s->send(register(id => 'dup2', extra => "Contact: <sip:b\@127.0.0.3>\r\nContact: garbage<<\r\n")); $n++;
    drain($s, 1.0);
    print "sent=$n\n";
    report();
} elsif ($section eq 'flood') {
    # REGISTERs for new IDs from one address, about RATE per second
    my ($secs, $rate) = @args;
    my $s = udp_from('127.0.0.5');
    my $n = 0;
    my $end = time + $secs;
    while (time < $end) {
        for (1 .. $rate / 50) {
            $s->send(register(id => "flood$n", src => '127.0.0.5'));
            $n++;
        }
        drain($s, 0.02);
    }
    drain($s, 1.0);
    print "sent=$n\n";
    report();
} elsif ($section eq 'tcp') {
    my @silent = map { tcp_from('127.0.0.7') } 1 .. 40;
    my @partial = map {
        my $c = tcp_from('127.0.0.7');
        print $c "REGISTER sip:$srv SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.7:5999;branch=z9hG4bKp$_\r\nFrom: ";
        $c } 1 .. 20;
    my @badcl = map {
        my $c = tcp_from('127.0.0.7');
        print $c register(id => "tcl$_", tcp => 1, src => '127.0.0.7', cl => 1000, body => 'ten bytes.');
        $c } 1 .. 5;
    my @junk = map {
        my $c = tcp_from('127.0.0.7');
        print $c join('', map { chr(int(rand(256))) } 1 .. 3000);
        $c } 1 .. 5;
    # a header that never ends
    my $endless = tcp_from('127.0.0.8');
    my $head = register(id => 'endless', tcp => 1, src => '127.0.0.8');
    $head =~ s/Content-Length.*//s;
    syswrite($endless, $head . "X-Endless: ");
    my ($bytes, $endless_closed) = (0, 0);
    my $t0 = time;
    my $chunk = 'a' x 4096;
    while (time - $t0 < 10) {
        my $w = syswrite($endless, $chunk);
        if (defined $w) { $bytes += $w; sleep 0.002; next }
        if ($!{EAGAIN}) {
            my $r = sysread($endless, my $buf, 4096);
            if (defined $r && $r == 0 or !defined $r && !$!{EAGAIN}) { $endless_closed = 1; last }
            sleep 0.01;
            next;
        }
        $endless_closed = 1;    # EPIPE, ECONNRESET: the daemon closed it
        last;
    }
    printf "endless_bytes=%d\nendless_closed=%d\nendless_secs=%.1f\n", $bytes, $endless_closed, time - $t0;
    # wait until the daemon closed (or at least half-closed) the others
    my %groups = (silent => \@silent, partial => \@partial, badcl => \@badcl, junk => \@junk);
    my %closed = map { $_ => 0 } keys %groups;
    my %got400 = map { $_ => 0 } keys %groups;
    my $deadline = time + 12;
    while (time < $deadline) {
        my $open = 0;
        for my $g (keys %groups) {
            for my $c (@{ $groups{$g} }) {
                next unless $c;
                my $r = sysread($c, my $buf, 65536);
                if (defined $r && $r > 0) { $got400{$g}++ if $buf =~ m{^SIP/2\.0 400 }; $open++; next }
                if (defined $r || !$!{EAGAIN}) { $closed{$g}++; close $c; $c = undef; next }
                $open++;
            }
        }
        last unless $open;
        sleep 0.2;
    }
    printf "closed_secs=%.1f\n", time - $t0;
    print "${_}_closed=$closed{$_}/" . scalar(@{ $groups{$_} }) . "\n" for sort keys %groups;
    print "${_}_400=$got400{$_}\n" for sort keys %got400;
} elsif ($section eq 'exhaust') {
    # more silent connections than the daemon has descriptors
    my ($count) = @args;
    my (@c, $refused);
    $refused = 0;
    for (1 .. $count) {
        # not waiting for the handshake: the daemon may not accept
        my $c = IO::Socket::INET->new(LocalAddr => '127.0.0.9', PeerAddr => "$srv:$port",
            Proto => 'tcp', Blocking => 0);
        if ($c) { push @c, $c } else { $refused++ }
    }
    my $t0 = time;
    my $left = @c;
    while ($left && time - $t0 < 10) {
        $left = 0;
        for my $c (@c) {
            next unless $c;
            my $r = sysread($c, my $buf, 100);
            if (defined $r || !$!{EAGAIN}) { close $c; $c = undef; next }
            $left++;
        }
        sleep 0.2;
    }
    printf "opened=%d\nrefused=%d\nleft_open=%d\nsecs=%.1f\n", scalar(@c), $refused, $left, time - $t0;
} elsif ($section eq 'ctlflood') {
    # requests on the control socket, replies never read
    require IO::Socket::UNIX;
    my ($path, $hold) = @args;
    my $c = IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM)
        or die "control socket $path: $!\n";
    $c->blocking(0);
    my $lines = "clients\n" x 1000;
    my $sent = 0;
    my $t0 = time;
    while (time - $t0 < $hold) {
        my $w = syswrite($c, $lines);
        if (defined $w) { $sent += $w; next }
        die "write: $!\n" unless $!{EAGAIN};
        sleep 0.05;
    }
    print "ctl_bytes_sent=$sent\n";
    sleep 1;    # still connected while the test looks at the daemon
} else {
    die "unknown section $section\n";
}
PERL

# field FILE KEY: a value printed by hostile.pl (0 if absent)
field() { sed -n "s/^$2=//p" "$1" | tail -n 1 | grep . || echo 0; }

daemon_alive() { [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; }

# legit: the good clients register and heartbeat from 127.0.0.1 and .2
legit()
{
    sim -q -n 2 --src-addrs 2 -p good -c legit register options ||
        return 1
    ctl stats >/dev/null
}

fds() { find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }

# ---------------------------------------------------------------------
step "legitimate clients on 127.0.0.1 and 127.0.0.2"
legit || fail "the good clients were not served before any hostile traffic"
assert_eq '["127.0.0.1","127.0.0.2"]' \
    "$(clients_json --class legit | jq -c '[.[].address] | sort')" "addresses of the good clients"
fds0=$(fds)

# ---------------------------------------------------------------------
step "garbage, truncated, oversized and odd requests over UDP (127.0.0.3)"
perl "$T/hostile.pl" "$PORT" garbage >"$T/garbage.out" 2>&1 ||
    fail "hostile.pl garbage: $(cat "$T/garbage.out")"
daemon_alive || fail "sippushd died on garbage (log: $DAEMON_LOG)"
cat "$T/garbage.out"
soft assert_eq 6 "$(field "$T/garbage.out" status_405)" "405 answers to the six methods we do not serve"
[ "$(field "$T/garbage.out" status_400)" -ge 10 ] ||
    soft fail "expected 400 answers to the bad requests: $(tr '\n' ' ' <"$T/garbage.out")"
# hugeok, fold, trunc* that happened to be whole: registered; hugeno
# (over sip.max_message_size) and many (over sip.max_headers) were not
soft assert_eq online "$(client_field hugeok state)" "state of hugeok (12 KB header)"
soft assert_status 1 ctl client many
soft assert_status 1 ctl client hugeno
soft assert_status 1 ctl client dup1
legit || soft fail "the good clients were not served after the garbage"
soft assert_eq 0 "$(grep -c stun "$DAEMON_LOG")" "lines about STUN in the log"

# ---------------------------------------------------------------------
step "a REGISTER flood from 127.0.0.5 while the good clients go on"
FLOOD_SECS=3
bg_log "$T/flood.out" perl "$T/hostile.pl" "$PORT" flood "$FLOOD_SECS" 2000
flood_pid=$BG_PID
sleep 0.5
for i in 1 2 3; do
    legit || soft fail "the good clients were not served during the flood (round $i)"
    sleep 0.3
done
wait_pid "$flood_pid" 20 || fail "hostile.pl flood: $(cat "$T/flood.out")"
cat "$T/flood.out"
sent=$(field "$T/flood.out" sent)
ok=$(field "$T/flood.out" status_200)
busy=$(field "$T/flood.out" status_503)
[ "$sent" -ge 1000 ] || soft fail "the flood sent only $sent REGISTERs"
[ "$busy" -ge $((sent / 2)) ] ||
    soft fail "expected most of the $sent REGISTERs of the flood to get 503, got $busy"
soft assert_eq "$busy" "$(field "$T/flood.out" retry_after)" "503s with a Retry-After"
# the burst (2 x rate) and the rate over the flood, with a margin
max_ok=$((2 * RATE + RATE * (FLOOD_SECS + 2)))
[ "$ok" -ge "$RATE" ] && [ "$ok" -le "$max_ok" ] ||
    soft fail "the flood got $ok 200s, expected $RATE..$max_ok"
grep -q "registrar: 127.0.0.5 sends REGISTERs faster than registration.rate_per_source ($RATE/s)" "$DAEMON_LOG" ||
    soft fail "no warning in the log about the flood from 127.0.0.5"
[ "$(grep -c 'registrar: 127.0.0.5 sends REGISTERs faster' "$DAEMON_LOG")" -le $((FLOOD_SECS / 10 + 2)) ] ||
    soft fail "the flood warning is logged too often"

# ---------------------------------------------------------------------
step "a control client that sends requests and never reads the replies"
rss0=$(rss_kb)
bg_log "$T/ctlflood.out" perl "$T/hostile.pl" "$PORT" ctlflood "$SOCK" 2
ctlflood_pid=$BG_PID
sleep 1
ctl stats >/dev/null || soft fail "sippushctl not answered beside a client that reads nothing"
rss1=$rss0		# the most while it is connected
while ! _pid_done "$ctlflood_pid"; do
    r=$(rss_kb)
    [ "$r" -le "$rss1" ] || rss1=$r
    sleep 0.2
done
wait_pid "$ctlflood_pid" 10 || fail "hostile.pl ctlflood: $(cat "$T/ctlflood.out")"
cat "$T/ctlflood.out"
echo "sippushd RSS: ${rss0} kB before, at most ${rss1} kB with the client connected"
# the replies held for it stop at 4 MB (control.c, CONTROL_OUT_HIGH)
[ "$rss1" -le $((rss0 + 40 * 1024)) ] ||
    soft fail "sippushd grew from ${rss0} kB to ${rss1} kB for a client that reads nothing"
daemon_alive || fail "sippushd died"

# ---------------------------------------------------------------------
step "half-open, silent, junk and never-ending TCP connections"
perl "$T/hostile.pl" "$PORT" tcp >"$T/tcp.out" 2>&1 ||
    fail "hostile.pl tcp: $(cat "$T/tcp.out")"
daemon_alive || fail "sippushd died on TCP abuse"
cat "$T/tcp.out"
soft assert_eq 1 "$(field "$T/tcp.out" endless_closed)" "the endless header's connection was closed"
[ "$(field "$T/tcp.out" endless_bytes)" -le $((16384 * 8)) ] ||
    soft fail "the endless header got far past sip.max_message_size before its connection was closed"
for g in silent partial badcl junk; do
    n=$(field "$T/tcp.out" "${g}_closed")
    soft assert_eq "${n#*/}" "${n%/*}" "$g connections closed by the daemon"
done
soft assert_eq 20 "$(field "$T/tcp.out" partial_400)" "400s to the partial requests"
soft assert_eq 5 "$(field "$T/tcp.out" badcl_400)" "400s to the bodies shorter than their Content-Length"
grep -q "sip: closed [0-9]* TCP connections that sent nothing for 2s" "$DAEMON_LOG" ||
    soft fail "no log line about the silent connections closed"
# the daemon's side of those connections is gone too (idle: 2 s)
wait_until 6 eval '[ "$(fds)" -le $((fds0 + 2)) ]'
legit || soft fail "the good clients were not served after the TCP abuse"

# ---------------------------------------------------------------------
if command -v prlimit >/dev/null 2>&1; then
    step "descriptors run out: 150 silent connections against a limit of 100"
    prlimit --pid "$DAEMON_PID" --nofile=100:100
    perl "$T/hostile.pl" "$PORT" exhaust 150 >"$T/exhaust.out" 2>&1 ||
        fail "hostile.pl exhaust: $(cat "$T/exhaust.out")"
    cat "$T/exhaust.out"
    daemon_alive || fail "sippushd died when descriptors ran out"
    soft assert_eq 0 "$(field "$T/exhaust.out" left_open)" "silent connections left open"
    grep -q "sip: [0-9]* of 100 descriptors in use: TCP connections that send nothing are now closed after 1s" "$DAEMON_LOG" ||
        soft fail "no warning in the log about descriptors running out"
    wait_until 5 grep -q "back to closing silent connections" "$DAEMON_LOG"
    legit || soft fail "the good clients were not served after descriptors ran out"
else
    step "(prlimit missing: descriptor exhaustion not tested)"
fi

# ---------------------------------------------------------------------
step "dispatch.max_pending_per_client = 2"
# unregistered clients: their targets wait, none is in flight
sim -q -n 2 -p parked register unregister
id1=$(ctl --json publish --client parked0 one | jq -r .id)
ctl --json publish --client parked0 --client parked1 two >/dev/null
# sippushctl: 2, nothing was published
assert_status 2 ctl publish --client parked1 --client parked0 three
assert_contains "$OUT" "client parked0 has 2 unfinished messages" "refused publish"
assert_contains "$OUT" "dispatch.max_pending_per_client" "refused publish"
assert_status 0 ctl publish --client parked1 three
assert_status 0 ctl cancel "$id1"
assert_status 0 ctl publish --client parked0 four

# ---------------------------------------------------------------------
step "registration.max_clients: a full table refuses new clients only"
n=$(ctl --json stats | jq .clients)
stop_daemon
write_config "$CONF" "registration.max_clients = $n" 'heartbeat.timeout = 600' 'log.level = "info"'
restart_daemon
sim -q -n 1 -p newcomer --expect 503 register || soft fail "a new client got no 503 from a full table"
sim -q -n 2 --src-addrs 2 -p good -c legit register || soft fail "the good clients could not refresh in a full table"
sim -q -n 2 --src-addrs 2 -p good -c legit unregister || soft fail "the good clients could not unregister in a full table"
grep -q "registrar: the table holds registration.max_clients ($n) clients: new client newcomer0 refused with 503" "$DAEMON_LOG" ||
    soft fail "no warning in the log about the full table"
soft assert_status 1 ctl client newcomer0

step "sippushd still answers and stops cleanly"
ctl stats >/dev/null || fail "sippushctl stats failed"
stop_daemon
pass
