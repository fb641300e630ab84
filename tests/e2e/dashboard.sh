#!/usr/bin/env bash
# dashboard.sh -- the web dashboard (issue 13): /, /dashboard.css and
# /dashboard.js served without a token with their content types and
# the same bytes as web/; the API behind them still asks for one.
# (Driving the page in headless Chromium is still to come.)
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || fail "curl is needed (scripts/install-deps.sh)"

HPORT=$(free_port)
start_daemon 'http.enable = true' "http.port = $HPORT"

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

stop_daemon
pass
