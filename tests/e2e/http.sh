#!/usr/bin/env bash
# http.sh -- the HTTP API (issue 13): a publish over HTTP answered 201
# with the ID after commit and acknowledged by simulated clients; the
# message, its targets (state filter, cursor pages), cancel; the
# clients (filters, cursor); Idempotency-Key; tokens and scopes
# (sippushctl token add|del|list, stored hashed); error statuses (400,
# 401, 403, 404, 405, 409, 413, 415, 429) and their codes; /healthz,
# /readyz, /metrics (promtool check metrics) and /v1/openapi.json (the
# file in doc/).
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl is needed (scripts/install-deps.sh)"

# api METHOD PATH [TOKEN] [CURL ARGS...]: status in $HS, body in $HB
api()
{
    local m=$1 p=$2 tok=${3:-} auth=()
    shift 3 || shift $#
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    HS=$(curl -s -m 20 -o "$T/body" -w '%{http_code}' -X "$m" \
        "${auth[@]}" "$@" "http://127.0.0.1:$HPORT$p") || HS=000
    HB=$(cat "$T/body" 2>/dev/null || true)
}

# expect STATUS WHAT: the last api call's status
expect() { [ "$HS" = "$1" ] || fail "$2: expected HTTP $1, got $HS: $HB"; }

# jq_ok FILTER WHAT: the last body satisfies FILTER
jq_ok() { jq -e "$1" <<<"$HB" >/dev/null || fail "$2: [$1] fails on: $HB"; }

publish() { api POST /v1/messages "$1" -H 'Content-Type: application/json' --data-binary "$2" "${@:3}"; }

# ---------------------------------------------------------------------
step "configuration: http section checked by sippushd -n"
PORT=5060
write_config "$T/c1.conf" 'http.enable = true' 'http.address = "localhost"'
assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/c1.conf"
assert_contains "$OUT" 'http.address: "localhost" is not a numeric IPv4 or IPv6 address'
write_config "$T/c2.conf" 'http.certificate = "/nonexistent.pem"'
assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/c2.conf"
assert_contains "$OUT" "http: certificate is set, but key is not"
write_config "$T/c3.conf" 'http.max_body = 10'
assert_status 1 timeout 10 "$SIPPUSHD" -n -f "$T/c3.conf"
assert_contains "$OUT" "max_body"
write_config "$T/c4.conf" 'http.enable = true' 'http.port = 8123'
assert_status 0 timeout 10 "$SIPPUSHD" -n -f "$T/c4.conf"
assert_contains "$OUT" "http = {"
assert_contains "$OUT" "port = 8123;"

step "off unless enabled: nothing listens"
HPORT=$(free_port)
start_daemon "http.port = $HPORT"
api GET /healthz
expect 000 "GET /healthz with http.enable = false"
stop_daemon

HPORT=$(free_port)
start_daemon 'http.enable = true' "http.port = $HPORT" 'http.rate_per_token = 20' \
    'http.max_body = 4096' 'dispatch.retry_initial = 200' 'heartbeat.timeout = 0'
grep -q "http: listening on 127.0.0.1 port $HPORT" "$DAEMON_LOG" ||
    fail "no 'http: listening' line in the log"

step "health, readiness, the OpenAPI document: no token needed"
api GET /healthz
expect 200 "GET /healthz"
jq_ok '.status == "ok"' "GET /healthz"
api GET /readyz
expect 200 "GET /readyz"
api GET /v1/openapi.json
expect 200 "GET /v1/openapi.json"
[ "$(jq -S . <<<"$HB")" = "$(jq -S . "$top_srcdir/doc/openapi.json")" ] ||
    fail "/v1/openapi.json is not doc/openapi.json"

