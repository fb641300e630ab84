#!/usr/bin/env bash
# register.sh -- REGISTER end to end: classes (Contact parameter, header,
# default), the listing and its filters, re-registration, Expires: 0,
# 423 below the minimum, expiry by the sweep, TCP, and that a 200 is
# durable (kill -9 right after it, restart: the clients are there).
. "$(dirname "$0")/lib.sh"

# Heartbeats are not under test here: a long timeout keeps clients online.
start_daemon 'registration.min_expires = 2' 'heartbeat.timeout = 600'

# rows PREFIX: the JSON records of the clients whose ID starts with PREFIX
# followed by digits.
rows() { clients_json | jq -c --arg p "$1" '[.[] | select(.id | test("^" + $p + "[0-9]+$"))]'; }

# ---------------------------------------------------------------------
step "50 clients register with class alpha (Contact parameter)"
sim -n 50 -p reg -c alpha register
r=$(rows reg)
assert_eq 50 "$(jq length <<<"$r")" "clients reg* listed"
assert_eq '[0,1,10,11,12,13,14,15,16,17,18,19,2,20,21,22,23,24,25,26,27,28,29,3,30,31,32,33,34,35,36,37,38,39,4,40,41,42,43,44,45,46,47,48,49,5,6,7,8,9]' \
    "$(jq -c '[.[].id | ltrimstr("reg") | tonumber]' <<<"$r")" "IDs listed, sorted by ID"
assert_eq '["alpha"]' "$(jq -c '[.[].class] | unique' <<<"$r")" "classes of reg*"
assert_eq '["online"]' "$(jq -c '[.[].state] | unique' <<<"$r")" "states of reg*"
assert_eq '["udp"]' "$(jq -c '[.[].transport] | unique' <<<"$r")" "transports of reg*"
assert_eq '["127.0.0.1"]' "$(jq -c '[.[].address] | unique' <<<"$r")" "addresses of reg*"
assert_eq '["sippush-simclient"]' "$(jq -c '[.[].user_agent] | unique' <<<"$r")" "user agents of reg*"
# simclient's Contact carries the port of the socket it sends from: the
# recorded source port must be that one, and each client has its own.
bad=$(jq -c '[.[] | select((.port | type) != "number" or .port < 1024 or .port > 65535
    or ("@127.0.0.1:\(.port)>" as $w | .contact | contains($w) | not)) | .id]' <<<"$r")
assert_eq '[]' "$bad" "clients whose port is not their Contact's port"
assert_eq 50 "$(jq '[.[].port] | unique | length' <<<"$r")" "distinct source ports"
assert_eq '[600]' "$(jq -c '[.[] | .expires_at - .registered_at] | unique' <<<"$r")" "granted expiry"
assert_eq '["<sip:reg7@127.0.0.1:'"$(jq -r '.[] | select(.id == "reg7") | .port' <<<"$r")"'>;class=alpha"]' \
    "$(jq -c '[.[] | select(.id == "reg7") | .contact]' <<<"$r")" "stored Contact of reg7"

step "10 clients register with class beta in the Sippush-Class header"
sim -n 10 -p hdr -c beta --class-header register
r=$(rows hdr)
assert_eq 10 "$(jq length <<<"$r")" "clients hdr* listed"
assert_eq '["beta"]' "$(jq -c '[.[].class] | unique' <<<"$r")" "classes of hdr*"
assert_eq '["online"]' "$(jq -c '[.[].state] | unique' <<<"$r")" "states of hdr*"

step "5 clients register without a class: the default class"
sim -n 5 -p plain register
assert_eq '["default"]' "$(rows plain | jq -c '[.[].class] | unique')" "classes of plain*"
assert_eq default "$(client_field plain3 class)" "class of plain3 (sippushctl client)"

step "--class filters the listing"
assert_eq 50 "$(clients_json --class alpha | jq length)" "clients --class alpha"
assert_eq '["alpha"]' "$(clients_json --class alpha | jq -c '[.[].class] | unique')" "classes in --class alpha"
assert_eq 10 "$(clients_json --class beta | jq length)" "clients --class beta"
assert_eq 5 "$(clients_json --class default | jq length)" "clients --class default"
assert_eq 0 "$(clients_json --class nosuchclass | jq length)" "clients --class nosuchclass"
assert_eq 65 "$(clients_json | jq length)" "all clients"
assert_eq 65 "$(ctl --json stats | jq .clients)" "stats: clients"
assert_eq 65 "$(ctl --json stats | jq .online)" "stats: online"

