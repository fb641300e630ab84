#!/usr/bin/env bash
# webhook.sh -- delivery webhooks (issue 13): a message's own callback
# (sippushctl publish --callback, "callback" in POST /v1/messages) and
# the global webhooks.url are told when a message finishes and when a
# target fails; bodies, the Sippush-Signature (HMAC-SHA256 recomputed
# here), retries after 500s, giving up after webhooks.max_attempts (log,
# stats, /metrics), a receiver that hangs never delays SIP (OPTIONS are
# answered at once meanwhile), at most webhooks.max_in_flight requests
# at once, and the outbox rows left by a stop are delivered after the
# restart.
#
# Receivers: tests/e2e/webhook_receiver.py on 127.0.0.1, one JSON line
# per request received.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed"
command -v curl >/dev/null || fail "curl is needed (scripts/install-deps.sh)"
command -v sqlite3 >/dev/null || fail "sqlite3 is needed (scripts/install-deps.sh)"

RECEIVER=$top_srcdir/tests/e2e/webhook_receiver.py
SECRET=whsec-e2e-$$

# start_rx NAME [RECEIVER ARGS...]: a receiver logging to $T/NAME.log;
# its port in RXPORT, its PID in RXPID.
start_rx()
{
    local name=$1
    shift
    rm -f "$T/$name.port"
    : >>"$T/$name.log"
    bg_log "$T/$name.out" python3 "$RECEIVER" --port-file "$T/$name.port" \
        --log "$T/$name.log" --max-time 240 "$@"
    RXPID=$BG_PID
    wait_until 15 test -s "$T/$name.port"
    RXPORT=$(cat "$T/$name.port")
}

# rx_count NAME STATUS [MESSAGE-ID]: requests NAME answered with STATUS
# (about that message).
rx_count()
{
    python3 - "$T/$1.log" "$2" "${3:-}" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["status"] != int(sys.argv[2]):
        continue
    if sys.argv[3] and json.loads(r["body"]).get("message_id") != sys.argv[3]:
        continue
    n += 1
print(n)
EOF
}

# rx_at_least NAME STATUS N [MESSAGE-ID]: for wait_until.
rx_at_least() { [ "$(rx_count "$1" "$2" "${4:-}")" -ge "$3" ]; }

# stat KEY: one value of sippushctl stats; stat_is KEY OP N (for
# wait_until): test VALUE OP N.
stat() { ctl --json stats | jq -r ".$1"; }
stat_is() { [ "$(stat "$1")" "$2" "$3" ]; }

# outbox_rows: rows in the outbox table.
outbox_rows() { sqlite3 "$T/sippush.db" 'SELECT count(*) FROM outbox'; }
outbox_empty() { [ "$(outbox_rows)" = 0 ]; }

# check_requests NAME MESSAGE-ID: every request NAME received carries a
# valid signature (recomputed with $SECRET over "t.body", t within 5
# minutes of its arrival) and headers that agree with its body; prints
# the delivered (200) bodies about MESSAGE-ID, one JSON object a line.
check_requests()
{
    python3 - "$T/$1.log" "$SECRET" "$2" <<'EOF' || fail "$1: bad webhook requests (above)"
import hashlib, hmac, json, sys
path, secret, mid = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
bad = 0
for line in open(path):
    r = json.loads(line)
    h, body = r["headers"], r["body"]
    sig = h.get("sippush-signature", "")
    parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
    want = hmac.new(secret, (parts.get("t", "") + "." + body).encode(),
                    hashlib.sha256).hexdigest()
    j = json.loads(body)
    why = []
    if not hmac.compare_digest(parts.get("v1", ""), want):
        why.append("signature %r, want v1=%s" % (sig, want))
    elif abs(int(parts["t"]) - r["time"]) > 300:
        why.append("signature time %s far from %s" % (parts["t"], r["time"]))
    if h.get("content-type") != "application/json":
        why.append("content-type %r" % h.get("content-type"))
    if h.get("sippush-event") != j.get("event"):
        why.append("Sippush-Event %r, body event %r" % (h.get("sippush-event"), j.get("event")))
    if h.get("sippush-delivery") != j.get("id") or len(j.get("id", "")) != 16:
        why.append("Sippush-Delivery %r, body id %r" % (h.get("sippush-delivery"), j.get("id")))
    if not h.get("user-agent", "").startswith("sippushd/"):
        why.append("user-agent %r" % h.get("user-agent"))
    if why:
        bad += 1
        print("%s: %s: %s" % (path, "; ".join(why), body), file=sys.stderr)
    elif r["status"] == 200 and j.get("message_id") == mid:
        print(json.dumps(j, sort_keys=True))
sys.exit(1 if bad else 0)
EOF
}

