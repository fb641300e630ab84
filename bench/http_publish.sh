#!/usr/bin/env bash
# bench/http_publish.sh: publishes over the HTTP API (keep-alive) beside
# `sippushctl publish', with 1,000 simulated clients registered, and the
# SIP stall each burst causes.
#
#   bash bench/http_publish.sh      (after a build; uses tests/e2e/lib.sh)
#
# One sippushd (http.enable, no per-token rate limit); simclient
# registers CLIENTS clients of class B and answers their MESSAGEs.
# bench/probe.py (from the stall work) sends an OPTIONS heartbeat every
# 5 ms and times the 200: the event loop's stall. Then, in turn:
#   - HTTP: N publishes to one client each (a class of one), by THREADS
#     Python threads, each on one keep-alive http.client connection; the
#     latency is request sent -> 201 (ID committed).
#   - ctl: the same N publishes with `sippushctl publish', one process
#     each, THREADS at a time (xargs -P): latency from spawn to exit.
# Prints publishes/s, latency p50/p99, the probe's p50/p99/max during
# each phase, and the ratios HTTP/ctl.
# Settings: CLIENTS (1000), N (2000), THREADS (4).
set -euo pipefail
export LC_ALL=C
: "${CLIENTS:=1000}" "${N:=2000}" "${THREADS:=4}"
. "$(dirname "$0")/../tests/e2e/lib.sh"
BENCH=$(cd "$(dirname "$0")" && pwd)

HPORT=$(free_port)
start_daemon 'http.enable = true' "http.port = $HPORT" 'http.rate_per_token = 0' \
    'heartbeat.timeout = 0'
TOKEN=$(ctl token add bench --scope publish)
step "registering $CLIENTS clients"
sim_bg -q -p c --first 1 -n "$CLIENTS" -c B register listen:55
registered() { [ "$(ctl --json clients --class B | jq length)" -ge "$CLIENTS" ]; }
wait_until 40 registered
bg timeout 50 python3 "$BENCH/probe.py" "127.0.0.1:$PORT" "$T/probe.txt" --duration 45
sleep 1

step "HTTP: $N publishes, $THREADS keep-alive connections"
python3 - "$HPORT" "$TOKEN" "$N" "$THREADS" "$CLIENTS" >"$T/http.txt" <<'PY'
import http.client, json, sys, threading, time
port, tok, n, th, nc = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
lat, lock = [], threading.Lock()
def work(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    mine = []
    for i in range(k, n, th):
        body = json.dumps({"clients": ["c%d" % (i % nc + 1)], "body": "bench %d" % i, "ttl": 60})
        t0 = time.monotonic()
        c.request("POST", "/v1/messages", body, {"Authorization": "Bearer " + tok,
                  "Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        if r.status != 201: sys.exit("HTTP %d" % r.status)
        mine.append(time.monotonic() - t0)
    with lock: lat.extend(mine)
t0 = time.time()
ts = [threading.Thread(target=work, args=(k,)) for k in range(th)]
[t.start() for t in ts]; [t.join() for t in ts]
t1 = time.time()
lat.sort()
print(t0, t1, len(lat) / (t1 - t0), lat[len(lat) // 2] * 1e3, lat[int(len(lat) * .99)] * 1e3)
PY
sleep 2
step "ctl: $N publishes, $THREADS processes at a time"
export SIPPUSH_SOCKET=$SOCK SIPPUSHCTL
c0=$(date +%s.%N)
seq 1 "$N" | xargs -P "$THREADS" -I{} sh -c \
    's=$(date +%s%N); "$SIPPUSHCTL" publish --client c$(( ({} - 1) % '"$CLIENTS"' + 1 )) --ttl 60 "bench {}" >/dev/null || exit 255; echo $(( ($(date +%s%N) - s) / 1000 ))' \
    >"$T/ctl_lat.txt"
c1=$(date +%s.%N)
sleep 1
python3 - "$T/http.txt" "$T/ctl_lat.txt" "$c0" "$c1" "$T/probe.txt" <<'PY'
import sys
h = open(sys.argv[1]).read().split(); h0, h1, hr, hp50, hp99 = map(float, h)
cl = sorted(int(x) / 1e3 for x in open(sys.argv[2]).read().split())
c0, c1 = float(sys.argv[3]), float(sys.argv[4])
cr = len(cl) / (c1 - c0); cp50 = cl[len(cl) // 2]; cp99 = cl[int(len(cl) * .99)]
pr = []
for line in open(sys.argv[5]):
    w = line.split()
    if len(w) == 2: pr.append((float(w[0]), 3000.0 if w[1] == "timeout" else float(w[1])))
def probe(a, b):
    v = sorted(ms for t, ms in pr if a <= t <= b)
    return (v[len(v) // 2], v[int(len(v) * .99)], v[-1]) if v else (0, 0, 0)
idle = probe(pr[0][0], h0 - 0.5) if pr else (0, 0, 0)
hs, cs = probe(h0, h1), probe(c0, c1)
print("%-28s %12s %12s %10s" % ("", "HTTP", "sippushctl", "HTTP/ctl"))
for name, a, b in (("publishes/s", hr, cr), ("latency p50 ms", hp50, cp50), ("latency p99 ms", hp99, cp99),
                   ("SIP probe p50 ms", hs[0], cs[0]), ("SIP probe p99 ms", hs[1], cs[1]), ("SIP probe max ms", hs[2], cs[2])):
    print("%-28s %12.2f %12.2f %10.2f" % (name, a, b, a / b if b else 0))
print("SIP probe idle p50/p99/max ms: %.2f / %.2f / %.2f" % idle)
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
pass
