#!/bin/sh
# bench/install-kamailio.sh: install Kamailio with its SQLite modules (the
# comparison server of bench/run.sh) and the profilers the benchmark uses,
# from Debian packages, non-interactively. Idempotent: does nothing when
# everything is already there. Needs root (or sudo).
set -eu

pkgs="kamailio kamailio-sqlite-modules sqlite3"
[ "${BENCH_PROFILE:-1}" = 0 ] || pkgs="$pkgs valgrind linux-perf"

missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-kamailio: already installed: $pkgs"
	exit 0
fi

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
echo "install-kamailio: installing:$missing"
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing

# The package starts a system kamailio on 5060 on some setups (and the
# default cfg would clash with the benchmark's daemons): stop and disable it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true
elif [ -x /etc/init.d/kamailio ]; then
	$SUDO /etc/init.d/kamailio stop >/dev/null 2>&1 || true
fi
kamailio -v | head -1