# ---------------------------------------------------------------------
step "configuration: the webhooks section checked by sippushd -n"
PORT=5060
write_config "$T/c1.conf" 'webhooks.url = "ftp://h/x"'
assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/c1.conf"
assert_contains "$OUT" 'webhooks.url: "ftp://h/x" is not an http:// or https:// URL'
write_config "$T/c2.conf" 'webhooks.events = ["finished", "acked"]'
assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/c2.conf"
assert_contains "$OUT" 'webhooks.events: "acked" is not an event'
write_config "$T/c3.conf" 'webhooks.secret_file = "/nonexistent/secret"'
assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/c3.conf"
assert_contains "$OUT" 'webhooks.secret_file: cannot read /nonexistent/secret'
printf '%s\n' "$SECRET" >"$T/secret"
write_config "$T/c4.conf" "webhooks.secret_file = \"$T/secret\"" \
    'webhooks.url = ["http://127.0.0.1:9/a", "https://h.example/b"]'
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/c4.conf"
assert_contains "$OUT" 'url = [ "http://127.0.0.1:9/a", "https://h.example/b" ];'
assert_contains "$OUT" '# secret is set (not shown): read from secret_file'
assert_not_contains "$OUT" "$SECRET"

# ---------------------------------------------------------------------
step "receivers: global (always 200), callback (500 to its first 2 requests)"
start_rx global
GPORT=$RXPORT
start_rx cb --fail-first 2
CBPORT=$RXPORT
DEAD=$(free_port)       # nothing listens there
HPORT=$(free_port)

start_daemon "webhooks.url = [\"http://127.0.0.1:$GPORT/global\"]" \
    "webhooks.secret_file = \"$T/secret\"" 'webhooks.retry_initial = 200' \
    'webhooks.retry_max = 400' 'webhooks.max_attempts = 3' \
    'dispatch.retry_initial = 200' 'dispatch.max_attempts = 2' \
    'heartbeat.timeout = 0' 'http.enable = true' "http.port = $HPORT"
sim_bg -n 1 -p ok -q register listen:60
sim_bg -n 1 -p bad -q --answer 500 register listen:60
wait_until 10 state_is ok0 online
wait_until 10 state_is bad0 online

step "publish --callback to a client that acks and one that fails"
ID=$(ctl publish --client ok0 --client bad0 --callback "http://127.0.0.1:$CBPORT/cb" hello)
[[ $ID =~ ^[0-9a-f]{16}$ ]] || fail "publish printed [$ID]"
wait_until 20 rx_at_least global 200 2 "$ID"
wait_until 20 rx_at_least cb 200 2 "$ID"

step "bodies, headers and signatures"
check_requests global "$ID" >"$T/global.ok"
check_requests cb "$ID" >"$T/cb.ok"
for f in global cb; do
    jq -se --arg id "$ID" 'length == 2 and
        ([.[] | select(.event == "finished")] | length) == 1 and
        (.[] | select(.event == "finished") |
            .message_id == $id and .state == "done" and
            .counts.targets == 2 and .counts.acked == 1 and
            .counts.failed == 1 and .counts.pending == 0 and
            .finished_at >= .created_at and .time >= .finished_at) and
        (.[] | select(.event == "target_failed") |
            .client_id == "bad0" and .attempts == 2 and
            .last_status == 500 and .message_id == $id)' \
        "$T/$f.ok" >/dev/null ||
        fail "$f: unexpected deliveries: $(cat "$T/$f.ok")"
done
# one delivery ID per event and URL: the two URLs got different ones
[ "$(cat "$T/global.ok" "$T/cb.ok" | jq -r .id | sort -u | wc -l)" = 4 ] ||
    fail "delivery IDs are not one per event and URL"

