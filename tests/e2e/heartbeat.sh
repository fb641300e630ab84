#!/usr/bin/env bash
# heartbeat.sh -- OPTIONS heartbeats and the liveness sweep: heartbeats
# keep clients online, silence makes them offline after heartbeat.timeout
# (+ one sweep), a heartbeat brings one back, an OPTIONS that is no
# heartbeat (unknown ID, other source port) changes nothing and is still
# answered 200, and heartbeat.timeout = 0 turns the timeout off.
. "$(dirname "$0")/lib.sh"

# A client is offline once now - last_seen > timeout at a sweep: with
# timeout 2 and a sweep every second, within 4 s of its last heartbeat.
start_daemon 'heartbeat.timeout = 2' 'heartbeat.sweep_interval = 1'

rows() { clients_json | jq -c --arg p "$1" '[.[] | select(.id | test("^" + $p + "[0-9]+$"))]'; }
states() { rows "$1" | jq -c '[.[].state] | unique'; }

# ---------------------------------------------------------------------
step "start: 5 UDP + 3 TCP clients heartbeating every 0.5 s for 9 s"
sim_bg -n 5 -p beat -c live --interval 0.5 register heartbeat:9
beat_pid=$BG_PID
sim_bg -n 3 -p tbeat -c live --tcp --interval 0.5 register heartbeat:9
tbeat_pid=$BG_PID

step "4 silent clients (register, nothing more)"
sim -n 4 -p quiet -c silent register
t_quiet=$(date +%s)

step "1 client that registers, is silent for 7 s, then heartbeats (in the background)"
sim_bg -n 1 -p back -c comeback --interval 0.5 register sleep:7 heartbeat:3
back_pid=$BG_PID

wait_until 5 all_in_state 8 online --class live
assert_eq 4 "$(count_state online --class silent)" "silent clients online right after REGISTER"

step "silent clients go offline after timeout + sweep"
wait_until 8 all_in_state 4 offline --class silent
waited=$(( $(date +%s) - t_quiet ))
[ "$waited" -ge 2 ] || fail "silent clients went offline after ${waited}s, before heartbeat.timeout (2 s)"
assert_contains "$(cat "$DAEMON_LOG")" "quiet0 is offline (silent for" "daemon log"
wait_until 4 state_is back0 offline
assert_eq 5 "$(ctl --json stats | jq .offline)" "stats: offline (only the silent ones)"

step "an OPTIONS from the registered IDs but from other source ports is no heartbeat"
sim -n 4 -p quiet options                  # new sockets: new source ports
sim -n 4 -p quiet --tcp options            # and another transport
sleep 1.2                                  # let a sweep (and a flush) pass
assert_eq '["offline"]' "$(states quiet)" "states of quiet* after OPTIONS from other ports"
assert_contains "$(cat "$DAEMON_LOG")" "OPTIONS from quiet0 is no heartbeat" "daemon log"

# options_reply ID: an OPTIONS From ID, from a new UDP socket; prints the
# status and the Sippush-Registration header of the answer (or "-")
options_reply()
{
    timeout 10 perl -MIO::Socket::INET -e '
        my ($port, $id) = @ARGV;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
            Proto => "udp") or die "$!\n";
        my $n = int(rand(1e9));
        my $me = $s->sockport;
        $s->send("OPTIONS sip:127.0.0.1 SIP/2.0\r\n" .
            "Via: SIP/2.0/UDP 127.0.0.1:$me;rport;branch=z9hG4bK$n\r\n" .
            "From: <sip:$id\@127.0.0.1>;tag=1\r\nTo: <sip:$id\@127.0.0.1>\r\n" .
            "Call-ID: or$n\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            or die "$!\n";
        defined $s->recv(my $r, 65535) or die "$!\n";
        my ($st) = $r =~ m{^SIP/2.0 (\d+)};
        my ($h) = $r =~ m{^Sippush-Registration:\s*(\S+)}mi;
        print "$st ", $h // "-", "\n";' "$PORT" "$1"
}

step "the 200 to an OPTIONS that is no heartbeat says why (Sippush-Registration)"
assert_eq "200 elsewhere" "$(options_reply quiet1)" "OPTIONS from quiet1's ID, another port"
assert_eq "200 none" "$(options_reply ghost9)" "OPTIONS from an unknown ID"

