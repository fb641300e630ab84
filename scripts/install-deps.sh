#!/usr/bin/env bash
# install-deps.sh -- install the Debian 12 packages needed to build and
# test sippush.  Idempotent and non-interactive: does nothing (and never
# runs `apt-get update`) when everything is already installed.  Uses sudo
# when not run as root.  Set SIPPUSH_SKIP_DEPS=1 to skip entirely.
set -euo pipefail

PACKAGES=(
    build-essential
    autoconf
    automake
    libtool
    pkg-config
    libsofia-sip-ua-dev
    libsqlite3-dev
    sqlite3
    libconfig-dev
    libcunit1-dev
    # the PostgreSQL store backend (libpq), and the server its tests run
    # (tests/pg.sh: initdb, pg_ctl)
    libpq-dev
    postgresql-15
    # sippushd's TLS checks (libcrypto); certificates in tests/e2e/tls.sh
    libssl-dev
    openssl
    sofia-sip-bin
    baresip-core
    procps
    iproute2
    valgrind
    jq
    # systemd-analyze, -sysusers, -tmpfiles: tests/e2e/systemd.sh checks
    # the units and files made for systemd
    systemd
    # scripts/fuzz.sh (libFuzzer), which .ci/run runs after the tests
    clang
    libclang-rt-14-dev
    # the HTTP API (src/http.c): its server, JSON, and the webhooks' client
    libmicrohttpd-dev
    libjansson-dev
    libcurl4-openssl-dev
    # promtool checks /metrics (tests/e2e/http.sh); chromium drives the
    # dashboard's test
    prometheus
    chromium
    curl
)

if [ "${SIPPUSH_SKIP_DEPS:-0}" = 1 ]; then
    echo "install-deps: SIPPUSH_SKIP_DEPS=1, not checking packages"
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: not a Debian/apt system, skipping; install the equivalents of: ${PACKAGES[*]}" >&2
    exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed, nothing to do"
    exit 0
fi

echo "install-deps: apt-get update && apt-get install ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
    [ -t 0 ] && SUDO=(sudo)
else
    echo "install-deps: not root and sudo is not available; install as root: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
