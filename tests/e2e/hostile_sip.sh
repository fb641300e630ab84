#!/usr/bin/env bash
# hostile_sip.sh -- attacks on the SIP transports (hardening issue, items
# 1, 2, 5 and 7), each against a running daemon that must survive it:
#
#  1. two requests in one TCP write (and one TLS record), the second with
#     Content-Length: 2147483648: Sofia 1.12.11 aborted in su_alloc;
#  2. the second request of a write announcing 300,000,000 bytes and
#     streaming them, and five connections announcing 2 GB: every message
#     of a stream is bounded by sip.max_message_size, the connection is
#     answered 413 and closed, RSS and address space stay flat, and the
#     stats count them (sip_too_large);
#  5. 500 datagrams a second of 56 KB OPTIONS with 1,100 Vias from one
#     address while simclient (127.0.0.1) registers and sends heartbeats:
#     the legitimate clients must be served in sane time, the big
#     datagrams dropped unparsed and counted (sip_dropped_headers); then a
#     source over sip.source_rate is dropped and counted;
#  7. STUN: no reply of any kind to datagrams starting with a 0 or 1 byte.
#
# The hostile traffic comes from a Perl script (perl-base) bound to
# 127.0.0.4..127.0.0.9; TLS goes through openssl s_client. Items 1, 2
# and 7 run with auth.enabled on (they happen before authentication), 5
# with it off (simclient plays clients without passwords).
#
# HOSTILE_SIP_STEPS picks the parts to run (default all: "1 2 7 5 5r"),
# e.g. to try one against another build.
. "$(dirname "$0")/lib.sh"

: "${HOSTILE_SIP_STEPS:=1 2 7 5 5r}"
want() { [[ " $HOSTILE_SIP_STEPS " == *" $1 "* ]]; }

command -v perl >/dev/null 2>&1 || fail "perl is missing"
command -v openssl >/dev/null 2>&1 || fail "openssl is missing"

# ---- a certificate for the TLS port ------------------------------------
C=$T/certs
mkdir -p "$C"
timeout 30 openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=DNS:127.0.0.1" \
    -keyout "$C/server.key" -out "$C/server.pem" >/dev/null 2>&1 ||
    fail "openssl could not make a certificate"
TLS_PORT=$(free_port)

MAX=16384
start_daemon \
    "sip.max_message_size = $MAX" \
    'tls.enable = true' "tls.port = $TLS_PORT" \
    "tls.certificate = \"$C/server.pem\"" "tls.key = \"$C/server.key\"" \
    'heartbeat.timeout = 600' \
    'auth.enabled = true' \
    'log.level = "info"'

daemon_alive() { [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; }
field() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
stat_of() { ctl --json stats | jq -r ".$1 // empty"; }
proc_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$DAEMON_PID/status"; }

# ---- the hostile peer -----------------------------------------------
# perl hostile.pl PORT SECTION [ARGS]: prints "key=value" lines.
cat >"$T/hostile.pl" <<'PERL'
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SO_SNDBUF);
use Time::HiRes qw(time sleep);

my ($port, $section, @args) = @ARGV;
my $srv = "127.0.0.1";
$SIG{PIPE} = 'IGNORE';
$| = 1;

sub options {
    my (%o) = @_;
    my $src = $o{src} // '127.0.0.4';
    my $tr = $o{tr} // 'TCP';
    my $n = $o{n} // 1;
    my $vias = $o{vias} // 0;
    my $cl = $o{cl} // 0;
    my $b = 'z9hG4bK' . $n . 'x' . int(rand(1e9));
    return "OPTIONS sip:$srv SIP/2.0\r\n"
        . "Via: SIP/2.0/$tr $src:5999;rport;branch=$b\r\n"
        . join('', map { "Via: SIP/2.0/$tr 10.0.0.$_:5060;branch=z9hG4bK$_\r\n" } 1 .. $vias)
        . "Max-Forwards: 70\r\n"
        . "From: <sip:hostile$n\@$srv>;tag=$b\r\n"
        . "To: <sip:hostile$n\@$srv>\r\n"
        . "Call-ID: $b\@$src\r\n"
        . "CSeq: 1 OPTIONS\r\n"
        . "Content-Length: $cl\r\n\r\n";
}