step "retries: the callback's first two attempts got 500, the same deliveries came again"
assert_eq 2 "$(rx_count cb 500)" "requests answered 500"
python3 - "$T/cb.log" <<'EOF' || fail "a delivery answered 500 was not retried with the same ID and body"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
failed = [r for r in reqs if r["status"] == 500]
for f in failed:
    again = [r for r in reqs if r["status"] == 200 and
             r["headers"]["sippush-delivery"] == f["headers"]["sippush-delivery"]]
    assert len(again) == 1 and again[0]["body"] == f["body"], f
    assert again[0]["time"] - f["time"] >= 0.09, (f, again[0])   # >= retry_initial/2
EOF
assert_eq 4 "$(stat webhooks_sent_total)" "webhooks_sent_total"
assert_eq 2 "$(stat webhooks_retries_total)" "webhooks_retries_total"
wait_until 5 stat_is webhooks_pending = 0
grep -q "webhook: .* (finished) to http://127.0.0.1:$CBPORT/cb failed (HTTP status 500), attempt 1 of 3" "$DAEMON_LOG" ||
    fail "no log line for the failed attempt"

step "the outbox is empty once delivered"
wait_until 5 outbox_empty

step "finished as expired (its TTL ran out) and as cancelled"
sim -n 1 -p off -q register unregister
XID=$(ctl publish --client off0 --ttl 1s gone)
CID=$(ctl publish --client off0 --ttl 1h stop)
ctl cancel "$CID" >/dev/null
wait_until 20 rx_at_least global 200 1 "$XID"
wait_until 20 rx_at_least global 200 1 "$CID"
check_requests global "$XID" | jq -se 'length == 1 and (.[0] | .event == "finished" and
    .state == "expired" and .counts.expired == 1 and .counts.targets == 1)' >/dev/null ||
    fail "expired: $(check_requests global "$XID")"
check_requests global "$CID" | jq -se 'length == 1 and (.[0] | .event == "finished" and
    .state == "cancelled" and .counts.cancelled == 1)' >/dev/null ||
    fail "cancelled: $(check_requests global "$CID")"

step "POST /v1/messages with \"callback\""
TOK=$(ctl token add hooks --scope publish,read)
HS=$(curl -s -m 20 -o "$T/post" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
    --data-binary "{\"clients\":[\"ok0\"],\"body\":\"x\",\"callback\":\"http://127.0.0.1:$CBPORT/http\"}" \
    "http://127.0.0.1:$HPORT/v1/messages") || HS=000
assert_eq 201 "$HS" "POST /v1/messages status ($(cat "$T/post"))"
HID=$(jq -r .id "$T/post")
wait_until 20 rx_at_least cb 200 1 "$HID"
wait_until 20 rx_at_least global 200 1 "$HID"
grep -q '"path": "/http"' "$T/cb.log" || fail "no request to the callback's path /http"
HS=$(curl -s -m 20 -o "$T/post" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
    --data-binary '{"clients":["ok0"],"body":"x","callback":"file:///etc/passwd"}' \
    "http://127.0.0.1:$HPORT/v1/messages") || HS=000
assert_eq 400 "$HS" "POST with a file: callback"
assert_contains "$(cat "$T/post")" "callback must be an http:// or https:// URL"
assert_status 2 ctl publish --client ok0 --callback "gopher://h/" x
assert_contains "$OUT" "callback"

step "a callback nobody answers: given up after max_attempts (log, stats, /metrics)"
GID=$(ctl publish --client ok0 --callback "http://127.0.0.1:$DEAD/never" bye)
wait_until 20 stat_is webhooks_failed_total = 1
grep -q "webhook: .* (finished) to http://127.0.0.1:$DEAD/never given up after 3 attempts" "$DAEMON_LOG" ||
    fail "no 'given up' line in the log"
wait_until 20 rx_at_least global 200 1 "$GID"
curl -s -m 20 "http://127.0.0.1:$HPORT/metrics" >"$T/metrics" || fail "GET /metrics"
grep -qx 'sippush_webhooks_failed_total 1' "$T/metrics" ||
    fail "/metrics: no sippush_webhooks_failed_total 1: $(grep webhooks "$T/metrics")"
grep -q '^# TYPE sippush_webhooks_pending gauge' "$T/metrics" ||
    fail "/metrics: no webhooks_pending gauge"
