#!/usr/bin/env bash
# tls.sh -- the TLS transport (sips:) end to end: sippushd and
# sippush-agent (libsippush) over TLS, with certificates made here.
#
#   CA     a throwaway CA; server.pem: 127.0.0.1 and localhost, signed by it
#   OTHER  an unrelated CA; other.pem: a server certificate for another
#          host name, signed by CA
#
#   what                                       expected
#   sippushd, missing/bad/mismatched files     exit 1, the file named
#   g1: TLS agent, ca_file CA                  registers (transport tls),
#                                              gets a message on its own
#                                              connection, acks it
#   w1: TLS agent, ca_file OTHER               refused: "unable to get local
#                                              issuer", not registered; the
#                                              daemon goes on
#   a half-open TLS connection                 closed after
#                                              sip.tcp_idle_timeout; g1's
#                                              silent one is kept
#   sippushd with other.pem: n1 (ca_file CA)   refused: "not for 127.0.0.1"
#   i1: tls.insecure                           registers anyway, warns
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/sippush-agent
[ -x "$AGENT" ] || fail "$AGENT is not built (run: make sippush-agent)"
command -v openssl >/dev/null 2>&1 ||
    fail "openssl is missing (scripts/install-deps.sh installs it)"
command -v ss >/dev/null 2>&1 || fail "ss is missing (iproute2)"
# the daemon's and the agents' folders for Sofia-SIP's TLS files go here,
# to be checked that they are gone
mkdir -p "$T/tmp"
export TMPDIR=$T/tmp
leftovers() { ls -A "$T/tmp"; }

# ---- certificates ------------------------------------------------------------

step "make a CA, a server certificate, an unrelated CA"
C=$T/certs
mkdir -p "$C"
ossl() { timeout 30 openssl "$@" 2>>"$T/openssl.log" >/dev/null || fail "openssl $1 failed (see $T/openssl.log)"; }
# ca NAME CN: a self-signed CA
ca()
{
    ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -keyout "$C/$1.key" -out "$C/$1.pem"
}
# cert NAME CA SAN: a server certificate signed by CA.  Sofia-SIP 1.12.11
# reads no IP address from subjectAltName, so 127.0.0.1 is a DNS name too.
cert()
{
    ossl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
        -keyout "$C/$1.key" -out "$C/$1.csr"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$3" >"$C/$1.ext"
    ossl x509 -req -days 2 -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" \
        -CAcreateserial -extfile "$C/$1.ext" -out "$C/$1.pem"
}
ca ca "sippush test CA"
ca otherca "unrelated test CA"
cert server ca "DNS:localhost,IP:127.0.0.1,DNS:127.0.0.1"
cert other ca "DNS:other.example"
printf -- '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n' >"$C/junk.pem"

# ---- helpers -------------------------------------------------------------------

# agent_conf NAME SERVER [tls.* SETTING...]: an agent over TLS.
agent_conf()
{
    local name=$1 server=$2
    shift 2
    {
        cat <<EOF
server = {
  list = [ "$server" ];
  transport = "tls";
  heartbeat_interval = 4;
  timeout = 1000;
  retry_initial = 300;
  retry_max = 1000;
};
client = { id = "$name"; class = "tls"; };
sip = { address = "127.0.0.1"; };
messages = { state_file = "$T/$name.seen"; };
log = { level = "debug"; };
EOF
        printf 'tls = {\n'
        local s
        for s in "$@"; do printf '  %s;\n' "$s"; done
        printf '};\n'
    } >"$T/$name.conf"
}

log_has() { grep -q -- "$2" "$T/$1.log"; }
acked() { [ "$(ctl --json status "$1" | jq -r '.targets[0].state')" = acked ]; }
# established TCP connections to 127.0.0.1:PORT
conns_to() { ss -Htn state established "( dport = :$1 )" | grep -c "127.0.0.1:$1" || true; }

# tls_opts CERT KEY: the daemon's tls section.
tls_opts()
{
    TLS_OPTS=('tls.enable = true' "tls.port = $TLS_PORT"
        "tls.certificate = \"$1\"" "tls.key = \"$2\"")
}

# ---- the daemon refuses bad files ---------------------------------------------

step "sippushd: a missing, bad or mismatched file stops it: exit 1, the file named"
TLS_PORT=$(free_port)
PORT=$(free_port)
expect_refused()
{
    local want=$1
    shift
    write_config "$T/bad.conf" 'tls.enable = true' "tls.port = $TLS_PORT" "$@"
    assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/bad.conf"
    assert_contains "$OUT" "$want"
    assert_not_contains "$OUT" "started"
    assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/bad.conf"
    assert_contains "$OUT" "$want"
}
expect_refused "sippushd: $C/missing.pem: cannot read (tls.certificate): No such file or directory" \
    "tls.certificate = \"$C/missing.pem\"" "tls.key = \"$C/server.key\""
expect_refused "sippushd: $C/junk.pem: no PEM certificate in it (tls.certificate)" \
    "tls.certificate = \"$C/junk.pem\"" "tls.key = \"$C/server.key\""
expect_refused "sippushd: $C/missing.key: cannot read (tls.key)" \
    "tls.certificate = \"$C/server.pem\"" "tls.key = \"$C/missing.key\""
expect_refused "sippushd: $C/other.key: the key does not match the certificate of $C/server.pem (tls.key)" \
    "tls.certificate = \"$C/server.pem\"" "tls.key = \"$C/other.key\""
expect_refused "sippushd: $C/junk.pem: no PEM certificate in it (tls.ca_file)" \
    "tls.certificate = \"$C/server.pem\"" "tls.key = \"$C/server.key\"" \
    "tls.ca_file = \"$C/junk.pem\""
