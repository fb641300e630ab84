#!/usr/bin/env bash
# pg.sh -- a throwaway PostgreSQL server for the tests.
#
#   pg.sh start DIR     initdb in DIR (made if missing; must be empty) and
#                       start the server on 127.0.0.1, a free port, its
#                       unix socket in DIR; print its conninfo (password
#                       in DIR/pgpass, never in the conninfo). On a DIR
#                       started before: start it again on the same port.
#   pg.sh stop DIR [MODE]  pg_ctl stop -m MODE (default fast); DIR stays
#   pg.sh clean DIR     stop (fast) and remove DIR
#   pg.sh run CMD...    start a server in a new temporary folder, run CMD
#                       with SIPPUSH_TEST_PG set to its conninfo, stop and
#                       remove the server; exit with CMD's status
#
# Run as root (CI), the server runs as the postgres user (initdb refuses
# root); otherwise as the calling user. The server is the one of
# PG_BINDIR (default: pg_config --bindir, else the newest
# /usr/lib/postgresql/*/bin). Its log is DIR/log.
set -euo pipefail

me=pg.sh
die() { echo "$me: $*" >&2; exit 1; }

pg_bindir()
{
    local d
    if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        if [ -x "$d/initdb" ]; then echo "$d"; return; fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ]; then echo "$d"; return; fi
    done
    die "no PostgreSQL server found (initdb): install postgresql-15 (scripts/install-deps.sh) or set PG_BINDIR"
}

BIN=$(pg_bindir)

# as_pg CMD...: run as the server's user.
as_pg()
{
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port()
{
    local p i used
    used=" $(ss -Hantu 2>/dev/null | awk '{ n = split($5, a, ":"); print a[n] }' | sort -u | tr '\n' ' ') "
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        case $used in *" $p "*) continue ;; esac
        echo "$p"
        return 0
    done
    die "no free port found"
}

conninfo()
{
    local dir=$1
    echo "host=127.0.0.1 port=$(cat "$dir/port") user=postgres dbname=postgres passfile=$dir/pgpass"
}

# launch DIR PORT: pg_ctl start; 0, or 3 when the port was taken.
launch()
{
    local dir=$1 port=$2
    if as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir/sock -c max_connections=40 -c shared_buffers=16MB" \
        start >/dev/null; then
        return 0
    fi
    if grep -q "could not bind\|Address already in use" "$dir/log" 2>/dev/null; then
        return 3
    fi
    tail -n 20 "$dir/log" >&2 || true
    die "the server in $dir did not start (log: $dir/log)"
}

start()
{
    local dir=$1 pw port i rc
    if [ -s "$dir/port" ] && [ -d "$dir/data" ]; then
        launch "$dir" "$(cat "$dir/port")" || die "port $(cat "$dir/port") is taken: cannot start $dir again"
        conninfo "$dir"
        return 0
    fi
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir: not empty"
    mkdir "$dir/data" "$dir/sock"
    : >"$dir/log"
    pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    printf '%s\n' "$pw" >"$dir/pw"
    if [ "$(id -u)" -eq 0 ]; then
        chmod 0711 "$dir"
        chown postgres "$dir/data" "$dir/sock" "$dir/pw" "$dir/log"
    fi
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pw" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
    rm -f "$dir/pw"
    for ((i = 0; i < 5; i++)); do
        port=$(free_port)
        echo "$port" >"$dir/port"
        rc=0
        launch "$dir" "$port" || rc=$?
        [ "$rc" -eq 3 ] || break
    done
    [ "$rc" -eq 0 ] || die "no free port in 5 tries"
    (umask 077; printf '127.0.0.1:%s:*:postgres:%s\n' "$port" "$pw" >"$dir/pgpass")
    conninfo "$dir"
}

stop()
{
    local dir=$1 mode=${2:-fast}
    [ -d "$dir/data" ] || return 0
    as_pg "$BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null 2>&1 || true
}

clean()
{
    local dir=$1
    stop "$dir" fast
    rm -rf "$dir"
}

run()
{
    local ci rc=0
    run_dir=$(mktemp -d "${TMPDIR:-/tmp}/sippush-pg.XXXXXX")
    trap 'clean "$run_dir"' EXIT
    trap 'exit 130' INT TERM
    if ! ci=$(start "$run_dir"); then
        die "cannot start a PostgreSQL server for the tests (set SIPPUSH_TEST_PG_SKIP=1 to run without)"
    fi
    SIPPUSH_TEST_PG=$ci "$@" || rc=$?
    return "$rc"
}

[ $# -ge 1 ] || die "usage: $me start|stop|clean DIR | run CMD..."
cmd=$1
shift
case $cmd in
start) [ $# -eq 1 ] || die "usage: $me start DIR"; start "$1" ;;
stop) [ $# -ge 1 ] || die "usage: $me stop DIR [MODE]"; stop "$@" ;;
clean) [ $# -eq 1 ] || die "usage: $me clean DIR"; clean "$1" ;;
run)
    [ $# -ge 1 ] || die "usage: $me run CMD..."
    if [ "${SIPPUSH_TEST_PG_SKIP:-0}" = 1 ]; then
        echo "$me: SIPPUSH_TEST_PG_SKIP=1: no PostgreSQL server, its tests are skipped" >&2
        exec "$@"
    fi
    if [ -n "${SIPPUSH_TEST_PG:-}" ]; then
        exec "$@"     # a server given from outside
    fi
    run "$@"
    ;;
*) die "unknown command: $cmd" ;;
esac