grep -qx 'sippush_webhooks_sent_total 9' "$T/metrics" ||
    fail "/metrics: sent: $(grep webhooks_sent "$T/metrics")"
stop_daemon

# ---------------------------------------------------------------------
step "a receiver that hangs: SIP is answered at once meanwhile; at most max_in_flight requests"
start_rx slow --hang-first 1000 --hang-secs 60
SPORT=$RXPORT
SLOWPID=$RXPID
write_config "$CONF" "webhooks.url = [\"http://127.0.0.1:$GPORT/global\"]" \
    "webhooks.secret_file = \"$T/secret\"" 'webhooks.timeout = 3' \
    'webhooks.retry_initial = 200' 'webhooks.retry_max = 400' \
    'webhooks.max_attempts = 20' 'webhooks.max_in_flight = 2' \
    'heartbeat.timeout = 0'
restart_daemon
sim_bg -n 1 -p p -q register listen:60
wait_until 10 state_is p0 online
# three events that hang at the receiver, room for two at once
SID=$(ctl publish --client p0 --callback "http://127.0.0.1:$SPORT/slow" slow1)
ctl publish --client p0 --callback "http://127.0.0.1:$SPORT/slow" slow2 >/dev/null
ctl publish --client p0 --callback "http://127.0.0.1:$SPORT/slow" slow3 >/dev/null
arrivals() { cat "$T/slow.log.arrivals" 2>/dev/null | wc -l; }
arrivals_ge() { [ "$(arrivals)" -ge "$1" ]; }
wait_until 20 arrivals_ge 2
t0=$(date +%s%N)
sim -n 3 -p hb -q -t 1000 register options options options ||
    fail "REGISTER/OPTIONS not answered within 1 s while webhooks hang"
t1=$(date +%s%N)
echo "   3 REGISTER + 9 OPTIONS answered in $(( (t1 - t0) / 1000000 )) ms while webhooks hang"
assert_eq 2 "$(stat webhooks_in_flight)" "webhooks_in_flight (max_in_flight = 2)"
[ "$(stat webhooks_pending)" -ge 3 ] || fail "webhooks_pending: $(stat webhooks_pending), expected >= 3"
assert_eq 2 "$(arrivals)" "requests at the receiver while two hang"
# each attempt ends at webhooks.timeout and is tried again; the others
# (the global URL's) get their turn
wait_until 15 grep -q "webhook: .* (finished) to http://127.0.0.1:$SPORT/slow failed (.*[Tt]ime.*out.*), attempt 1 of 20" "$DAEMON_LOG"
wait_until 30 rx_at_least global 200 1 "$SID"
[ "$(stat webhooks_in_flight)" -le 2 ] || fail "more than max_in_flight requests"

step "a stop leaves the undelivered events in the outbox; the restart delivers them"
stop_daemon
assert_eq 3 "$(sqlite3 "$T/sippush.db" "SELECT count(*) FROM outbox WHERE url = 'http://127.0.0.1:$SPORT/slow'")" \
    "outbox rows for the hanging URL after the stop"
DID=$(sqlite3 "$T/sippush.db" "SELECT id FROM outbox WHERE body LIKE '%$SID%' AND url = 'http://127.0.0.1:$SPORT/slow'")
[[ $DID =~ ^[0-9a-f]{16}$ ]] || fail "outbox row of $SID after the stop: [$DID]"
kill "$SLOWPID" 2>/dev/null || true
wait_pid "$SLOWPID" 10 || true
start_rx slow2 --port "$SPORT"
restart_daemon
wait_until 20 rx_at_least slow2 200 3
check_requests slow2 "$SID" >"$T/slow2.ok"
jq -e --arg d "$DID" --arg id "$SID" 'select(.id == $d) | .message_id == $id and
    .event == "finished" and .state == "done" and .counts.acked == 1' \
    "$T/slow2.ok" >/dev/null || fail "the restart delivered: $(cat "$T/slow2.ok"), expected delivery $DID"
grep -q "webhook: [0-9]* events to deliver from the outbox" "$DAEMON_LOG" ||
    fail "no 'events to deliver from the outbox' line at start"
wait_until 5 outbox_empty
stop_daemon

pass