step "tokens: add prints the secret once; list shows no secret; the store has its SHA-256 only"
assert_status 2 ctl token add x
assert_contains "$OUT" "usage: token add NAME --scope"
assert_status 1 ctl token add bad --scope write
assert_contains "$OUT" "scopes must be a comma-separated list of publish, read and admin"
assert_status 1 ctl token add 'no/name' --scope read
assert_contains "$OUT" "is not a valid name"
PUB=$(ctl token add app --scope publish,read)
assert_match "$PUB" '^sp_[0-9a-f]{48}$' "token add output"
RO=$(ctl token add viewer --scope read)
WO=$(ctl token add writer --scope publish)
assert_status 1 ctl token add app --scope read
assert_contains "$OUT" "a token app exists"
LIST=$(ctl token list)
assert_contains "$LIST" "app"
assert_contains "$LIST" "publish,read"
assert_not_contains "$LIST" "$PUB" "token list"
[ "$(ctl --json token list | jq -r '[.[].name] | join(",")')" = "app,viewer,writer" ] ||
    fail "token list --json: $(ctl --json token list)"
sqlite3 "$T/sippush.db" .dump >"$T/dump.sql"
grep -q "$PUB" "$T/dump.sql" && fail "the secret is in the database"
want=$(printf %s "$PUB" | sha256sum | cut -d' ' -f1)
[ "$(sqlite3 "$T/sippush.db" "SELECT hash FROM tokens WHERE name = 'app'")" = "$want" ] ||
    fail "the stored hash is not the SHA-256 of the secret"

step "401 without or with a bad token, 403 without the scope"
api GET /v1/clients
expect 401 "no token"
jq_ok '(.error | test("bearer token")) and .code == "unauthorized"' "no token"
api GET /v1/clients "sp_0000"
expect 401 "unknown token"
api GET /v1/clients "" -H "Authorization: Basic YTpi"
expect 401 "Basic auth"
publish "$RO" '{"all":true,"body":"x"}'
expect 403 "publish with a read token"
jq_ok '.error | test("lacks the publish scope")' "publish with a read token"
api GET /v1/clients "$WO"
expect 403 "read with a publish-only token"

step "five clients of class H ack; a silent one of class Q"
sim_bg -q -p h -n 5 -c H --msglog "$T/h.log" register listen:50
sim_bg -q -p q -n 1 -c Q --silent-first 1000 register listen:50
wait_until 10 all_in_state 5 online --class H
wait_until 10 all_in_state 1 online --class Q

step "POST /v1/messages: 201 with the ID and a Location; targets all acked"
publish "$PUB" '{"classes":["H"],"body":"hello over http","ttl":60}' -D "$T/hdr"
expect 201 "publish to class H"
ID=$(jq -r .id <<<"$HB")
assert_match "$ID" '^[0-9a-f]{16}$' "published ID"
jq_ok '.targets == 5 and .online == 5' "publish reply"
grep -qi "^Location: /v1/messages/$ID" "$T/hdr" || fail "no Location header: $(cat "$T/hdr")"
# the ID is durable when it is answered: the store has it
[ "$(sqlite3 "$T/sippush.db" "SELECT count(*) FROM messages WHERE id = '$ID'")" = 1 ] ||
    fail "message $ID not in the store after 201"
acked() { api GET "/v1/messages/$ID" "$PUB"; jq -e '.counts.acked == 5 and .state == "done"' <<<"$HB"; }
wait_until 15 acked
api GET "/v1/messages/$ID" "$RO"
expect 200 "GET /v1/messages/ID"
jq_ok '.id == "'"$ID"'" and .targets == 5 and .body_size == 15 and .content_type == "text/plain"' "message"
grep -c "hello over http" "$T/h.log" | grep -qx 5 || fail "the 5 clients did not all get the body: $(cat "$T/h.log")"

step "targets: state filter and cursor pages"
api GET "/v1/messages/$ID/targets?state=acked" "$RO"
expect 200 "targets?state=acked"
jq_ok '(.targets | length) == 5 and all(.targets[]; .state == "acked" and .attempts >= 1 and .acked_at > 0)' "acked targets"
api GET "/v1/messages/$ID/targets?state=pending" "$RO"
jq_ok '(.targets | length) == 0 and (has("next_cursor") | not)' "pending targets"
api GET "/v1/messages/$ID/targets?state=bogus" "$RO"
expect 400 "targets?state=bogus"
seen=() cursor=""
for _ in 1 2 3 4; do
    api GET "/v1/messages/$ID/targets?limit=2${cursor:+&cursor=$cursor}" "$RO"
    expect 200 "targets page"
    mapfile -t page < <(jq -r '.targets[].client' <<<"$HB")
    seen+=("${page[@]}")
    cursor=$(jq -r '.next_cursor // empty' <<<"$HB")
    [ -n "$cursor" ] || break
