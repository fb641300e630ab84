#!/usr/bin/env bash
# cluster-demo.sh -- the third quick start: several sippushd nodes on one
# PostgreSQL (sippushd(8) CLUSTER). Installs the dependencies and builds
# (as scripts/demo.sh does), starts a throwaway PostgreSQL server
# (tests/pg.sh) and three nodes on 127.0.0.2, 127.0.0.3 and 127.0.0.4,
# registers six sippush-agent clients, each with the three nodes as its
# server list (two start at each node), shows `sippushctl nodes' and
# `sippushctl clients' (any node sees the whole fleet), publishes a
# control message on n1 and follows it until every client has
# acknowledged, then kills n2 (SIGKILL): its clients move to the next node
# of their list, and a second message reaches all six again. Then it
# stops everything and removes what it made.
#
# Usage: scripts/cluster-demo.sh
#   SIPPUSH_PORT=N   the nodes' SIP port (default 5060; each node has its
#                    own address)
#   DEMO_KEEP=1      keep the temporary folder (configurations, logs)
# Non-interactive: runs to the end by itself (also with CI=true and no
# standard input); exit status 0 when every step worked.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
port=${SIPPUSH_PORT:-5060}

if [ -t 1 ]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi
die() { echo "cluster-demo: $*" >&2; exit 1; }

case $port in
    ''|*[!0-9]*) die "SIPPUSH_PORT must be a port number, not '$port'" ;;
esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "SIPPUSH_PORT must be 1..65535"

# ---- dependencies and build ---------------------------------------------
say "installing the dependencies (scripts/install-deps.sh: PostgreSQL 15 among them)"
bash scripts/install-deps.sh

say "building (scripts/build.sh)"
SIPPUSH_SKIP_DEPS=1 bash scripts/build.sh

for c in psql jq ss timeout; do
    command -v "$c" >/dev/null 2>&1 || die "$c is missing (scripts/install-deps.sh installs it)"
done
# a listener on the port, on one of the nodes' addresses or on all
taken=$(ss -Hlnut 2>/dev/null | awk -v p="$port" '{ n = split($5, a, ":"); h = substr($5, 1, length($5) - length(a[n]) - 1) }
    a[n] == p && h ~ /^(127\.0\.0\.[234]|0\.0\.0\.0|\*|\[::\])$/ { print $5 }' | sort -u | tr '\n' ' ')
[ -z "$taken" ] || die "port $port is already in use ($taken); run with SIPPUSH_PORT=another-port"

# ---- the temporary folder and the cleanup --------------------------------
# under /tmp: the PostgreSQL server's user must reach it, and the Unix
# socket paths must stay short
dir=$(mktemp -d "${TMPDIR:-/tmp}/sippush-cluster-demo.XXXXXX")
chmod 0755 "$dir"
pgdir=$dir/pg
pids=()
declare -A node_pid=()
ok=0

cleanup()
{
    local rc=$? p i any
    trap - EXIT INT TERM
    set +e
    [ "${#pids[@]}" -gt 0 ] && echo "cluster-demo: stopping the agents and the nodes"
    # the agents first (they unregister on the way out), then the nodes
    for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null; done
    for ((i = 0; i < 60; i++)); do
        any=0
        for p in "${pids[@]+"${pids[@]}"}"; do kill -0 "$p" 2>/dev/null && any=1; done
        [ "$any" = 0 ] && break
        sleep 0.1
    done
    for p in "${node_pid[@]+"${node_pid[@]}"}"; do kill -TERM "$p" 2>/dev/null; done
    for ((i = 0; i < 100; i++)); do
        any=0
        for p in "${node_pid[@]+"${node_pid[@]}"}"; do kill -0 "$p" 2>/dev/null && any=1; done
        [ "$any" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]+"${pids[@]}"}" "${node_pid[@]+"${node_pid[@]}"}"; do
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -d "$pgdir" ]; then
        echo "cluster-demo: stopping PostgreSQL"
        bash "$root/tests/pg.sh" stop "$pgdir" fast >/dev/null 2>&1
    fi
    if [ "$ok" = 1 ] && [ "${DEMO_KEEP:-0}" != 1 ]; then
        rm -rf "$dir"
    else
        echo "cluster-demo: configurations and logs kept in $dir" >&2
        [ "$ok" = 1 ] || for f in "$dir"/n?.log; do
            [ -s "$f" ] || continue
            echo "---- last lines of $f" >&2
            tail -n 15 "$f" >&2
        done
        # a kept folder holds no running server; its data can go
        rm -rf "$pgdir"
    fi
    [ "$rc" -ne 0 ] || [ "$ok" = 1 ] || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PostgreSQL -----------------------------------------------------------
say "a throwaway PostgreSQL server (tests/pg.sh: initdb in $pgdir, 127.0.0.1, a free port)"
admin=$(bash tests/pg.sh start "$pgdir") || die "could not start PostgreSQL (see $pgdir/log)"
timeout 20 psql "$admin" -q -c "CREATE DATABASE sippush" || die "CREATE DATABASE sippush failed"
conninfo="host=127.0.0.1 port=$(cat "$pgdir/port") user=postgres dbname=sippush"
echo "database.conninfo = \"$conninfo\" (password in $pgdir/pgpass)"

# ---- three nodes ----------------------------------------------------------
addr() { echo "127.0.0.$(($1 + 1))"; }
ctl() { local n=$1; shift; timeout 70 ./sippushctl -s "$dir/n$n.sock" "$@"; }

