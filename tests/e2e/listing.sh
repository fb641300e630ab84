#!/usr/bin/env bash
# listing.sh -- listing a large client table: `sippushctl clients' on
# 50,000 clients is complete, sorted and the same in text and JSON; the
# daemon streams it (its peak memory grows by far less than the 11 MB
# the listing weighs), keeps serving SIP and other sippushctl requests
# while a reader is slow, and leaves out a client deleted meanwhile.
# (The figures for 1,000,000 clients are in BENCHMARKS.md.)
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null 2>&1 ||
    fail "sqlite3 (the command-line shell) is missing: apt-get install sqlite3"
command -v perl >/dev/null || fail "perl is missing"

N=50000
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$DAEMON_PID/status"; }

step "a table of $N clients, written into the database before the start"
start_daemon 'heartbeat.timeout = 0' 'registration.max_expires = 604800' \
    'registration.retain = 604800'
stop_daemon
now=$(date +%s)
timeout 60 sqlite3 -batch "$T/sippush.db" "
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $N - 1)
    INSERT INTO clients (id, class, state, contact, transport, address, port,
        user_agent, registered_at, expires_at, last_seen) SELECT printf('dev%05d', i), 'c' || (i % 7), 'online',
        '<sip:dev' || i || '@127.0.0.1:9>', 'udp', '127.0.0.1', 9,
        'listing.sh', $now, $now + 86400, $now FROM n;" ||
    fail "cannot fill the database"
restart_daemon
assert_eq "$N" "$(ctl --json stats | jq .clients)" "clients loaded"

step "sippushctl clients: every client, once, in ID order; JSON says the same"
before=$(hwm)
assert_status 0 ctl clients
after=$(hwm)
text=$OUT
assert_eq "$((N + 1))" "$(wc -l <<<"$text")" "lines of the table (with its header)"
assert_eq "ID CLASS STATE" "$(head -1 <<<"$text" | awk '{ print $1, $2, $3 }')" "header"
tail -n +2 <<<"$text" | awk '{ print $1 }' >"$T/ids.txt"
LC_ALL=C sort -c "$T/ids.txt" || fail "the table is not in ID order"
assert_eq "$N" "$(sort -u "$T/ids.txt" | wc -l)" "distinct IDs"
# past the 1000 rows the widths come from, columns stay aligned
assert_eq "dev49999 c5 online udp" "$(tail -1 <<<"$text" | awk '{ print $1, $2, $3, $4 }')" "last row"
assert_eq "$(sed -n 2p <<<"$text" | cut -c1-31 | sed 's/dev00000/IDIDIDID/; s/c0/CC/')" \
    "$(tail -1 <<<"$text" | cut -c1-31 | sed 's/dev49999/IDIDIDID/; s/c5/CC/')" \
    "row 2 and row $((N + 1)) aligned alike"
assert_status 0 ctl --json clients
assert_eq "$N" "$(jq length <<<"$OUT")" "JSON records"
assert_eq "$(cat "$T/ids.txt")" "$(jq -r '.[].id' <<<"$OUT")" "JSON IDs, in order"
grow=$((after - before))
echo "daemon VmHWM: $before kB before the listing, $after kB after (+$grow kB for ~11 MB listed)"
# (built whole, it grows by 10 MB and more). Under AddressSanitizer,
# whose quarantine keeps freed memory a while, the peak says nothing: it
# grew by 10 MB with the listing streamed
if ldd "$SIPPUSHD" 2>/dev/null | grep -q libasan; then
	echo "(AddressSanitizer build: the peak memory is not checked)"
else
	[ "$grow" -lt 6144 ] ||
	    fail "the daemon's peak memory grew by $grow kB for a listing: is it built whole?"
fi

step "a slow reader: SIP and other requests are served meanwhile, the listing ends whole"
# the reader asks for the online clients, reads 64 KB, stops for 2 s (the
# daemon's output waits on the socket), then reads the rest; meanwhile
# dev33333 unregisters (no longer online: left out) and 5 clients
# register (their IDs, live*, sort after the dev* ones: the listing, read
# from the store a page at a time, reaches them after their commit)
bg_log "$T/slow.out" timeout 30 perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n";
    <$s>;                                   # greeting
    print $s "clients online=yes\n";
    my ($got, $buf) = (0, "");
    while ($got < 65536) { my $n = sysread($s, $buf, 65536, length $buf) or die; $got += $n; }
    sleep 2;
    while ($buf !~ /\n\.\n\z/) { sysread($s, $buf, 1 << 20, length $buf) or die "cut short\n"; }
    my @ids = $buf =~ /^id=(\S+)/mg;
    print scalar(@ids), " ", ($buf =~ /^id=dev33333 /m ? "with" : "without"), "\n";
' "$SOCK"
SLOW=$BG_PID
sleep 0.5
assert_status 0 ctl stats
sim -q -n 1 -p dev --first 33333 unregister
assert_eq unregistered "$(client_field dev33333 state)" "dev33333"
sim_bg -q -n 5 -p live register listen:10
wait_until 5 state_is live4 online
wait_pid "$SLOW" 30 || fail "the slow reader failed: $(cat "$T/slow.out")"
assert_eq "$((N - 1 + 5)) without" "$(cat "$T/slow.out")" "records the slow reader got"

step "status of a finished message to class c3 (about N/7 targets): every target, in order"
# read back from the store in pages (DISPATCH_STATUS_PAGE per writer job)
ctl --json publish --class c3 'big' >"$T/pub.big" || fail "publish to c3"
BIG=$(jq -r .id "$T/pub.big")
assert_status 0 ctl --json cancel "$BIG"
assert_status 0 ctl --json status "$BIG"
printf '%s' "$OUT" >"$T/big.json"
want=$(awk '$2 == "c3"' <<<"$text" | wc -l)
assert_eq "$want" "$(jq '.targets | length' "$T/big.json")" "targets listed"
jq -r '.targets[].client' "$T/big.json" >"$T/big.ids"
LC_ALL=C sort -c "$T/big.ids" || fail "the targets are not in client ID order"
assert_eq "$want" "$(sort -u "$T/big.ids" | wc -l)" "distinct targets"

pass