# options_full VIA_RPORT: an OPTIONS from socket A whose Via names
# socket B's port (with ";rport" when VIA_RPORT is 1: then the answer
# comes back to A); prints which socket got the answer and its header
# names in order, with the To tag's presence
options_full()
{
    timeout 10 perl -MIO::Socket::INET -MIO::Select -e '
        my ($port, $rport) = @ARGV;
        my $a = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
            Proto => "udp") or die "$!\n";
        my $b = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
            Proto => "udp") or die "$!\n";
        my $n = int(rand(1e9));
        my $via = $b->sockport . ($rport ? ";rport" : "");
        $a->send("OPTIONS sip:127.0.0.1 SIP/2.0\r\n" .
            "Via: SIP/2.0/UDP 127.0.0.1:$via;branch=z9hG4bK$n\r\n" .
            "From: <sip:nobody\@127.0.0.1>;tag=1\r\n" .
            "To: <sip:nobody\@127.0.0.1>\r\n" .
            "Call-ID: of$n\r\nCSeq: 3 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            or die "$!\n";
        my @r = IO::Select->new($a, $b)->can_read(5) or die "no answer\n";
        defined $r[0]->recv(my $r, 65535) or die "$!\n";
        my @h = map { /^([^:]+):/ ? $1 : () } split /\r\n/, $r;
        print $r[0] == $a ? "A" : "B", " ",
            ($r =~ m{^To: [^\r]*;tag=\w+\r$}m ? "tag" : "notag"), " ",
            ($r =~ m{^Call-ID: of$n\r$}m ? "cid" : "nocid"), " @h\n";' \
        "$PORT" "$1"
}

step "the 200 to a UDP OPTIONS: the request's headers, a To tag, to where nta would send it"
hdrs="Via From To Call-ID CSeq Server Allow Content-Length Sippush-Registration"
assert_eq "A tag cid $hdrs" "$(options_full 1)" "answer to an OPTIONS with rport"
assert_eq "B tag cid $hdrs" "$(options_full 0)" "answer to an OPTIONS whose Via names another port"

step "an OPTIONS from an unregistered ID is answered 200 and lists nobody"
n_before=$(ctl --json stats | jq .clients)
sim -n 3 -p ghost options
sim -n 1 -p ghost --tcp options
assert_status 1 ctl client ghost0
assert_contains "$OUT" "no such client"
assert_eq "$n_before" "$(ctl --json stats | jq .clients)" "stats: clients after OPTIONS from ghosts"

step "heartbeating clients are still online, well past the timeout"
sleep 1
now=$(date +%s)
assert_eq '["online"]' "$(states beat)" "states of beat* at $((now - t_quiet))s"
assert_eq '["online"]' "$(states tbeat)" "states of tbeat* (TCP) at $((now - t_quiet))s"
assert_eq '["tcp"]' "$(rows tbeat | jq -c '[.[].transport] | unique')" "transports of tbeat*"
old=$(rows beat | jq --argjson now "$now" '[.[] | select($now - .last_seen > 2)] | length')
assert_eq 0 "$old" "beat* clients whose last_seen is older than 2 s"

step "a heartbeat brings a client back online"
# back0 was seen offline above; it heartbeats 7 s after registering
wait_until 8 state_is back0 online
assert_eq "offline online" \
    "$(sed -n 's/.*heartbeat: back0 is \(offline\|back online\).*/\1/p' "$DAEMON_LOG" | sed 's/back //' | xargs)" \
    "back0's changes of state in the daemon log"

step "clients that stop heartbeating become offline"
wait_pid "$beat_pid" 15 || fail "simclient (beat*) failed"
wait_pid "$tbeat_pid" 15 || fail "simclient (tbeat*, TCP) failed"
t_stop=$(date +%s)
# On a loaded machine this check can come more than heartbeat.timeout
# after a client's last heartbeat (wait_pid above): then offline is right.
# A client offline while now - last_seen <= timeout went off too early.
json=$(rows beat)
now=$(date +%s)
assert_eq 5 "$(printf "%s" "$json" | jq length)" "beat* clients listed"
early=$(printf '%s' "$json" | jq -c --argjson now "$now" \
    '[.[] | select(.state != "online" and ($now - .last_seen) <= 2) | {id, state, last_seen}]')
assert_eq '[]' "$early" "beat* offline within heartbeat.timeout of their last heartbeat (now $now)"
wait_until 8 all_in_state 8 offline --class live
waited=$(( $(date +%s) - t_stop ))
[ "$waited" -ge 1 ] || fail "beat* went offline ${waited}s after their last heartbeat"
wait_pid "$back_pid" 15 || fail "simclient (back0) failed"

step "offline is persisted: restart, the states are the same"
snap=$(clients_json | jq -c 'map({id, state})')
stop_daemon
restart_daemon
assert_eq "$snap" "$(clients_json | jq -c 'map({id, state})')" "states after restart"
stop_daemon

# ---------------------------------------------------------------------
step "heartbeat.timeout = 0: silent clients stay online"
start_daemon 'heartbeat.timeout = 0' "database.path = \"$T/notimeout.db\""
sim -n 3 -p still -c nohb register
sleep 4.5                                  # past what took quiet* offline
assert_eq '["online"]' "$(states still)" "states of still* after 4.5 s of silence"
assert_eq 0 "$(ctl --json stats | jq .offline)" "stats: offline"
stop_daemon
pass
