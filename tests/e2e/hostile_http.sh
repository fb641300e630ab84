#!/usr/bin/env bash
# hostile_http.sh -- the HTTP API against hostile peers (issue 13): a
# slow client is cut at http.timeout and holds nobody up meanwhile;
# connections over http.max_connections are refused; a huge body, with
# or without Content-Length, is answered 413 without being stored; bad
# JSON and garbage tokens are 400/401; a client that leaves while its
# publish waits for the commit, and a daemon stopped with publishes
# waiting, neither crash nor lose the message.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl is needed (scripts/install-deps.sh)"

HPORT=$(free_port)
start_daemon 'http.enable = true' "http.port = $HPORT" 'http.timeout = 2' \
    'http.max_connections = 8' 'http.max_body = 4096' 'heartbeat.timeout = 0'
URL=http://127.0.0.1:$HPORT
TOK=$(ctl token add t --scope publish,read,admin)
auth=(-H "Authorization: Bearer $TOK")
code() { curl -s -m 10 -o "$T/body" -w '%{http_code}' "$@" || true; }

step "a slow client (half a request line) is closed after http.timeout; others are served meanwhile"
exec 7<>"/dev/tcp/127.0.0.1/$HPORT"
printf 'GET /healthz HT' >&7
t0=$(date +%s.%N)
assert_eq 200 "$(code "$URL/healthz")" "healthz while a slow client waits"
# the daemon closes it: read returns end of file
timeout 10 cat <&7 >"$T/slow.out" || fail "the slow connection was not closed within 10 s"
t1=$(date +%s.%N)
exec 7>&-
el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
awk -v e="$el" 'BEGIN { exit !(e >= 1.5 && e < 8) }' || fail "the slow client was closed after ${el}s, not about http.timeout (2 s)"

step "a slow body (a byte a second) is cut too"
( printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n' "$TOK"
  for i in 1 2 3 4 5 6 7 8; do printf '{'; sleep 1; done ) |
    timeout 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HPORT; cat >&3 & cat <&3" >"$T/slowbody.out" 2>/dev/null || true
assert_not_contains "$(cat "$T/slowbody.out")" "201" "a slow body"

step "connections over http.max_connections (8) are refused; served again once they close"
fds=()
for i in $(seq 1 10); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$HPORT" && fds+=("$fd")
done
[ "${#fds[@]}" -eq 10 ] || fail "could open only ${#fds[@]} connections"
sleep 0.3
c=$(code -m 1 "$URL/healthz")   # within http.timeout (2 s): the 8 are not idle long enough to be cut
[ "$c" != 200 ] || fail "an 11th connection was served while 8 were open: $(ss -tan | grep -c ":$HPORT") sockets; $(ss -tan | grep ":$HPORT")"
for fd in "${fds[@]}"; do exec {fd}>&-; done
wait_until 10 test "$(code "$URL/healthz")" = 200

step "huge bodies: 413 with Content-Length (not read), and chunked"
head -c 50000000 /dev/zero >"$T/huge"
assert_eq 413 "$(code "${auth[@]}" -H 'Content-Type: application/json' --data-binary @"$T/huge" "$URL/v1/messages")" "50 MB body"
assert_contains "$(cat "$T/body")" "max_body"
assert_eq 413 "$(code "${auth[@]}" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$T/huge" "$URL/v1/messages")" "50 MB chunked body"
# a Content-Length that overflows
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n' |
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HPORT; cat >&3; cat <&3" >"$T/cl.out" 2>/dev/null || true
assert_match "$(head -1 "$T/cl.out")" '^HTTP/1\.1 (400|413)' "an overflowing Content-Length"
[ "$(sqlite3 "$T/sippush.db" 'SELECT count(*) FROM messages')" = 0 ] || fail "a refused body was published"

step "bad JSON and odd bodies: 400, and the daemon goes on"
for body in '' '{' 'null' '[]' '"x"' '{"all":true,"body":"x"}}' '{"all":1e999,"body":"x"}' \
    "$(printf '{"all":true,"body":"\\ud800"}')" "$(head -c 3000 /dev/zero | tr '\0' '[')"; do
    c=$(code "${auth[@]}" -H 'Content-Type: application/json' --data-binary "$body" "$URL/v1/messages")
    [ "$c" = 400 ] || fail "body [${body:0:40}]: expected 400, got $c: $(cat "$T/body")"
    jq -e '.error | length > 0' "$T/body" >/dev/null || fail "body [${body:0:40}]: no JSON error: $(cat "$T/body")"
done
printf '{"all":true,"body":"\xff\xfe"}' >"$T/badutf8"
assert_eq 400 "$(code "${auth[@]}" -H 'Content-Type: application/json' --data-binary @"$T/badutf8" "$URL/v1/messages")" "invalid UTF-8"

step "garbage tokens: 401"
for h in "Bearer" "Bearer " "Bearer $(head -c 3000 /dev/zero | tr '\0' x)" "bearer ${TOK}x" \
    "Bearer ${TOK:0:20}" "Token $TOK" "Bearer $(printf 'sp_\t')"; do
    c=$(code -H "Authorization: $h" "$URL/v1/stats")
    [ "$c" = 401 ] || fail "Authorization [${h:0:40}]: expected 401, got $c"
done
# a header over MHD's connection memory: refused, not a crash
c=$(code -H "Authorization: Bearer $(head -c 200000 /dev/zero | tr '\0' x)" "$URL/v1/stats")
[ "$c" != 200 ] || fail "a 200 KB header was served"
assert_eq 200 "$(code "${auth[@]}" "$URL/v1/stats")" "the right token"

step "a client that leaves while its publish waits for the commit"
sim_bg -q -p c -n 3 -c C register listen:40
wait_until 10 all_in_state 3 online --class C
stop_daemon
start_daemon 'http.enable = true' "http.port = $HPORT" 'database.commit_delay = 1000' 'heartbeat.timeout = 0'
sim_bg -q -p c -n 3 -c C register listen:40
wait_until 10 all_in_state 3 online --class C
for i in 1 2 3 4 5; do
    curl -s -m 0.05 "${auth[@]}" -H 'Content-Type: application/json' \
        --data-binary '{"classes":["C"],"body":"left early '$i'"}' "$URL/v1/messages" >/dev/null 2>&1 || true
done
sleep 1.5
assert_eq 200 "$(code "$URL/healthz")" "healthz after the clients left"
n=$(sqlite3 "$T/sippush.db" "SELECT count(*) FROM messages WHERE CAST(body AS TEXT) LIKE 'left early %'")
[ "$n" -ge 1 ] && [ "$n" -le 5 ] || fail "publishes whose client left: $n stored"

step "stopped with publishes waiting: they are answered (503) or done, exit 0"
for i in 1 2 3; do
    bg_log "$T/wait$i.out" curl -s -m 10 -w '\n%{http_code}\n' "${auth[@]}" -H 'Content-Type: application/json' \
        --data-binary '{"classes":["C"],"body":"at stop '$i'"}' "$URL/v1/messages"
done
sleep 0.1
stop_daemon
sleep 0.5
for i in 1 2 3; do
    c=$(tail -1 "$T/wait$i.out" 2>/dev/null || true)
    case $c in 201|503|000|"") ;; *) fail "publish at stop $i: status [$c]" ;; esac
    if [ "$c" = 201 ]; then
        id=$(head -1 "$T/wait$i.out" | jq -r .id)
        [ "$(sqlite3 "$T/sippush.db" "SELECT count(*) FROM messages WHERE id = '$id'")" = 1 ] ||
            fail "publish at stop $i answered 201 ($id) but is not in the store"
    fi
done

pass