# Read what a connection sends back until it is closed or $secs pass;
# returns (closed, status codes seen).
sub replies {
    my ($s, $secs) = @_;
    my $sel = IO::Select->new($s);
    my ($buf, $closed) = ('', 0);
    my $end = time + $secs;
    while ((my $left = $end - time) > 0) {
        next unless $sel->can_read($left);
        my $r = sysread($s, my $chunk, 65536);
        if (!defined $r || $r == 0) { $closed = 1; last; }
        $buf .= $chunk;
    }
    my @codes = $buf =~ m{^SIP/2\.0 (\d{3}) }mg;
    return ($closed, @codes);
}

# Status lines of the proc file of the daemon, in kB.
sub vm {
    my ($pid, $key) = @_;
    open(my $f, '<', "/proc/$pid/status") or return 0;
    while (<$f>) { return $1 if /^$key:\s+(\d+)/; }
    return 0;
}

if ($section eq 'pipeline') {
    # one write: a valid OPTIONS, then one announcing $cl bytes (one sent)
    my ($cl) = @args;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.4',
        PeerAddr => "$srv:$port", Proto => 'tcp') or die "tcp: $!\n";
    syswrite($s, options(n => 1) . options(n => 2, cl => $cl) . 'x');
    my ($closed, @codes) = replies($s, 5);
    print "closed=$closed\n";
    print "codes=@codes\n";
} elsif ($section eq 'burst') {
    # $n small OPTIONS in one write, far more bytes than the limit: all
    # must be answered and the connection kept
    my ($n) = @args;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.4',
        PeerAddr => "$srv:$port", Proto => 'tcp') or die "tcp: $!\n";
    my $all = join('', map { options(n => 100 + $_) } 1 .. $n);
    print "bytes=", length($all), "\n";
    my $off = 0;
    while ($off < length $all) {
        my $w = syswrite($s, $all, length($all) - $off, $off);
        die "write: $!\n" unless defined $w;
        $off += $w;
    }
    my $sel = IO::Select->new($s);
    my ($buf, $closed) = ('', 0);
    my $end = time + 10;
    while (time < $end) {
        my @c = $buf =~ m{^SIP/2\.0 [1-6]\d\d }mg;
        last if @c >= $n;
        next unless $sel->can_read(0.2);
        my $r = sysread($s, my $chunk, 65536);
        if (!$r) { $closed = 1; last; }
        $buf .= $chunk;
    }
    my @c = $buf =~ m{^SIP/2\.0 [1-6]\d\d }mg;
    print "ok=", scalar(@c), "\nclosed=$closed\n";
} elsif ($section eq 'stream') {
    # $conns connections each pipelining a second message of $cl bytes
    # and streaming its body for up to $secs; the daemon's VmRSS and
    # VmSize peaks are sampled meanwhile
    my ($conns, $cl, $secs, $pid) = @args;
    my (@s, %closed);
    for my $i (1 .. $conns) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.5',
            PeerAddr => "$srv:$port", Proto => 'tcp') or die "tcp: $!\n";
        setsockopt($s, SOL_SOCKET, SO_SNDBUF, 1 << 20);
        $s->blocking(0);
        syswrite($s, options(n => 10 + $i) . options(n => 20 + $i, cl => $cl));
        push @s, $s;
    }
    my ($rss0, $vsz0) = (vm($pid, 'VmRSS'), vm($pid, 'VmSize'));
    my ($rss, $vsz) = ($rss0, $vsz0);
    my $chunk = 'b' x 65536;
    my ($sent, %codes) = (0);
    my $end = time + $secs;
    while (time < $end && keys(%closed) < $conns) {
        for my $i (0 .. $#s) {
            next if $closed{$i};
            my $w = syswrite($s[$i], $chunk);
            $sent += $w if defined $w;
            $closed{$i} = 1 if !defined $w && !$!{EAGAIN} && !$!{EWOULDBLOCK};
            my $r = sysread($s[$i], my $in, 65536);
            if (defined $r && $r == 0) { $closed{$i} = 1; }
            elsif (defined $r) { $codes{$_}++ for $in =~ m{^SIP/2\.0 (\d{3}) }mg; }
        }
        my ($r, $v) = (vm($pid, 'VmRSS'), vm($pid, 'VmSize'));
        $rss = $r if $r > $rss;
        $vsz = $v if $v > $vsz;
        sleep 0.002;
    }
    print "closed=", scalar(keys %closed), "\n";
    print "sent=$sent\n";
    print "rss_grew_kb=", $rss - $rss0, "\n";
    print "vsz_grew_kb=", $vsz - $vsz0, "\n";
    print "codes_$_=$codes{$_}\n" for sort keys %codes;
} elsif ($section eq 'stun') {
    # STUN binding requests (type 0x0001), an indication, a response
    # (first byte 1), of 20 bytes and more; and a final OPTIONS that must
    # be answered, so that silence means no reply and not a dead socket
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.6',
        PeerAddr => "$srv:$port", Proto => 'udp') or die "udp: $!\n";
    my $n = 0;
    for my $i (1 .. 20) {
        my $tid = pack('N4', $i, $i * 7, 0x2112A442, $i);
        $s->send(pack('nn', 0x0001, 0) . $tid); $n++;
        $s->send(pack('nn', 0x0001, 8) . $tid . pack('nnN', 0x8022, 4, 0)); $n++;
        $s->send(pack('nn', 0x0011, 0) . $tid); $n++;
        $s->send(pack('nn', 0x0101, 0) . $tid); $n++;
        $s->send("\0" x 100); $n++;
    }
    my $sel = IO::Select->new($s);
    my ($stun, $sip) = (0, 0);
    my $opt_sent = 0;
    my $end = time + 3;
    while (time < $end) {
        if (!$opt_sent && time > $end - 2) {
            $s->send(options(src => '127.0.0.6', tr => 'UDP', n => 99));
            $opt_sent = 1;
        }
        next unless $sel->can_read(0.1);
        $s->recv(my $buf, 70000);
        if ($buf =~ m{^SIP/2\.0 }) { $sip++; } else { $stun++; }
        last if $sip;
    }
    print "sent=$n\nstun_replies=$stun\nsip_replies=$sip\n";
} elsif ($section eq 'bigdgram') {
    # $rate datagrams/s of ~56 KB: an OPTIONS with 1,100 Vias, for $secs
    my ($rate, $secs, $src) = @args;
    my $s = IO::Socket::INET->new(LocalAddr => $src // '127.0.0.7',
        PeerAddr => "$srv:$port", Proto => 'udp') or die "udp: $!\n";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4 << 20);
    $s->blocking(0);
    my $d = options(src => $src // '127.0.0.7', tr => 'UDP', vias => 1100);
    my ($n, $replies) = (0, 0);
    my $t0 = time;
    while ((my $el = time - $t0) < $secs) {
        while ($n < $el * $rate) {
            (my $x = $d) =~ s/branch=z9hG4bK1x/branch=z9hG4bK${n}x/;
            $s->send($x); $n++;
        }
        while (defined $s->recv(my $buf, 70000)) {
            last unless length $buf;
            $replies++;
        }
        sleep 0.001;
    }
    print "sent=$n\nbytes=", length($d), "\nreplies=$replies\n";
} elsif ($section eq 'flood') {
    # $rate small OPTIONS a second for $secs from 127.0.0.8; replies counted
    my ($rate, $secs) = @args;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.8',
        PeerAddr => "$srv:$port", Proto => 'udp') or die "udp: $!\n";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4 << 20);
    $s->blocking(0);
    my ($n, $replies) = (0, 0);
    my $t0 = time;
    while ((my $el = time - $t0) < $secs) {
        while ($n < $el * $rate) {
            $s->send(options(src => '127.0.0.8', tr => 'UDP', n => $n % 50)); $n++;
        }
        while (defined $s->recv(my $buf, 70000)) {
            last unless length $buf;
            $replies++;
        }
        sleep 0.001;
    }
    sleep 0.5;
    while (defined $s->recv(my $buf, 70000)) { last unless length $buf; $replies++; }
    print "sent=$n\nreplies=$replies\n";
}
PERL

