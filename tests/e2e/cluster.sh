#!/usr/bin/env bash
# cluster.sh -- three sippushd nodes sharing one PostgreSQL (issue 12,
# sippushd(8) CLUSTER), with 30 sippush-agent clients spread over them.
#
#   node  SIP address      control socket
#   n1    127.0.0.2:P      $SOCKDIR/n1.sock
#   n2    127.0.0.3:P      $SOCKDIR/n2.sock
#   n3    127.0.0.4:P      $SOCKDIR/n3.sock
#
# Agent aNN lists the three nodes, starting at node NN % 3 + 1 (so ten
# start on each); its hook writes every run to $T/tries (CLIENT|ID|SERVER|
# START|BODY) and every successful one to $T/runs. SIPPUSH_SERVER is the
# node the MESSAGE came from (libsippush matches its source address), so
# these files say which node sent what, and when.
#
#   nodes   the three nodes join; `sippushctl nodes' lists them, up, with
#           their client counts (10 each)
#   a       publish on n1 to all: every target acked (psql, and `status'
#           on n2 and n3), every client ran its hook for the ID
#   b       a fan-out whose hooks take 2 s; n2 is killed (SIGKILL) while
#           its clients' hooks run: every target still ends acked (its
#           clients fail over and register elsewhere, their targets
#           follow), n2 shows down; n2 starts again and joins
#   drain   `sippushctl drain n3' moves n3's clients to other nodes; a
#           REGISTER to n3 is answered 503; `drain n3 --off'
#   c       a fan-out whose first attempts fail (retry 5 s later); n1 is
#           stopped (SIGSTOP) past its lease before its retries are due:
#           its clients move and are served by the others, a message
#           published meanwhile reaches all; after SIGCONT n1 sends
#           nothing more (no hook run from n1 after its lease lapsed, no
#           client gets a message again), joins again with a new epoch
#   d       PostgreSQL stops (pg_ctl stop -m immediate) while a fan-out's
#           retries are due: publish fails with a clear error, REGISTER
#           gets 503; PostgreSQL starts again: every target of that
#           fan-out ends acked, the earlier messages are still all acked,
#           a publish reaches all, the three nodes are up
#   end     the hooks ran only for published IDs, each client at least
#           once per ID (duplicates only as at-least-once allows: the
#           same ID); every process stops
#
# Every wait has a deadline; the trap stops the agents, the nodes (SIGCONT
# first) and PostgreSQL, and removes the folders, whatever happens.
. "$(dirname "$0")/lib.sh"

PGSH=$top_srcdir/tests/pg.sh
AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"
command -v psql >/dev/null 2>&1 ||
    fail "psql is missing: apt-get install postgresql-client-15"

NAGENTS=30
LEASE=3                 # cluster.lease, s
RETRY_MS=5000           # dispatch.retry_initial (no jitter)

PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sippush-pg.XXXXXX")
declare -A NODE_PID=()
AGENT_PIDS=()

# up PID: is our child PID running (not a zombie)? No fork: the cleanup
# asks it of 33 processes ten times a second.
up()
{
    local s
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }
    set -- $s
    [ "$1" != Z ] && [ "$1" != X ] && [ "$2" = "$$" ]
}

# Stop the agents and the nodes (a stopped node is continued first, so
# that SIGTERM reaches it), bounded, then PostgreSQL; lib.sh's _cleanup
# does the rest (SIGKILL to anything left, the folders).
cluster_cleanup()
{
    local p i any
    set +e
    for p in "${NODE_PID[@]+"${NODE_PID[@]}"}"; do
        up "$p" && kill -CONT "$p" 2>/dev/null
    done
    for p in "${AGENT_PIDS[@]+"${AGENT_PIDS[@]}"}" "${NODE_PID[@]+"${NODE_PID[@]}"}"; do
        up "$p" && kill -TERM "$p" 2>/dev/null
    done
    for ((i = 0; i < 100; i++)); do
        any=0
        for p in "${AGENT_PIDS[@]+"${AGENT_PIDS[@]}"}" "${NODE_PID[@]+"${NODE_PID[@]}"}"; do
            up "$p" && { any=1; break; }
        done
        [ "$any" = 0 ] && break
        sleep 0.1
    done
    bash "$PGSH" clean "$PGDIR" >/dev/null 2>&1
}
trap '_cl_rc=$?; cluster_cleanup; (exit $_cl_rc); _cleanup' EXIT

# ---- helpers -----------------------------------------------------------

