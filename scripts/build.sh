#!/usr/bin/env bash
# build.sh -- install dependencies, (re)configure if needed, and build.
#
# Usage: scripts/build.sh [CONFIGURE-ARGS...]
#   Configure arguments come from $CONFIGURE_FLAGS (word-split) followed
#   by the command-line arguments, e.g.
#     CONFIGURE_FLAGS="--enable-sanitizers --enable-werror" scripts/build.sh
#   ./configure is re-run only when there is no configured tree yet or the
#   arguments differ from the previous run (then `make clean` follows,
#   so no objects built with other flags are reused).  JOBS (default 2) sets make -j.
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# shellcheck disable=SC2206  # intentional word splitting of CONFIGURE_FLAGS
args=(${CONFIGURE_FLAGS:-} "$@")
stamp=.configure-args
want=$(printf '%s\n' "${args[@]+"${args[@]}"}")

if [ ! -x configure ]; then
    echo "build: running ./autogen.sh"
    ./autogen.sh
fi

if [ ! -f config.status ] || [ ! -f Makefile ] || [ ! -f "$stamp" ] ||
   [ "$(cat "$stamp")" != "$want" ]; then
    # Objects built with other flags (e.g. sanitizers) must not be reused.
    reconf=no
    [ -f Makefile ] && [ -f config.status ] && reconf=yes
    echo "build: running ./configure ${args[*]+"${args[*]}"}"
    rm -f "$stamp"
    ./configure ${args[@]+"${args[@]}"}
    if [ "$reconf" = yes ]; then
        echo "build: configure arguments changed, running make clean"
        make clean >/dev/null
    fi
    printf '%s' "$want" >"$stamp"
else
    echo "build: already configured with the same arguments, skipping ./configure"
fi

make -j"${JOBS:-2}"