# simclient as the legitimate clients (127.0.0.1): prints its summaries
legit_register() { sim -n "$1" -p "legit$2-" -c legit -t 5000 register; }

if want 1; then
step "1. two OPTIONS in one TCP write, the second with Content-Length: 2^31"
perl "$T/hostile.pl" "$PORT" pipeline 2147483648 >"$T/p1.out" 2>&1 ||
    fail "hostile.pl pipeline: $(cat "$T/p1.out")"
cat "$T/p1.out"
daemon_alive || fail "sippushd died on a pipelined Content-Length: 2147483648 (log: $DAEMON_LOG)"
soft assert_eq 1 "$(field "$T/p1.out" closed)" "the connection was closed"
soft assert_contains "$(field "$T/p1.out" codes)" 413 "the second request answered 413"
perl "$T/hostile.pl" "$PORT" pipeline 4294967296 >"$T/p1b.out" 2>&1 ||
    fail "hostile.pl pipeline: $(cat "$T/p1b.out")"
cat "$T/p1b.out"
daemon_alive || fail "sippushd died on a pipelined Content-Length: 2^32"
# Sofia takes 2^32 for a bad Content-Length: 400, not 413
soft assert_eq 1 "$(field "$T/p1b.out" closed)" "the connection was closed (2^32)"

