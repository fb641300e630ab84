#!/usr/bin/env bash
# valgrind.sh [TEST...]: run end-to-end tests with every sippushd they
# start under valgrind's memcheck (full leak check; tests/valgrind.supp
# holds the libraries' own leaks, such as Sofia-SIP 1.12.11's per TLS
# connection), then report each daemon's errors and definite leaks.
# Exit 0 when valgrind found nothing, 1 otherwise.
#
#   TEST   names under tests/e2e/ (default: register ctl dispatch auth tls)
#
# Needs a built tree (scripts/build.sh or make). Slow: a daemon under
# valgrind runs some 20 times slower, so only tests without tight timing
# are in the default list. Reports are kept in $VG_DIR (default
# /tmp/sippush-valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
command -v valgrind >/dev/null ||
    { echo "valgrind.sh: valgrind is not installed (scripts/install-deps.sh)" >&2; exit 2; }
[ -x ./sippushd ] || { echo "valgrind.sh: build first (scripts/build.sh)" >&2; exit 2; }
make -s tests/simclient tests/digestclient >/dev/null

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(register ctl dispatch auth tls)
VG_DIR=${VG_DIR:-/tmp/sippush-valgrind}
rm -rf "$VG_DIR"
mkdir -p "$VG_DIR"

export SIPPUSHD_WRAPPER="valgrind --tool=memcheck --leak-check=full
    --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --suppressions=$top/tests/valgrind.supp --log-file=$VG_DIR/sippushd.%p.log"
export SIPPUSHD_STOP_WAIT=60
export top_builddir=$top top_srcdir=$top

failed=0
for t in "${tests[@]}"; do
    echo "valgrind: tests/e2e/$t.sh"
    if ! bash "tests/e2e/$t.sh" >"$VG_DIR/$t.out" 2>&1; then
        echo "valgrind: tests/e2e/$t.sh failed under valgrind (see $VG_DIR/$t.out)"
        failed=1
    fi
done

n=0 bad=0
for log in "$VG_DIR"/sippushd.*.log; do
    [ -e "$log" ] || continue
    n=$((n + 1))
    # indirect leaks hang off definite ones: those are what counts
    if grep -Eq 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$log"; then
        bad=$((bad + 1))
        echo "valgrind: findings in $log:"
        grep -E 'ERROR SUMMARY|definitely lost' "$log" | sed 's/^/  /'
    fi
done
echo "valgrind: $n daemons checked, $bad with findings"
[ "$n" -gt 0 ] || { echo "valgrind: no daemon ran under valgrind" >&2; exit 1; }
[ "$bad" -eq 0 ] && [ "$failed" -eq 0 ]