done
[ "${seen[*]}" = "h0 h1 h2 h3 h4" ] || fail "targets by pages of 2: [${seen[*]}]"
api GET "/v1/messages/$ID/targets?limit=0" "$RO"
expect 400 "limit=0"

step "GET /v1/messages: newest first, cursor pages"
sleep 1.1	# the store orders by created_at (s), then by the random ID
publish "$PUB" '{"clients":["h0"],"body":"second"}'
expect 201 "second publish"
ID2=$(jq -r .id <<<"$HB")
api GET "/v1/messages?limit=1" "$RO"
expect 200 "messages limit=1"
jq_ok '.messages[0].id == "'"$ID2"'" and (.next_cursor | type) == "string"' "first page"
api GET "/v1/messages?limit=1&cursor=$(jq -r .next_cursor <<<"$HB")" "$RO"
jq_ok '.messages[0].id == "'"$ID"'" and (has("next_cursor") | not)' "second page"

step "GET /v1/messages: publishes between page reads repeat or skip no older message"
for i in 1 2 3 4 5; do
    publish "$PUB" '{"clients":["h0"],"body":"filler '$i'"}'
    expect 201 "filler $i"
done
api GET "/v1/messages?limit=1000" "$RO"
expect 200 "all messages"
mapfile -t before < <(jq -r '.messages[].id' <<<"$HB")
[ "${#before[@]}" -eq 7 ] || fail "7 messages expected: ${before[*]}"
seen=() cursor="" pages=0
while :; do
    api GET "/v1/messages?limit=2${cursor:+&cursor=$cursor}" "$RO"
    expect 200 "messages page $pages"
    mapfile -t page < <(jq -r '.messages[].id' <<<"$HB")
    seen+=("${page[@]}")
    cursor=$(jq -r '.next_cursor // empty' <<<"$HB")
    [ -n "$cursor" ] || break
    pages=$((pages + 1))
    [ "$pages" -lt 20 ] || fail "the pages do not end: ${seen[*]}"
    for i in 1 2; do
        publish "$PUB" '{"clients":["h0"],"body":"meanwhile"}'
        expect 201 "publish between pages"
    done
done
dups=$(printf '%s\n' "${seen[@]}" | sort | uniq -d)
[ -z "$dups" ] || fail "a message repeated across pages: $dups (pages: ${seen[*]})"
old=()
for id in "${seen[@]}"; do
    [[ " ${before[*]} " == *" $id "* ]] && old+=("$id")
done
[ "${old[*]}" = "${before[*]}" ] ||
    fail "the older messages by pages: [${old[*]}], in one read: [${before[*]}]"

step "bad cursors: 400 with a message"
for q in "messages?cursor=2" "messages?cursor=zz" "messages?cursor=$(printf "f%.0s" {1..32})" \
    "messages/$ID/targets?cursor=a%20b" "clients?cursor=%2Fetc"; do
    api GET "/v1/$q" "$RO"
    expect 400 "GET /v1/$q"
    jq_ok '.error | test("bad cursor")' "GET /v1/$q"
done

step "Idempotency-Key: the same request answers the same ID; another body is 409"
publish "$PUB" '{"classes":["H"],"body":"once"}' -H 'Idempotency-Key: k-1'
expect 201 "first with key k-1"
K1=$(jq -r .id <<<"$HB")
publish "$PUB" '{"classes":["H"],"body":"once"}' -H 'Idempotency-Key: k-1'
expect 201 "again with key k-1"
jq_ok '.id == "'"$K1"'"' "same ID for key k-1"
publish "$PUB" '{"classes":["H"],"body":"twice"}' -H 'Idempotency-Key: k-1'
expect 409 "key k-1 with another body"
[ "$(sqlite3 "$T/sippush.db" "SELECT count(*) FROM messages WHERE selector LIKE '%H%' AND body = CAST('once' AS BLOB)")" -le 1 ] ||
    fail "the key k-1 published twice"

