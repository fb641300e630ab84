#!/usr/bin/env bash
# dashboard.sh -- the web dashboard (issue 13): /, /dashboard.css and
# /dashboard.js served without a token with their content types and
# the same bytes as web/; the API behind them still asks for one.
# Then the page in headless Chromium (tests/e2e/dashboard_drive.py):
# a token typed in, a publish through the form, all targets acked, and
# a screenshot in tests/e2e/dashboard.out/.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl is needed (scripts/install-deps.sh)"

HPORT=$(free_port)
start_daemon 'http.enable = true' "http.port = $HPORT" 'heartbeat.timeout = 0'

for f in /:index.html:text/html /dashboard.css:dashboard.css:text/css \
    /dashboard.js:dashboard.js:text/javascript; do
    IFS=: read -r path file ctype <<<"$f"
    step "GET $path: web/$file as $ctype, no token"
    code=$(curl -s -m 20 -o "$T/got" -D "$T/hdr" -w '%{http_code}' \
        "http://127.0.0.1:$HPORT$path") || code=000
    assert_eq 200 "$code" "GET $path"
    grep -qi "^Content-Type: $ctype; charset=utf-8" "$T/hdr" ||
        fail "GET $path: wrong Content-Type: $(cat "$T/hdr")"
    cmp -s "$T/got" "$top_srcdir/web/$file" || fail "GET $path is not web/$file"
done

step "the API still needs a token"
code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/v1/clients") || code=000
assert_eq 401 "$code" "GET /v1/clients without a token"
code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/index.html") || code=000
assert_eq 404 "$code" "GET /index.html"

step "the page in headless Chromium: token, publish through the form, all acked"
if ! command -v chromium >/dev/null 2>&1; then
    [ "${CI:-}" = true ] && fail "chromium is missing (scripts/install-deps.sh)"
    echo "SKIP: chromium is not installed"; exit 77
fi
sim_bg -q -p d -n 3 -c D register listen:58
wait_until 15 all_in_state 3 online --class D
TOK=$(ctl token add dash --scope publish,read)
mkdir -p "$top_builddir/tests/e2e/dashboard.out"
SHOT=$top_builddir/tests/e2e/dashboard.out/dashboard.png
rm -f "$SHOT"
MID=$(timeout 120 python3 "$top_srcdir/tests/e2e/dashboard_drive.py" \
    "http://127.0.0.1:$HPORT/" "$TOK" D 3 "$SHOT") || fail "driving the page failed"
assert_match "$MID" '^[0-9a-f]{16}$' "ID shown by the form"
# the daemon has it, published by the form, all acked
[ "$(sqlite3 "$T/sippush.db" "SELECT count(*) FROM messages WHERE id = '$MID'")" = 1 ] ||
    fail "message $MID (from the form) not in the store"
[ -s "$SHOT" ] || fail "no screenshot"
echo "screenshot: $SHOT"

stop_daemon
pass