step "re-register reg0..reg9 from new sockets, class gamma, Expires 300"
before=$(rows reg)
sim -n 10 -p reg -c gamma -e 300 register
after=$(rows reg)
assert_eq 50 "$(jq length <<<"$after")" "clients reg* after re-registration (no duplicates)"
assert_eq 65 "$(clients_json | jq length)" "all clients after re-registration"
assert_eq '["gamma"]' "$(jq -c '[.[] | select(.id | test("^reg[0-9]$")) | .class] | unique' <<<"$after")" "classes of reg0..reg9"
assert_eq 40 "$(jq '[.[] | select(.class == "alpha")] | length' <<<"$after")" "reg* still alpha"
assert_eq '[300]' "$(jq -c '[.[] | select(.id | test("^reg[0-9]$")) | .expires_at - .registered_at] | unique' <<<"$after")" "granted expiry of reg0..reg9"
bad=$(jq -c '[.[] | select(.class == "gamma")
    | select(.contact != "<sip:\(.id)@127.0.0.1:\(.port)>;class=gamma") | .id]' <<<"$after")
assert_eq '[]' "$bad" "re-registered clients whose port/Contact were not updated"
changed=$(jq -n --argjson a "$before" --argjson b "$after" \
    '[$a[] | select(.id | test("^reg[0-9]$")) | . as $x | $b[] | select(.id == $x.id and .port != $x.port)] | length')
assert_eq 10 "$changed" "re-registered clients with a new source port"
assert_eq 10 "$(clients_json --class gamma | jq length)" "clients --class gamma"

step "unregister plain0..plain4 (Expires: 0)"
sim -n 5 -p plain unregister
assert_eq '["unregistered"]' "$(rows plain | jq -c '[.[].state] | unique')" "states of plain*"
assert_eq '["plain0","plain1","plain2","plain3","plain4"]' \
    "$(clients_json --offline | jq -c '[.[].id]')" "clients --offline"
assert_eq 60 "$(clients_json --online | jq length)" "clients --online"
assert_eq '[]' "$(clients_json --online | jq -c '[.[] | select(.id | startswith("plain"))]')" "plain* in --online"
assert_eq 5 "$(ctl --json stats | jq .unregistered)" "stats: unregistered"
step "unregistering again, or an unknown ID, is answered 200 and changes nothing"
sim -n 2 -p plain unregister
sim -n 2 -p neverseen unregister
assert_status 1 ctl client neverseen0
assert_contains "$OUT" "no such client"
step "register, then unregister from the same socket"
sim -n 3 -p cycle -c alpha register unregister
assert_eq '["unregistered"]' "$(rows cycle | jq -c '[.[].state] | unique')" "states of cycle*"

step "the longest ID (64 bytes) and class (32 bytes) register, over UDP and TCP"
# A 64-byte ID and a 32-byte class make a Contact of ~125 bytes (~140
# with ;transport=tcp): the 200 must come back, not only the row.
id62=$(printf 'x%.0s' {1..62}) class32=$(printf 'k%.0s' {1..32})
soft sim -n 1 --first 10 -p "$id62" -c "$class32" -t 3000 register
soft sim -n 1 --first 11 -p "$id62" -c "$class32" -t 3000 --tcp register
assert_eq "$class32" "$(client_field "${id62}10" class)" "class of the 64-byte ID (UDP)"
assert_eq tcp "$(client_field "${id62}11" transport)" "transport of the 64-byte ID (TCP)"
# the Contact is stored as sent
soft assert_eq "<sip:${id62}10@127.0.0.1:$(client_field "${id62}10" port)>;class=$class32" \
    "$(client_field "${id62}10" contact)" "stored Contact of the 64-byte ID (UDP)"
soft assert_eq "<sip:${id62}11@127.0.0.1:$(client_field "${id62}11" port);transport=tcp>;class=$class32" \
    "$(client_field "${id62}11" contact)" "stored Contact of the 64-byte ID (TCP)"
step "one byte more is refused 400: a 65-byte ID, a 33-byte class"
sim -n 1 --first 100 -p "$id62" -c alpha --expect 400 register
sim -n 1 -p toolongclass -c "${class32}k" --expect 400 register
assert_status 1 ctl client "${id62}100"
assert_status 1 ctl client toolongclass0
sim -n 1 -p badclass -c 'no/slash' --expect 400 register

step "an expiry below registration.min_expires (2) is refused 423"
sim -n 3 -p brief -e 1 --expect 423 register
assert_status 1 ctl client brief0
assert_contains "$OUT" "no such client" "sippushctl client brief0"