addr() { echo "127.0.0.$(($1 + 1))"; }          # node 1..3
nsock() { echo "$SOCKDIR/n$1.sock"; }
nctl() { local n=$1; shift; SIPPUSH_SOCKET=$(nsock "$n") timeout 20 "$SIPPUSHCTL" "$@"; }
q() { timeout 20 psql "$ADMIN dbname=sippush" -tA -c "$1"; }
now() { date +%s.%N; }
later() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }  # a > b
plus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
# sleep_until T: until the clock is past T (seconds since the epoch), 60 s at most
sleep_until()
{
    local i
    for ((i = 0; i < 600; i++)); do
        later "$(now)" "$1" && return 0
        sleep 0.1
    done
    fail "sleep_until $1: not there after 60 s"
}

# node_start N: sippushd with $T/nN.conf; its log $T/nN.log.
node_start()
{
    local n=$1 i
    echo "---- $(date +%T) sippushd -F -f $T/n$n.conf" >>"$T/n$n.log"
    "$SIPPUSHD" -F -f "$T/n$n.conf" </dev/null >>"$T/n$n.log" 2>&1 &
    NODE_PID[$n]=$!
    _pids+=("$!")
    for ((i = 0; i < 200; i++)); do     # 20 s
        _alive "${NODE_PID[$n]}" ||
            fail "node n$n exited during start-up (log: $T/n$n.log)"
        nctl "$n" stats >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "node n$n did not answer on $(nsock "$n") within 20s"
}

# node_json N: `sippushctl --json nodes' asked of node N
node_json() { nctl "$1" --json nodes; }
# node_field ASKED NAME FIELD: one field of NAME's row in ASKED's list
node_field() { node_json "$1" | jq -r --arg n "$2" '.[] | select(.node == $n) | .'"$3"; }
node_state_is() { [ "$(node_field "$1" "$2" state)" = "$3" ]; }