for n in 1 2 3; do
    cat >"$dir/n$n.conf" <<EOF
# written by scripts/cluster-demo.sh: node n$n of three on one PostgreSQL
sip = { address = "$(addr $n)"; port = $port; };
database = {
  backend = "postgresql";
  conninfo = "$conninfo";
  passfile = "$pgdir/pgpass";
};
cluster = {
  node = "n$n";
  address = "$(addr $n):$port";
  lease = 4;            # s: a node silent that long is down
};
control = { socket = "$dir/n$n.sock"; };
heartbeat = { timeout = 10; };
EOF
done

say "three nodes: n1 on $(addr 1):$port, n2 on $(addr 2):$port, n3 on $(addr 3):$port"
for n in 1 2 3; do
    ./sippushd -F -f "$dir/n$n.conf" </dev/null >>"$dir/n$n.log" 2>&1 &
    node_pid[$n]=$!
    up=0
    for ((i = 0; i < 100; i++)); do
        kill -0 "${node_pid[$n]}" 2>/dev/null || { tail -n 5 "$dir/n$n.log" >&2; die "node n$n did not start (see above)"; }
        if ctl "$n" stats >/dev/null 2>&1; then up=1; break; fi
        sleep 0.1
    done
    [ "$up" = 1 ] || die "node n$n did not answer within 10 s (see $dir/n$n.log)"
    echo "n$n: sippushd -F -f $dir/n$n.conf (pid ${node_pid[$n]})"
done

# ---- clients --------------------------------------------------------------
cat >"$dir/hook.sh" <<'EOF'
#!/bin/sh
echo "$SIPPUSH_CLIENT_ID got $SIPPUSH_MESSAGE_ID from $SIPPUSH_SERVER: $(cat)" >>"$(dirname "$0")/received"
EOF
chmod +x "$dir/hook.sh"
: >"$dir/received"

say "six clients (sippush-agent), each listing the three nodes; two start at each node"
agents=()
for ((i = 0; i < 6; i++)); do
    id=kiosk-$i
    f=$((i % 3 + 1))
    servers=()
    for k in 0 1 2; do servers+=(-s "$(addr $(((f - 1 + k) % 3 + 1))):$port"); done
    echo "$id: ${servers[*]}"
    ./sippush-agent -F "${servers[@]}" -b 127.0.0.1 -i "$id" -c kiosk \
        --heartbeat 2 --timeout 1000 --failback 3600 \
        -S "$dir/$id.seen" -H "$dir/hook.sh" </dev/null >>"$dir/$id.log" 2>&1 &
    pids+=($!)
    agents+=("$id")
done
# what the database says (the nodes share it)
dbq() { timeout 20 psql "$admin dbname=sippush" "$@"; }
online() { dbq -tA -c "SELECT count(*) FROM clients WHERE class = 'kiosk' AND state = 'online'" 2>/dev/null || echo 0; }
where() { dbq -c "SELECT id, state, owner AS node FROM clients WHERE class = 'kiosk' ORDER BY id"; }
for ((i = 0; i < 150; i++)); do
    [ "$(online)" -ge 6 ] && break
    sleep 0.1
done
[ "$(online)" -ge 6 ] || die "not all six clients registered within 15 s (see $dir/kiosk-*.log)"
sleep 2     # a lease renewal: the nodes' client counts are written

say "sippushctl nodes (asked of n3)"
ctl 3 nodes || die "sippushctl nodes failed"
say "sippushctl clients (asked of n2)"
ctl 2 clients
say "which node holds each client (psql: SELECT id, state, owner FROM clients)"
where

# ---- a publish ---------------------------------------------------------------
say "sippushctl publish --class kiosk --wait 'reload the page' (on n1)"
msgid=$(ctl 1 publish --class kiosk --ttl 1m --wait 'reload the page') ||
    die "the message did not reach every client (exit status $?)"
say "sippushctl status $msgid (asked of n3)"
ctl 3 status "$msgid"
echo
echo "what the clients' hooks got:"
grep -F "$msgid" "$dir/received" | sort

# ---- a node dies -----------------------------------------------------------
say "n2 dies (kill -9): its clients move to the next node of their lists"
kill -KILL "${node_pid[2]}"
wait "${node_pid[2]}" 2>/dev/null || true
unset 'node_pid[2]'
moved=0
for ((i = 0; i < 300; i++)); do
    # every client online again, none on n2 (its lease lapses after 4 s)
    if [ "$(ctl 1 --json nodes 2>/dev/null | jq -r '.[] | select(.node == "n2") | .state' 2>/dev/null)" = down ] &&
       [ "$(online)" -ge 6 ] &&
       [ "$(dbq -tA -c "SELECT count(*) FROM clients WHERE owner = 'n2'" 2>/dev/null)" = 0 ]; then
        moved=1
        break
    fi
    sleep 0.1
done
[ "$moved" = 1 ] || echo "cluster-demo: n2 not shown down with its clients moved within 30 s" >&2
ctl 1 nodes
where
say "sippushctl publish --class kiosk --wait 'n2 is gone' (on n3)"
msgid2=$(ctl 3 publish --class kiosk --ttl 1m --wait 'n2 is gone') ||
    die "the second message did not reach every client (exit status $?)"
ctl 1 status "$msgid2"
echo
echo "what the clients' hooks got:"
grep -F "$msgid2" "$dir/received" | sort
[ "$moved" = 1 ] || die "n2's clients did not move in time"

ok=1
say "done: stopping the agents, the nodes and PostgreSQL, removing $dir"