expect_refused "tls: enable is true, but key is not set" \
    "tls.certificate = \"$C/server.pem\""
assert_eq "" "$(leftovers)" "files left in TMPDIR"

# ---- a daemon with TLS -----------------------------------------------------------

step "sippushd with TLS on its own port"
tls_opts "$C/server.pem" "$C/server.key"
start_daemon "${TLS_OPTS[@]}" 'heartbeat.timeout = 30' \
    'sip.tcp_idle_timeout = 2'
SERVER=127.0.0.1:$TLS_PORT
assert_contains "$(cat "$DAEMON_LOG")" "sip: listening on sips:127.0.0.1:$TLS_PORT"
assert_status 0 "$SIPPUSHD" -n -f "$CONF"
assert_contains "$OUT" "certificate = \"$C/server.pem\";"

step "g1 (the right CA) registers over TLS; w1 (an unrelated CA) is refused"
agent_conf g1 "$SERVER" "ca_file = \"$C/ca.pem\""
agent_conf w1 "$SERVER" "ca_file = \"$C/otherca.pem\""
start_agent g1
start_agent w1
wait_until 10 state_is g1 online
assert_eq tls "$(client_field g1 transport)" "transport of g1"
g1_port=$(client_field g1 port)
wait_until 10 log_has w1 "TLS: the server's certificate was refused: unable to get local issuer certificate"
wait_until 10 log_has w1 "REGISTER failed"
soft assert_status 1 ctl client w1
assert_not_contains "$(cat "$T/w1.log")" "registered with"

step "a message to g1 goes over its own TLS connection and is acknowledged"
assert_status 0 ctl --json publish --client g1 --wait 'over TLS'
M1=$(jq -r .id <<<"${OUT%%$'\n'*}")
assert_match "$M1" '^[0-9a-f]{16}$' "message ID"
acked "$M1" || fail "$M1 not acked: $(ctl status "$M1")"
assert_status 0 ctl status "$M1"
assert_match "$OUT" "g1 +acked"
wait_until 5 log_has g1 "message $M1 from $SERVER"
assert_eq "$M1|over TLS" "$(jq -r '[.id, .body] | join("|")' "$T/g1.out")" "g1's JSON line"
# one connection between g1 and the daemon: the one it opened
assert_eq 1 "$(conns_to "$TLS_PORT")" "TLS connections to the daemon"
assert_eq "$g1_port" "$(client_field g1 port)" "g1's source port"

step "the daemon goes on after w1's failed handshakes"
assert_status 0 ctl stats
log_has w1 "TLS: the server's certificate was refused" || fail "w1 not refused"

step "a half-open TLS connection is closed after sip.tcp_idle_timeout (2 s)"
stop_agent w1
exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT"
printf '\026\003\001\000' >&3     # the start of a ClientHello, and no more
t0=$(date +%s)
rc=0
timeout 15 cat <&3 >/dev/null || rc=$?
exec 3<&-
assert_eq 0 "$rc" "read until the daemon closed the half-open connection"
el=$(($(date +%s) - t0))
[ "$el" -ge 1 ] || fail "closed after ${el}s, before the idle timeout"
wait_until 5 grep -q "sip: closed 1 TLS connection silent for 2s" "$DAEMON_LOG"
# g1 heartbeats every 4 s: its connection was silent for 2 s, but held
assert_eq "$g1_port" "$(client_field g1 port)" "g1's source port after the sweep"
assert_not_contains "$(cat "$T/g1.log")" "registering again"
assert_status 0 ctl --json publish --client g1 --wait 'still there'
stop_agent g1
wait_until 5 state_is g1 unregistered
stop_daemon

# ---- the host name is checked ------------------------------------------------------

step "a certificate for another host is refused; tls.insecure takes it"
TLS_PORT=$(free_port)
tls_opts "$C/other.pem" "$C/other.key"
start_daemon "${TLS_OPTS[@]}"
SERVER=127.0.0.1:$TLS_PORT
agent_conf n1 "$SERVER" "ca_file = \"$C/ca.pem\""
agent_conf i1 "$SERVER" "insecure = true" "ca_file = \"$C/otherca.pem\""
start_agent n1
start_agent i1
wait_until 10 state_is i1 online
assert_contains "$(cat "$T/i1.log")" "tls_insecure is set"
wait_until 10 log_has n1 "TLS: the server's certificate was refused: the certificate is not for 127.0.0.1"
soft assert_status 1 ctl client n1
stop_agent n1
stop_agent i1
stop_daemon

# ---- TLS and Digest authentication together -------------------------------------

step "with auth.enabled: a1 authenticates over TLS and gets a message"
TLS_PORT=$(free_port)
tls_opts "$C/server.pem" "$C/server.key"
start_daemon "${TLS_OPTS[@]}" 'auth.enabled = true' 'heartbeat.timeout = 30'
SERVER=127.0.0.1:$TLS_PORT
assert_status 0 ctl user add a1 <<<"tls-and-digest"
agent_conf a1 "$SERVER" "ca_file = \"$C/ca.pem\""
printf 'auth = { password = "tls-and-digest"; };\n' >>"$T/a1.conf"
chmod 600 "$T/a1.conf"
start_agent a1
wait_until 10 state_is a1 online
assert_eq tls "$(client_field a1 transport)" "transport of a1"
assert_contains "$(cat "$T/a1.log")" "asks for credentials (SHA-256"
assert_status 0 ctl --json publish --client a1 --wait 'secured'
stop_agent a1
stop_daemon
assert_eq "" "$(leftovers)" "files left in TMPDIR (Sofia-SIP's TLS folders)"

pass
