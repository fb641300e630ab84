#!/usr/bin/env bash
# hostile_conf.sh -- the built-in defaults against one hostile address
# (hardening, item 6): with registration.rate_per_source not set, one
# address that registers new client IDs as fast as it can gets the burst
# (2 x 20) and then 20 a second, the rest 503; it cannot fill
# registration.max_clients in seconds. Another address is served all the
# while, and once the bucket has refilled, a NAT's burst of 40 devices
# coming back at once gets in whole. REGISTERs of clients already in the
# table are not charged: a flood of new IDs from a client's address does
# not keep it from refreshing.
. "$(dirname "$0")/lib.sh"

# The test defaults with rate_per_source removed: the built-in default.
PORT=$(free_port)
write_config "$CONF" 'log.level = "info"' 'heartbeat.timeout = 600'
sed -i '/rate_per_source/d' "$CONF"
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$CONF"
assert_contains "$OUT" "  rate_per_source = 20;" "the built-in registration.rate_per_source"
restart_daemon

# ---------------------------------------------------------------------
step "one address registers 1000 new IDs as fast as it can"
start=$(date +%s%N)
rc=0
sim -q -n 1000 --src-addrs 1 -p flood -t 2000 register >"$T/flood.out" 2>&1 || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
cat "$T/flood.out"
[ "$rc" -ne 0 ] || fail "all 1000 REGISTERs from one address were taken (no per-source limit by default?)"
n=$(ctl --json stats | jq .clients)
echo "$n clients in the table after $ms ms"
# the burst (40) and 20/s while the storm lasted, with a margin of 2 s
max=$((40 + 20 * (ms + 2000) / 1000))
[ "$n" -ge 40 ] || fail "only $n clients of the storm in the table: the burst of 40 should pass"
[ "$n" -le "$max" ] || fail "$n clients of one address in $ms ms: expected at most $max (40 + 20/s)"
wait_until 5 grep -q "registrar: 127.0.0.1 sends REGISTERs faster than registration.rate_per_source (20/s)" "$DAEMON_LOG"

step "another address is served while 127.0.0.1 is held back"
# other0 sends from 127.0.0.1 (and may be refused), other1 from 127.0.0.2
sim -q -n 2 --src-addrs 2 -p other register >/dev/null 2>&1 || true
assert_eq online "$(client_field other1 state)" "the state of other1, from 127.0.0.2"
assert_eq 127.0.0.2 "$(client_field other1 address)" "the address of other1"

step "a flood of new IDs from 127.0.0.1 does not stop its clients' refreshes"
# keep0 is in the table; only REGISTERs that add a client are charged
sleep 2.5                # the bucket is full again after 2 s
sim -q -n 1 --src-addrs 1 -p keep register || fail "keep0 could not register"
for i in 1 2 3 4 5; do
    # 200 new IDs empty the bucket (a burst of 40 passes); keep0 refreshes
    # right after, when the address has no REGISTER left to add a client
    sim -q -n 200 --src-addrs 1 -p "flood$i-" register >/dev/null 2>&1 || true
    sim -q -n 1 --src-addrs 1 -p keep register ||
        fail "keep0's refresh $i was refused after a flood of new IDs from its address"
done
assert_eq online "$(client_field keep0 state)" "the state of keep0"

step "a NAT's devices come back at once: the burst of 40 passes whole"
sleep 2.5                # the bucket is full again after 2 s
sim -q -n 40 --src-addrs 1 -p nat register ||
    fail "40 devices behind one address, registering at once, were not all taken"
[ "$(ctl --json clients | jq '[.[] | select(.id | startswith("nat"))] | length')" -eq 40 ] ||
    fail "not all 40 devices of the NAT are in the table"

stop_daemon
pass
