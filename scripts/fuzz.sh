#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer targets of tests/fuzz/ and run a short,
# bounded pass of each.
#
#   scripts/fuzz.sh [TARGET...]  (default: registrar control config stream
#                                 http)
#
# Targets (tests/fuzz/fuzz_TARGET.c):
#   registrar  a SIP message parsed by Sofia (msg_make) from the input,
#              read by registrar_parse
#   control    control-socket request lines: proto_split/proto_decode and
#              control_request on a live table, store and dispatcher
#   config     config_load on a file holding the input, config_print of it
#   stream     a TCP stream cut into reads as the input says, several
#              messages to a read, parsed as Sofia's transport does with
#              src/guard.c's msg_extract in place (lengths at the edges)
#   http       HTTP API requests (method, path and query, headers, JSON
#              body) answered by http_req_run below libmicrohttpd, on a
#              live table, store and dispatcher, with three tokens
#
# Environment:
#   FUZZ_TIME   seconds per target (default 20)
#   FUZZ_JOBS   parallel libFuzzer workers per target (default 1)
#   FUZZ_BUILD  build and work folder (default /tmp/sippush-fuzz)
#   CC          a clang with libFuzzer (default clang; on Debian 12:
#               apt-get install clang libclang-rt-14-dev)
#
# The seeds are tests/fuzz/corpus/TARGET/; each run starts from them and
# from what earlier runs kept in $FUZZ_BUILD/corpus/TARGET (the seeds in
# the tree are never written to). A crash, leak, sanitizer report or
# timeout stops that target, leaves its input in $FUZZ_BUILD/crashes/ and
# makes the script exit 1. Replay one with:
#   $FUZZ_BUILD/fuzz_TARGET $FUZZ_BUILD/crashes/TARGET/crash-...
# Leaks inside libraries are listed in tests/fuzz/lsan.supp.
# Builds outside the autotools tree: nothing here touches `make'.
set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
: "${FUZZ_TIME:=20}"
: "${FUZZ_JOBS:=1}"
: "${FUZZ_BUILD:=/tmp/sippush-fuzz}"
: "${CC:=clang}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(registrar control config stream http)

die() { echo "fuzz: $*" >&2; exit 2; }

command -v "$CC" >/dev/null 2>&1 ||
    die "$CC not found (Debian: apt-get install clang libclang-rt-14-dev)"
command -v pkg-config >/dev/null 2>&1 || die "pkg-config not found"
for t in "${targets[@]}"; do
    [ -f "tests/fuzz/fuzz_$t.c" ] || die "no target $t (tests/fuzz/fuzz_$t.c)"
done

mkdir -p "$FUZZ_BUILD/obj"
b=$FUZZ_BUILD

# ---- build -----------------------------------------------------------

pkgs="sofia-sip-ua sqlite3 libconfig libcrypto jansson libmicrohttpd libpq libcurl"
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
    -Wall -Wextra
    -DSIPPUSH_VERSION='"fuzz"'
    -I"$top/src" -I"$top/common" -I"$top/tests/fuzz"
    $(pkg-config --cflags $pkgs))
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
libs=($(pkg-config --libs $pkgs))

echo "fuzz: building in $b with $CC"
sh scripts/sql2c.sh -d "$top" sql/sqlite/[0-9][0-9][0-9]_*.sql >"$b/schema.c.tmp"
mv -f "$b/schema.c.tmp" "$b/schema.c"
sh scripts/json2c.sh http_openapi_json doc/openapi.json >"$b/openapi.c.tmp"
mv -f "$b/openapi.c.tmp" "$b/openapi.c"
sh scripts/web2c.sh web/index.html web/dashboard.css web/dashboard.js \
    >"$b/web.c.tmp"
mv -f "$b/web.c.tmp" "$b/web.c"
sh scripts/sql2c.sh -d "$top" -n pg_schema sql/postgresql/[0-9][0-9][0-9]_*.sql >"$b/schema_pg.c.tmp"
mv -f "$b/schema_pg.c.tmp" "$b/schema_pg.c"

core=(common_log common_sha256 common_digest common_conffile common_wire config
      log store store_sqlite store_postgresql clients commit dispatch registrar
      heartbeat sip guard control command proto auth tls rate clock relay
      token metrics http http_api webhook cluster fleet)
objs=()
for f in "${core[@]}" schema schema_pg openapi web fuzz_common; do
    case $f in
        schema) src=$b/schema.c ;;
        schema_pg) src=$b/schema_pg.c ;;
        openapi) src=$b/openapi.c ;;
        web) src=$b/web.c ;;
        fuzz_common) src=$top/tests/fuzz/fuzz_common.c ;;
        common_*) src=$top/common/${f#common_}.c ;;
        *) src=$top/src/$f.c ;;
    esac
    o=$b/obj/$f.o
    objs+=("$o")
    "$CC" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer-no-link \
        -c "$src" -o "$o"
done
# guard.c replaces three of Sofia's functions: exported, as for sippushd
# (guard_init, which fuzz_stream calls, checks all three)
export_guard=(-Wl,--export-dynamic-symbol=msg_extract
    -Wl,--export-dynamic-symbol=tport_recv_stun_dgram
    -Wl,--export-dynamic-symbol=tport_error_event)
for t in "${targets[@]}"; do
    "$CC" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer \
        "$top/tests/fuzz/fuzz_$t.c" "${objs[@]}" "${libs[@]}" \
        "${export_guard[@]}" -ldl -o "$b/fuzz_$t"
done

# ---- run -------------------------------------------------------------

rc=0
summary=()
for t in "${targets[@]}"; do
    corpus=$b/corpus/$t
    crashes=$b/crashes/$t
    # this run's findings only (copy an old one into tests/fuzz/corpus/
    # to keep it as a regression seed)
    rm -rf "$crashes"
    mkdir -p "$corpus" "$crashes"
    log=$b/fuzz_$t.log
    echo "fuzz: $t for ${FUZZ_TIME}s (log $log)"
    st=0
    par=()
    [ "$FUZZ_JOBS" -le 1 ] || par=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    # the first folder gets the new inputs; the seeds are only read
    rm -rf "$b/tmp" && mkdir -p "$b/tmp"
    SIPPUSH_FUZZ_TMP=$b/tmp \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/fuzz/lsan.supp} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    timeout $((FUZZ_TIME + 60)) "$b/fuzz_$t" \
        -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 "${par[@]+"${par[@]}"}" \
        -artifact_prefix="$crashes/" \
        "$corpus" "$top/tests/fuzz/corpus/$t" >"$log" 2>&1 || st=$?
    # with -jobs, each job logs to fuzz-N.log in the current folder
    if [ "$FUZZ_JOBS" -gt 1 ]; then
        cat fuzz-*.log >>"$log" 2>/dev/null || true
        rm -f fuzz-*.log
    fi
    rm -rf "$b/tmp"     # what a crash left behind
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
        awk '{ s += $1 } END { print s + 0 }')
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | awk '{ print $2 }')
    found=$(find "$crashes" -type f | wc -l)
    if [ "$st" -ne 0 ] || [ "$found" -gt 0 ]; then
        rc=1
        summary+=("$t: FAILED (status $st, $found inputs in $crashes)")
        echo "fuzz: $t FAILED; the end of $log:" >&2
        tail -n 40 "$log" >&2
    else
        summary+=("$t: ok, $execs runs, coverage ${cov:-?}, corpus $(find "$corpus" -type f | wc -l) inputs")
    fi
done

echo "fuzz: summary (${FUZZ_TIME}s per target)"
printf '  %s\n' "${summary[@]}"
exit "$rc"