step "1. the same in one TLS record"
{ printf 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.4:5999;rport;branch=z9hG4bKt1\r\nMax-Forwards: 70\r\nFrom: <sip:t1@127.0.0.1>;tag=1\r\nTo: <sip:t1@127.0.0.1>\r\nCall-ID: t1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\nOPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.4:5999;rport;branch=z9hG4bKt2\r\nMax-Forwards: 70\r\nFrom: <sip:t2@127.0.0.1>;tag=2\r\nTo: <sip:t2@127.0.0.1>\r\nCall-ID: t2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 2147483648\r\n\r\nx'
  sleep 3; } | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$TLS_PORT" \
    >"$T/tls.out" 2>"$T/tls.err" || true
sleep 0.5
daemon_alive || fail "sippushd died on a pipelined Content-Length: 2147483648 over TLS (log: $DAEMON_LOG)"
grep -q '^SIP/2.0 ' "$T/tls.out" || soft fail "no SIP answer over TLS: $(tail -n 3 "$T/tls.err")"
soft assert_contains "$(cat "$T/tls.out")" "SIP/2.0 413" "the TLS request answered 413"
n=$(stat_of sip_too_large)
[ "${n:-0}" -ge 2 ] || soft fail "stats sip_too_large is '${n:-missing}', expected >= 2"

fi

if want 2; then
step "2. 300 small OPTIONS in one write (~120 KB, the limit is 16 KB): all answered"
perl "$T/hostile.pl" "$PORT" burst 300 >"$T/burst.out" 2>&1 ||
    fail "hostile.pl burst: $(cat "$T/burst.out")"
cat "$T/burst.out"
soft assert_eq 300 "$(field "$T/burst.out" ok)" "answers to the pipelined OPTIONS"
soft assert_eq 0 "$(field "$T/burst.out" closed)" "the connection was closed"

step "2. a pipelined Content-Length: 300000000 with its body streamed"
too_large0=$(stat_of sip_too_large)
perl "$T/hostile.pl" "$PORT" stream 1 300000000 4 "$DAEMON_PID" >"$T/p2.out" 2>&1 ||
    fail "hostile.pl stream: $(cat "$T/p2.out")"
cat "$T/p2.out"
daemon_alive || fail "sippushd died on a streamed 300 MB body"
soft assert_eq 1 "$(field "$T/p2.out" closed)" "the connection was closed"
[ "$(field "$T/p2.out" rss_grew_kb)" -lt 65536 ] ||
    soft fail "RSS grew by $(field "$T/p2.out" rss_grew_kb) kB for one connection"

step "2. five connections announcing 2,000,000,000 bytes each"
perl "$T/hostile.pl" "$PORT" stream 5 2000000000 4 "$DAEMON_PID" >"$T/p2b.out" 2>&1 ||
    fail "hostile.pl stream: $(cat "$T/p2b.out")"
cat "$T/p2b.out"
daemon_alive || fail "sippushd died on five 2 GB announcements"
soft assert_eq 5 "$(field "$T/p2b.out" closed)" "connections closed"
[ "$(field "$T/p2b.out" vsz_grew_kb)" -lt 524288 ] ||
    soft fail "address space grew by $(field "$T/p2b.out" vsz_grew_kb) kB for five connections"
[ "$(field "$T/p2b.out" rss_grew_kb)" -lt 65536 ] ||
    soft fail "RSS grew by $(field "$T/p2b.out" rss_grew_kb) kB for five connections"
too_large=$(stat_of sip_too_large)
[ "${too_large:-0}" -ge $((${too_large0:-0} + 6)) ] ||
    soft fail "stats sip_too_large went from '${too_large0:-missing}' to '${too_large:-missing}', expected 6 more"
grep -q "larger than sip.max_message_size" "$DAEMON_LOG" ||
    soft fail "the log does not say why connections were closed"

fi

if want 7; then
step "7. STUN: nothing answers a datagram starting with 0 or 1"
perl "$T/hostile.pl" "$PORT" stun >"$T/stun.out" 2>&1 ||
    fail "hostile.pl stun: $(cat "$T/stun.out")"