online() { q "SELECT count(*) FROM clients WHERE state = 'online' AND id LIKE 'a%'"; }
owned_by() { q "SELECT count(*) FROM clients WHERE state = 'online' AND owner = '$1' AND id LIKE 'a%'"; }
acked() { q "SELECT count(*) FROM targets WHERE message_id = '$1' AND state = 'acked'"; }
all_acked() { [ "$(acked "$1")" = "$NAGENTS" ]; }
# ran ID: how many clients ran their hook for ID successfully
ran() { awk -F'|' -v id="$1" '$2 == id { c[$1] = 1 } END { print length(c) }' "$T/runs" 2>/dev/null || echo 0; }
all_ran() { [ "$(ran "$1")" = "$NAGENTS" ]; }
# tried_from ID ADDR: clients whose hook started for ID on a MESSAGE from ADDR
tried_from() { awk -F'|' -v id="$1" -v a="$2" '$2 == id && index($3, a ":") == 1 { c[$1] = 1 } END { print length(c) }' "$T/tries" 2>/dev/null || echo 0; }
# again ID: lines where an agent got ID again after it was taken
again() { cat "$T"/agents/*.log 2>/dev/null | grep -c "message $1 again" || true; }

# publish N BODY: on node N, to the agents (class kiosk; the probes of
# the 503 checks are of class probe)
publish() { local n=$1; shift; nctl "$n" publish --class kiosk --ttl 600 "$@"; }

PUBLISHED=()
published() { PUBLISHED+=("$1"); assert_match "$1" '^[0-9a-f]{16}$' "message ID"; }

# ---- PostgreSQL and the three nodes -------------------------------------

step "a throwaway PostgreSQL; a database for the cluster"
ADMIN=$(bash "$PGSH" start "$PGDIR") || fail "tests/pg.sh could not start PostgreSQL"
timeout 20 psql "$ADMIN" -q -c "CREATE DATABASE sippush" || fail "CREATE DATABASE"
CONNINFO="host=127.0.0.1 port=$(cat "$PGDIR/port") user=postgres dbname=sippush"

step "three nodes n1 n2 n3 on 127.0.0.2-4 (lease ${LEASE} s, poll 300 ms)"
P=$(free_port)
for n in 1 2 3; do
    write_config "$T/n$n.conf" \
        "sip.address = \"$(addr $n)\"" "sip.port = $P" \
        "control.socket = \"$(nsock $n)\"" \
        'database.backend = "postgresql"' "database.conninfo = \"$CONNINFO\"" \
        "database.passfile = \"$PGDIR/pgpass\"" \
        "cluster.node = \"n$n\"" "cluster.address = \"$(addr $n):$P\"" \
        "cluster.lease = $LEASE" 'cluster.poll = 300' \
        'heartbeat.timeout = 6' 'log.level = "info"' \
        "dispatch.retry_initial = $RETRY_MS" 'dispatch.retry_jitter = 0' \
        'dispatch.retry_multiplier = 1'
    node_start "$n"
done
for n in 1 2 3; do
    EPOCH[$n]=$(q "SELECT epoch FROM nodes WHERE name = 'n$n'")
    [ -n "${EPOCH[$n]}" ] || fail "no row for n$n in nodes after its start"
done
assert_eq "up up up" "$(q "SELECT string_agg(state, ' ' ORDER BY name) FROM nodes")" "nodes.state"

# ---- the agents -----------------------------------------------------------

# The hook: every run in tries; a run that takes the message in runs.
# Body "slow...": 2 s; "fail-once...": the first run per client fails.
cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
dir=$(dirname "$0")
body=$(cat)
line="$SIPPUSH_CLIENT_ID|$SIPPUSH_MESSAGE_ID|$SIPPUSH_SERVER|$(date +%s.%N)|$body"
printf '%s\n' "$line" >>"$dir/tries"
case $body in
slow*) sleep 2 ;;
fail-once*)
    m=$dir/marks/$SIPPUSH_CLIENT_ID.$SIPPUSH_MESSAGE_ID
    if [ ! -e "$m" ]; then : >"$m"; exit 1; fi ;;
esac
printf '%s\n' "$line" >>"$dir/runs"
exit 0
EOF
chmod +x "$T/hook.sh"
mkdir -p "$T/marks" "$T/agents"
: >"$T/tries"
: >"$T/runs"

step "$NAGENTS agents, each listing the three nodes from a different first one"
for ((i = 0; i < NAGENTS; i++)); do
    id=$(printf 'a%02d' "$i")
    f=$((i % 3 + 1))
    list=""
    for k in 0 1 2; do
        list+="${list:+, }\"$(addr $(((f - 1 + k) % 3 + 1))):$P\""
    done
    cat >"$T/agents/$id.conf" <<EOF
server = {
  list = [ $list ];
  heartbeat_interval = 1;
  timeout = 1000;
  retry_initial = 200;
  retry_max = 1000;
  failback_interval = 86400;
  expires = 60;
};
client = { id = "$id"; class = "kiosk"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/agents/$id.seen"; };
hook = { command = "$T/hook.sh"; timeout = 10; };
log = { level = "info"; };
EOF
    bg bash -c 'exec "$1" -F -f "$2" >>"$3" 2>&1' _ "$AGENT" \
        "$T/agents/$id.conf" "$T/agents/$id.log"
    AGENT_PIDS+=("$BG_PID")
done
wait_until 30 eval '[ "$(online)" = "$NAGENTS" ]'
for n in 1 2 3; do
    wait_until 10 eval '[ "$(owned_by n'"$n"')" = 10 ]'
done

step "sippushctl nodes: three nodes, up, 10 clients each (asked of any node)"
OUT=$(nctl 2 nodes) || fail "sippushctl nodes: $OUT"
echo "$OUT"
for n in 1 2 3; do
    assert_contains "$OUT" "n$n" "sippushctl nodes"
done
for n in 1 2 3; do
    soft wait_until 10 eval '[ "$(node_field 3 n'"$n"' clients)" = 10 ]'
    soft assert_eq up "$(node_field 1 "n$n" state)" "n$n's state (sippushctl nodes on n1)"
done

# ---- a: publish on n1, all acked -------------------------------------------

step "a: publish on n1 to all: every target acked, every hook ran"
ID_A=$(publish 1 'hello cluster'); published "$ID_A"
wait_until 30 all_acked "$ID_A"
wait_until 10 all_ran "$ID_A"
# any node sees the whole fleet (soft: the scenarios after do not
# depend on these)
for n in 2 3; do
    soft wait_until 10 eval '[ "$(nctl '"$n"' --json status "$ID_A" | jq "[.targets[] | select(.state == \"acked\")] | length")" = "$NAGENTS" ]'
    soft assert_eq "$NAGENTS" "$(nctl "$n" --json clients --class kiosk | jq length)" "clients listed by n$n"
done
for n in 1 2 3; do
    soft assert_eq 10 "$(tried_from "$ID_A" "$(addr $n)")" "clients served by n$n"
done
soft wait_until 10 eval '[ "$(nctl 3 --json status "$ID_A" | jq -r .message.state)" = done ]'

# ---- b: kill -9 n2 during a fan-out ----------------------------------------

step "b: a fan-out with 2 s hooks; n2 killed (SIGKILL) while they run"
ID_B=$(publish 1 'slow fan-out'); published "$ID_B"
wait_until 15 eval '[ "$(tried_from "$ID_B" "$(addr 2)")" -ge 5 ]'
T_KILL=$(now)
kill -KILL "${NODE_PID[2]}"
wait_pid "${NODE_PID[2]}" 10 || true
unset 'NODE_PID[2]'
wait_until 60 all_acked "$ID_B"
T_ACKED=$(now)
wait_until 10 all_ran "$ID_B"
echo "n2 killed; all $NAGENTS targets of $ID_B acked $(awk -v a="$T_KILL" -v b="$T_ACKED" 'BEGIN { printf "%.1f", b - a }') s later"
wait_until 20 eval '[ "$(online)" = "$NAGENTS" ]'
soft assert_eq 0 "$(owned_by n2)" "online clients still owned by the dead n2"
soft wait_until 20 node_state_is 1 n2 down
soft assert_eq 0 "$(q "SELECT count(*) FROM targets WHERE owner = 'n2' AND state IN ('pending', 'sent')")" \
    "unfinished targets still owned by n2"

step "b: n2 starts again and joins with a new epoch"
node_start 2
NEW=$(q "SELECT epoch FROM nodes WHERE name = 'n2'")
soft eval '[ "$NEW" -gt "${EPOCH[2]}" ]'
EPOCH[2]=$NEW
soft wait_until 10 node_state_is 3 n2 up

# ---- drain ---------------------------------------------------------------------

step "drain: sippushctl drain n3 moves its clients to other nodes"
BEFORE=$(owned_by n3)
[ "$BEFORE" -gt 0 ] || fail "n3 holds no client before the drain"
assert_status 0 nctl 2 drain n3
soft wait_until 10 node_state_is 1 n3 draining
wait_until 30 eval '[ "$(owned_by n3)" = 0 ]'
wait_until 20 eval '[ "$(online)" = "$NAGENTS" ]'
soft timeout 20 "$SIMCLIENT" -s "$(addr 3):$P" -q -n 1 -p z -c probe --expect 503 register
ID_D0=$(publish 3 'after the drain'); published "$ID_D0"
wait_until 30 all_acked "$ID_D0"
soft assert_eq 0 "$(tried_from "$ID_D0" "$(addr 3)")" "clients served by the draining n3"
assert_status 0 nctl 1 drain n3 --off
soft wait_until 10 node_state_is 2 n3 up
echo "n3 held $BEFORE clients; after the drain: 0"

# ---- c: SIGSTOP n1 past its lease -------------------------------------------

step "c: a fan-out whose first attempts fail; n1 stopped (SIGSTOP) before its retries"
# give n1 clients again: the agents that list n1 first went to n2 or n3
# in no scenario yet, so n1 holds its ten
N1_CLIENTS=$(owned_by n1)
[ "$N1_CLIENTS" -gt 0 ] || fail "n1 holds no client"
N1_IDS=$(q "SELECT string_agg(id, ' ') FROM clients WHERE owner = 'n1' AND state = 'online'")
ID_C=$(publish 2 'fail-once while n1 stops'); published "$ID_C"
wait_until 15 eval '[ "$(tried_from "$ID_C" "$(addr 1)")" = "$N1_CLIENTS" ]'
sleep 0.3        # their 500s reach n1
kill -STOP "${NODE_PID[1]}"
T_STOP=$(now)
wait_until $((LEASE + 10)) eval '[ "$(q "SELECT lease_until < now() FROM nodes WHERE name = '"'n1'"'")" = t ]'
T_LAPSE=$(now)
echo "n1's lease lapsed $(awk -v a="$T_STOP" -v b="$T_LAPSE" 'BEGIN { printf "%.1f", b - a }') s after SIGSTOP"
soft wait_until 20 node_state_is 2 n1 down
wait_until 30 eval '[ "$(owned_by n1)" = 0 ]'
wait_until 20 eval '[ "$(online)" = "$NAGENTS" ]'
wait_until 40 all_acked "$ID_C"
wait_until 10 all_ran "$ID_C"
ID_C2=$(publish 3 'while n1 is stopped'); published "$ID_C2"
wait_until 30 all_acked "$ID_C2"
wait_until 10 all_ran "$ID_C2"
# n1's retry timers (RETRY_MS after its first attempts) are due by now
sleep_until "$(plus "$T_STOP" $((RETRY_MS / 1000 + 1)))"
AGAIN_C=$(again "$ID_C") AGAIN_C2=$(again "$ID_C2")

step "c: SIGCONT: n1 sends nothing more, is fenced and joins again"
kill -CONT "${NODE_PID[1]}"
T_CONT=$(now)
wait_until 20 eval '[ "$(q "SELECT epoch FROM nodes WHERE name = '"'n1'"'")" -gt "${EPOCH[1]}" ]'
soft wait_until 10 node_state_is 2 n1 up
EPOCH[1]=$(q "SELECT epoch FROM nodes WHERE name = 'n1'")
sleep $((LEASE + 1))    # time for anything n1 still had to go out
LATE=$(awk -F'|' -v a="$(addr 1):" -v t="$T_LAPSE" 'index($3, a) == 1 && $4 > t' "$T/tries")
soft assert_eq "" "$LATE" "hook runs on a MESSAGE from n1 after its lease lapsed"
soft assert_eq "$AGAIN_C" "$(again "$ID_C")" "receptions of $ID_C again after n1's SIGCONT"
soft assert_eq "$AGAIN_C2" "$(again "$ID_C2")" "receptions of $ID_C2 again after n1's SIGCONT"
soft assert_eq "$NAGENTS" "$(acked "$ID_C")" "targets of $ID_C still acked after n1's SIGCONT"
soft assert_eq 0 "$(owned_by n1)" "clients back on n1 (they moved away)"
for id in $N1_IDS; do
    soft assert_eq online "$(q "SELECT state FROM clients WHERE id = '$id'")" "state of $id (moved from n1)"
done
soft eval 'grep -qi "fenced" "$T/n1.log"'

# ---- d: PostgreSQL stopped and started mid-run ------------------------------

step "d: a fan-out whose first attempts fail; PostgreSQL stopped (-m immediate)"
ID_E=$(publish 2 'fail-once across the outage'); published "$ID_E"
wait_until 15 eval '[ "$(awk -F"|" -v id="$ID_E" '"'"'$2 == id { c[$1] = 1 } END { print length(c) }'"'"' "$T/tries")" = "$NAGENTS" ]'
sleep 0.3
T_DOWN=$(now)
bash "$PGSH" stop "$PGDIR" immediate
rc=0
OUT=$(nctl 2 publish --class kiosk 'while the database is down' 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "publish while PostgreSQL is down succeeded: $OUT"
echo "publish while down: exit $rc: $OUT"
assert_contains "$OUT" "database" "publish error while PostgreSQL is down"
timeout 20 "$SIMCLIENT" -s "$(addr 3):$P" -q -n 1 -p y -c probe --expect 503 register ||
    fail "REGISTER while PostgreSQL is down: expected 503"
# the retries of ID_E fall due during the outage
sleep_until "$(plus "$T_DOWN" $((RETRY_MS / 1000 + 1)))"
for n in 1 2 3; do
    _alive "${NODE_PID[$n]}" || fail "n$n died with PostgreSQL"
done

step "d: PostgreSQL starts again: the cluster recovers by itself"
bash "$PGSH" start "$PGDIR" >/dev/null || fail "PostgreSQL did not start again"
wait_until 60 all_acked "$ID_E"
wait_until 10 all_ran "$ID_E"
for id in "$ID_A" "$ID_B" "$ID_D0" "$ID_C" "$ID_C2"; do
    soft assert_eq "$NAGENTS" "$(acked "$id")" "acked targets of $id after the outage"
done
wait_until 30 eval 'ID_F=$(publish 1 "after the outage")'
published "$ID_F"
wait_until 30 all_acked "$ID_F"
wait_until 10 all_ran "$ID_F"
wait_until 30 eval '[ "$(online)" = "$NAGENTS" ]'
for n in 1 2 3; do
    soft wait_until 20 node_state_is 3 "n$n" up
done
nctl 1 nodes

# ---- end ----------------------------------------------------------------------

step "end: hooks ran only for published IDs, each client once at least per ID"
BAD=$(awk -F'|' -v ids=" ${PUBLISHED[*]} " 'index(ids, " " $2 " ") == 0' "$T/tries")
soft assert_eq "" "$BAD" "hook runs for IDs never published"
for id in "${PUBLISHED[@]}"; do
    soft assert_eq "$NAGENTS" "$(ran "$id")" "clients that took $id"
done
echo "hook runs: $(wc -l <"$T/runs") for $((NAGENTS * ${#PUBLISHED[@]})) (client, message) pairs"

step "end: agents and nodes stop"
for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p"; done
for p in "${AGENT_PIDS[@]}"; do
    rc=0
    wait_pid "$p" 15 || rc=$?
    soft assert_eq 0 "$rc" "exit status of an agent after SIGTERM"
done
AGENT_PIDS=()
for n in 1 2 3; do
    kill -TERM "${NODE_PID[$n]}"
    rc=0
    wait_pid "${NODE_PID[$n]}" 15 || rc=$?
    soft assert_eq 0 "$rc" "exit status of n$n after SIGTERM"
    unset "NODE_PID[$n]"
done

pass