step "DELETE /v1/messages/ID: cancel (200), again (409), unknown (404)"
publish "$PUB" '{"classes":["Q"],"body":"never acked","ttl":300}'
expect 201 "publish to the silent client"
QID=$(jq -r .id <<<"$HB")
api DELETE "/v1/messages/$QID" "$RO"
expect 403 "cancel with a read token"
api DELETE "/v1/messages/$QID" "$PUB"
expect 200 "cancel"
jq_ok '.id == "'"$QID"'" and (.cancelled + .in_flight) >= 1' "cancel reply"
api DELETE "/v1/messages/$QID" "$PUB"
expect 409 "cancel a cancelled message"
jq_ok '(.error | test("already cancelled")) and .code == "conflict"' "second cancel"
api DELETE /v1/messages/0123456789abcdef "$PUB"
expect 404 "cancel an unknown message"
api GET /v1/messages/0123456789abcdef "$RO"
expect 404 "GET an unknown message"
api GET /v1/messages/nothex "$RO"
expect 404 "GET a malformed ID"

step "clients: filters and cursor pages, one client"
api GET "/v1/clients?class=H&limit=3" "$RO"
expect 200 "clients class=H"
jq_ok '[.clients[].id] == ["h0","h1","h2"] and .next_cursor == "h2"' "first page of H"
api GET "/v1/clients?class=H&limit=3&cursor=h2" "$RO"
jq_ok '[.clients[].id] == ["h3","h4"] and (has("next_cursor") | not)' "second page of H"
api GET "/v1/clients?state=online" "$RO"
jq_ok '(.clients | length) == 6' "online clients"
api GET "/v1/clients?state=gone" "$RO"
expect 400 "state=gone"
api GET /v1/clients/h3 "$RO"
expect 200 "GET /v1/clients/h3"
jq_ok '.id == "h3" and .class == "H" and .state == "online" and .transport == "udp"' "client h3"
api GET /v1/clients/nobody "$RO"
expect 404 "unknown client"

step "bad requests: 400 bad JSON / fields, 404, 405, 413, 415"
publish "$PUB" '{"all":true,"body":'
expect 400 "truncated JSON"
jq_ok '.error | test("bad JSON")' "truncated JSON"
publish "$PUB" '{"all":true,"body":"x","colour":"red"}'
expect 400 "unknown field"
publish "$PUB" '{"body":"x"}'
expect 400 "no target"
publish "$PUB" '{"classes":["nobody-here"],"body":"x"}'
expect 404 "no client matches"
jq_ok '.code == "not_found"' "no client matches"
publish "$PUB" '{"clients":["ghost"],"body":"x"}'
expect 404 "a client not in the table"
jq_ok '(.error | test("no client \"ghost\" in the table")) and .code == "not_found"' "client ghost"
publish "$PUB" '{"clients":["h0"],"body":"'"$(head -c 2000 /dev/zero | tr '\0' a)"'"}'
expect 413 "a body over dispatch.max_body (1300)"
jq_ok '(.error | test("dispatch.max_body")) and .code == "too_large"' "body over dispatch.max_body"
api POST /v1/messages "$PUB" -H 'Content-Type: text/plain' --data-binary 'x'
expect 415 "text/plain body"
head -c 5000 /dev/zero | tr '\0' a >"$T/big"
api POST /v1/messages "$PUB" -H 'Content-Type: application/json' --data-binary @"$T/big"
expect 413 "5000-byte body over max_body 4096"
jq_ok '.error | test("max_body")' "413"
api GET /v1/nothing "$RO"
expect 404 "unknown path"
api PUT /v1/messages "$PUB"
expect 405 "PUT /v1/messages"

step "stats over HTTP"
api GET /v1/stats "$RO"
expect 200 "GET /v1/stats"
jq_ok '.clients == 6 and .online == 6 and .acked_total >= 5' "stats"

step "/metrics: Prometheus text that promtool accepts"
api GET /metrics
expect 200 "GET /metrics"
printf '%s\n' "$HB" >"$T/metrics.txt"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
        fail "promtool check metrics: $(cat "$T/promtool.out")"
else
    fail "promtool is missing (Debian package prometheus; scripts/install-deps.sh)"
