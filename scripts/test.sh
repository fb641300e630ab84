#!/usr/bin/env bash
# test.sh -- install dependencies, build, and run the whole test suite
# (CUnit unit tests + end-to-end SIP tests).  Arguments and
# $CONFIGURE_FLAGS are passed to ./configure (see scripts/build.sh).
# On failure, prints test-suite.log (which contains the logs of the
# failed tests).
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/build.sh "$@"

if ! make -j"${JOBS:-2}" check; then
    echo "test: make check FAILED" >&2
    if [ -f test-suite.log ]; then
        echo "===================== test-suite.log =====================" >&2
        cat test-suite.log >&2
    fi
    exit 1
fi
# one plain closing line, for people and for CI
pass=$(sed -n 's/^# PASS: *//p' test-suite.log 2>/dev/null | head -n 1)
fail=$(sed -n 's/^# FAIL: *//p' test-suite.log 2>/dev/null | head -n 1)
echo "test: all tests passed"
echo "${pass:-0} passed, ${fail:-0} failed"