cat "$T/stun.out"
soft assert_eq 0 "$(field "$T/stun.out" stun_replies)" "STUN replies"
soft assert_eq 1 "$(field "$T/stun.out" sip_replies)" "the OPTIONS after them answered"
stun=$(stat_of stun_dropped)
[ "${stun:-0}" -ge 80 ] || soft fail "stats stun_dropped is '${stun:-missing}', expected >= 80"

fi

if want 5; then
step "5. 500/s OPTIONS of 56 KB with 1,100 Vias from 127.0.0.7; legitimate clients meanwhile"
# the default sip.max_message_size (65536): the datagrams fit
stop_daemon
start_daemon 'heartbeat.timeout = 600' 'log.level = "info"'
legit_register 200 0 >"$T/reg0.out" || fail "legitimate clients not served before the attack: $(cat "$T/reg0.out")"
ATTACK=8
bg_log "$T/big.out" perl "$T/hostile.pl" "$PORT" bigdgram 500 "$ATTACK" 127.0.0.7
big_pid=$BG_PID
sleep 1
rc=0
legit_register 1000 1 >"$T/reg1.out" 2>&1 || rc=$?
sim -n 200 -p legit0- -t 2000 --interval 1 heartbeat:4 >"$T/hb1.out" 2>&1 || true
wait_pid "$big_pid" 30 || fail "hostile.pl bigdgram: $(cat "$T/big.out")"
cat "$T/big.out" "$T/reg1.out" "$T/hb1.out"
daemon_alive || fail "sippushd died during the big-datagram attack"
reg=$(grep '^register:' "$T/reg1.out" | tail -n 1)
p50=$(sed -n 's/.* p50=\([0-9.]*\)ms.*/\1/p' <<<"$reg")
p99=$(sed -n 's/.* p99=\([0-9.]*\)ms.*/\1/p' <<<"$reg")
ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$reg")
hb=$(grep '^heartbeat:' "$T/hb1.out" | tail -n 1)
hb_sent=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' <<<"$hb")
hb_ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$hb")
echo "legit REGISTER: ok=$ok p50=${p50}ms p99=${p99}ms; heartbeats: $hb_ok of $hb_sent answered"
soft assert_eq 1000 "${ok:-0}" "REGISTERs answered 200 during the attack"
awk -v v="${p50:-1e9}" 'BEGIN { exit !(v < 200) }' ||
    soft fail "REGISTER p50 ${p50:-?}ms during the attack (bound 200 ms)"
awk -v v="${p99:-1e9}" 'BEGIN { exit !(v < 1500) }' ||
    soft fail "REGISTER p99 ${p99:-?}ms during the attack (bound 1500 ms)"
awk -v o="${hb_ok:-0}" -v s="${hb_sent:-0}" 'BEGIN { exit !(s > 0 && o >= 0.95 * s) }' ||
    soft fail "only ${hb_ok:-0} of ${hb_sent:-0} heartbeats answered during the attack"
dropped=$(stat_of sip_dropped_headers)
[ "${dropped:-0}" -ge 1000 ] ||
    soft fail "stats sip_dropped_headers is '${dropped:-missing}', expected >= 1000"
soft assert_eq 0 "$(field "$T/big.out" replies)" "answers to the big datagrams"

fi

if want 5r; then
step "5. one source over sip.source_rate: dropped and counted, others served"
stop_daemon
start_daemon 'sip.source_rate = 200' 'heartbeat.timeout = 600' 'log.level = "info"'
bg_log "$T/flood.out" perl "$T/hostile.pl" "$PORT" flood 2000 3
flood_pid=$BG_PID
sleep 0.5
legit_register 100 2 >"$T/reg2.out" 2>&1 ||
    soft fail "legitimate clients not served during the flood: $(cat "$T/reg2.out")"
wait_pid "$flood_pid" 20 || fail "hostile.pl flood: $(cat "$T/flood.out")"
cat "$T/flood.out"
replies=$(field "$T/flood.out" replies)
# 200/s with a burst of one second: about 800 of 6,000 in 3 s
[ "${replies:-0}" -gt 100 ] && [ "${replies:-0}" -lt 2000 ] ||
    soft fail "$replies replies to 6,000 OPTIONS from a source limited to 200/s"
rate=$(stat_of sip_dropped_rate)
[ "${rate:-0}" -ge 3000 ] || soft fail "stats sip_dropped_rate is '${rate:-missing}', expected >= 3000"
grep -q "127.0.0.8 is over sip.source_rate" "$DAEMON_LOG" ||
    soft fail "the log does not name the source over sip.source_rate"
fi

pass