step "a short registration (Expires 2) ends: state expired after the sweep"
sim -n 3 -p short -c alpha -e 2 register
assert_eq '["online"]' "$(rows short | jq -c '[.[].state] | unique')" "states of short* right after REGISTER"
assert_eq '[2]' "$(rows short | jq -c '[.[] | .expires_at - .registered_at] | unique')" "granted expiry of short*"
wait_until 8 all_in_state 3 expired --class alpha
assert_eq '["expired"]' "$(rows short | jq -c '[.[].state] | unique')" "states of short* after the sweep"
assert_eq 3 "$(ctl --json stats | jq .expired)" "stats: expired"
assert_contains "$(ctl clients --offline)" "short2" "clients --offline"

step "TCP registration is recorded with transport tcp"
sim -n 5 -p tcp -c overtcp --tcp register
r=$(rows tcp)
assert_eq 5 "$(jq length <<<"$r")" "clients tcp* listed"
assert_eq '["tcp"]' "$(jq -c '[.[].transport] | unique' <<<"$r")" "transports of tcp*"
assert_eq '["overtcp"]' "$(jq -c '[.[].class] | unique' <<<"$r")" "classes of tcp*"
assert_eq '["online"]' "$(jq -c '[.[].state] | unique' <<<"$r")" "states of tcp*"
assert_eq '[]' "$(jq -c '[.[] | select(.contact | contains(";transport=tcp") | not) | .id]' <<<"$r")" "tcp* Contacts without transport=tcp"

step "SIGTERM with TCP clients in the table: clean exit, restart keeps them"
# A TCP client's connection does not survive a restart: it is offline
# until it registers again; everything else is as it was.
snap_tcp=$(clients_json | jq -c 'map(del(.last_seen))
    | map(if .transport != "udp" and .state == "online" then .state = "offline" else . end)')
stop_daemon
restart_daemon
assert_eq "$snap_tcp" "$(clients_json | jq -c 'map(del(.last_seen))')" "clients after SIGTERM and restart"
assert_eq '["offline"]' "$(rows tcp | jq -c '[.[].state] | unique')" "states of tcp* after restart"
assert_eq '["online"]' "$(rows reg | jq -c '[.[].state] | unique')" "states of reg* (UDP) after restart"
step "a TCP client that registers again is online again"
sim -n 2 -p tcp -c overtcp --tcp register
assert_eq '["online"]' "$(rows tcp | jq -c '[.[] | select(.id == "tcp0" or .id == "tcp1") | .state] | unique')" "states of tcp0, tcp1"

# ---------------------------------------------------------------------
# What a restart must keep: everything but the lazily written last_seen.
snapshot() { clients_json | jq -c 'map(del(.last_seen))'; }

step "the 200 is durable: 50 REGISTERs, kill -9 at once, restart"
sim -n 50 -p dur -c durable register
kill_daemon KILL
restart_daemon
r=$(rows dur)
assert_eq 50 "$(jq length <<<"$r")" "clients dur* after kill -9 and restart"
assert_eq '["durable"]' "$(jq -c '[.[].class] | unique' <<<"$r")" "classes of dur* after restart"
assert_eq '["online"]' "$(jq -c '[.[].state] | unique' <<<"$r")" "states of dur* after restart"
assert_eq 50 "$(jq '[.[].port] | unique | length' <<<"$r")" "distinct ports of dur* after restart"
assert_eq 128 "$(clients_json | jq length)" "all clients after restart"
assert_contains "$(cat "$DAEMON_LOG")" "128 clients loaded" "daemon log after restart"

step "a stop by SIGTERM and a restart keep every row as it was"
snap1=$(snapshot)
stop_daemon
[ ! -e "$SOCK" ] || fail "the control socket $SOCK is still there after SIGTERM"
restart_daemon
snap2=$(snapshot)
assert_eq "$snap1" "$snap2" "clients before SIGTERM and after restart"

step "... and so do kill -9 and a restart (after the changes are committed)"
kill_daemon KILL
[ -S "$SOCK" ] || fail "expected the stale control socket to be left behind by kill -9"
restart_daemon
assert_eq "$snap1" "$(snapshot)" "clients before kill -9 and after restart"

step "registration.default_class is the class of a REGISTER without one"
stop_daemon
start_daemon 'registration.default_class = "fleet-7"' "database.path = \"$T/other.db\""
sim -n 2 -p anon register
sim -n 1 -p named -c explicit register
assert_eq fleet-7 "$(client_field anon1 class)" "class of anon1"
assert_eq explicit "$(client_field named0 class)" "class of named0"
assert_eq 3 "$(clients_json | jq length)" "clients in the second database"

stop_daemon
pass