fi
grep -q '^sippush_clients_by_state{state="online"} 6$' "$T/metrics.txt" || fail "clients by state: $(cat "$T/metrics.txt")"
grep -Eq '^sippush_acked_total ([5-9]|[1-9][0-9]+)$' "$T/metrics.txt" || fail "acked_total"
grep -Eq '^sippush_http_requests_total\{code="4xx"\} [1-9]' "$T/metrics.txt" || fail "HTTP 4xx count"
grep -Eq '^sippush_sip_requests_total\{method="REGISTER"\} ([6-9]|[1-9][0-9]+)$' "$T/metrics.txt" || fail "REGISTER count"
grep -Eq '^sippush_commit_seconds_count [1-9]' "$T/metrics.txt" || fail "commit latency count"
# the histogram's buckets are cumulative and end at the count
awk '/^sippush_commit_seconds_bucket/ { if ($2 < last) bad = 1; last = $2 }
     /^sippush_commit_seconds_count/ { n = $2 }
     END { exit (bad || last != n) }' "$T/metrics.txt" || fail "commit histogram not cumulative"

step "contrib/grafana/sippush.json: valid JSON, every metric it uses exported"
G=$top_srcdir/contrib/grafana/sippush.json
jq -e .panels "$G" >/dev/null || fail "$G is not a dashboard in valid JSON"
names=$(jq -r '.. | .expr? // .query? // empty' "$G" | grep -Eo 'sippush_[a-z_]+' | sort -u)
[ -n "$names" ] || fail "no sippush_ metric found in $G"
for m in $names; do
    grep -Eq "^$m[{ ]" "$T/metrics.txt" || fail "$G uses $m, which /metrics does not export"
done

step "rate limit per token: 429 with Retry-After past the burst"
BURST=$(ctl token add burst --scope read)
# 150 requests on one keep-alive connection: well past a burst of 40
urls=()
for i in $(seq 1 150); do urls+=("http://127.0.0.1:$HPORT/v1/clients/h0"); done
curl -s -m 30 -H "Authorization: Bearer $BURST" -w '\n%{http_code}\n' \
    "${urls[@]}" >"$T/codes" || true
n200=$(grep -c '^200$' "$T/codes" || true)
n429=$(grep -c '^429$' "$T/codes" || true)
[ "$n429" -gt 0 ] || fail "150 requests at once at rate_per_token 20: no 429 ($n200 x 200)"
[ "$n200" -ge 40 ] || fail "150 requests at rate_per_token 20: only $n200 x 200 (burst 40)"
[ $((n200 + n429)) -eq 150 ] || fail "150 requests: $n200 x 200, $n429 x 429, others: $(sort "$T/codes" | uniq -c)"
api GET /v1/clients/h0 "$BURST" -D "$T/hdr429"
[ "$HS" = 429 ] && { grep -qi '^Retry-After: [0-9]' "$T/hdr429" || fail "429 without Retry-After"; }
api GET /v1/clients/h0 "$RO"
expect 200 "another token is not limited"

step "token del: the token stops working at once"
ctl token del viewer >/dev/null
api GET /v1/clients/h0 "$RO"
expect 401 "revoked token"
assert_status 1 ctl token del viewer
assert_contains "$OUT" "no token viewer"

step "no SQL ran on the event loop (store_loop_calls in stats and /v1/stats)"
[ "$(ctl --json stats | jq -r .store_loop_calls)" = 0 ] ||
    fail "store_loop_calls: $(ctl --json stats | jq -c .)"
api GET /v1/stats "$PUB"
expect 200 "GET /v1/stats"
jq_ok '.store_loop_calls == 0' "/v1/stats store_loop_calls"

step "the tokens outlive a restart"
stop_daemon
# (and 3,000 clients of class BIG, offline, for the next step)
now=$(date +%s)
timeout 60 sqlite3 -batch "$T/sippush.db" "
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2999)
    INSERT INTO clients (id, class, state, contact, transport, address, port,
        user_agent, registered_at, expires_at, last_seen)
    SELECT printf('big%04d', (i * 7919) % 3000), 'BIG', 'offline',
        '<sip:big' || i || '@127.0.0.1:9>', 'udp', '127.0.0.1', 9,
        'http.sh', $now, $now + 86400, $now FROM n;" ||
    fail "cannot add 3,000 clients to the database"
restart_daemon
api GET /v1/clients/h0 "$PUB"
expect 200 "token app after a restart"

step "a message of 3,000 targets by pages of 1,000: every target once, in order, active and finished"
# each page is found from its cursor (from memory while the message is
# active, read by the writer from the cursor on once it is finished),
# never the whole target set in one turn of the loop
# big_pages STATE: the targets of $BID by pages of 1,000, all in STATE
big_pages()
{
    local cursor="" n=0
    : >"$T/big.ids"
    while :; do
        api GET "/v1/messages/$BID/targets?limit=1000${cursor:+&cursor=$cursor}" "$PUB"
        expect 200 "targets page $n"
        jq_ok '(.targets | length) == 1000 and all(.targets[]; .state == "'"$1"'")' "page $n ($1)"
        jq -r '.targets[].client' <<<"$HB" >>"$T/big.ids"
        cursor=$(jq -r '.next_cursor // empty' <<<"$HB")
        n=$((n + 1))
        [ -n "$cursor" ] || break
        [ "$n" -lt 10 ] || fail "the pages do not end"
    done
    assert_eq 3 "$n" "pages of 1,000 ($1)"
    assert_eq 3000 "$(sort -u "$T/big.ids" | wc -l)" "distinct targets ($1)"
    LC_ALL=C sort -c "$T/big.ids" || fail "the targets ($1) are not in client ID order"
    assert_eq "big0000 big2999" "$(sed -n '1p;$p' "$T/big.ids" | xargs)" "first and last ($1)"
}
publish "$PUB" '{"classes":["BIG"],"body":"to 3000","ttl":300}'
expect 201 "publish to 3,000"
BID=$(jq -r .id <<<"$HB")
jq_ok '.targets == 3000 and .online == 0' "publish to 3,000"
big_pages pending
api GET "/v1/messages/$BID/targets?limit=5&cursor=big1233" "$PUB"
expect 200 "a page from a cursor"
jq_ok '[.targets[].client] == ["big1234","big1235","big1236","big1237","big1238"] and .next_cursor == "big1238"' "a page from a cursor"
api DELETE "/v1/messages/$BID" "$PUB"
expect 200 "cancel the message of 3,000"
fin() { api GET "/v1/messages/$BID" "$PUB"; jq -e '.state == "cancelled"' <<<"$HB" >/dev/null; }
wait_until 10 fin
sleep 0.5	# its batch committed: read from the store
big_pages cancelled
api GET "/v1/messages/$BID/targets?state=pending" "$PUB"
jq_ok '(.targets | length) == 0 and (has("next_cursor") | not)' "no pending target left"
stop_daemon

step "HTTPS with http.certificate and http.key; a bad key stops the start"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/http.key" -out "$T/http.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 ||
    fail "openssl cannot make a certificate"
echo "not a key" >"$T/bad.key"
write_config "$T/badkey.conf" 'http.enable = true' "http.port = $(free_port)" \
    "http.certificate = \"$T/http.pem\"" "http.key = \"$T/bad.key\""
assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/badkey.conf"
assert_contains "$OUT" "a bad certificate or key" "sippushd with a bad http.key"
write_config "$T/nokey.conf" 'http.enable = true' "http.port = $(free_port)" \
    "http.certificate = \"$T/http.pem\"" "http.key = \"$T/missing.key\""
assert_status 1 timeout 10 "$SIPPUSHD" -F -f "$T/nokey.conf"
assert_contains "$OUT" "http: cannot read $T/missing.key" "sippushd with a missing http.key"
HPORT=$(free_port)
start_daemon 'http.enable = true' "http.port = $HPORT" "http.certificate = \"$T/http.pem\"" \
    "http.key = \"$T/http.key\"" 'heartbeat.timeout = 0'
c=$(curl -s -m 10 --cacert "$T/http.pem" -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $PUB" \
    "https://127.0.0.1:$HPORT/v1/clients/h0" || true)
assert_eq 200 "$c" "GET /v1/clients/h0 over HTTPS"
c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/healthz" || true)
assert_ne 200 "$c" "plain HTTP on the HTTPS port"
stop_daemon

pass
