#!/usr/bin/env python3
"""bench/probe.py: a heartbeat prober for bench/stall.sh.

Registers one client (sip:ID@server) over UDP, then sends an OPTIONS
heartbeat every INTERVAL ms from the same socket and writes one line per
probe to OUT:  <send time, unix s>  <wait for the 200, ms | "timeout">
A probe unanswered after TIMEOUT ms is a timeout. Runs until SIGTERM or
SIGINT (or --duration seconds), then writes the probes still pending.

  probe.py HOST:PORT OUT [--interval MS] [--timeout MS] [--id ID] [--duration S]
"""
import argparse, os, random, select, signal, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("server")
ap.add_argument("out")
ap.add_argument("--interval", type=float, default=5.0)
ap.add_argument("--timeout", type=float, default=3000.0)
ap.add_argument("--id", default="stallprobe")
ap.add_argument("--duration", type=float, default=900.0)
a = ap.parse_args()
host, port = a.server.rsplit(":", 1)
dst = (host, int(port))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lport = s.getsockname()[1]
run = "%08x" % random.getrandbits(32)
stop = False
def on_sig(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_sig)
signal.signal(signal.SIGINT, on_sig)

def req(method, n):
    br = "z9hG4bK%s%08x" % (run, n)
    extra = ""
    if method == "REGISTER":
        extra = "Contact: <sip:%s@127.0.0.1:%d>\r\nExpires: 3600\r\n" % (a.id, lport)
    m = ("%s sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s%d\r\nTo: <sip:%s@%s>\r\n"
         "Call-ID: %s-%d@127.0.0.1\r\nCSeq: %d %s\r\n%sUser-Agent: sippush-stallprobe\r\n"
         "Content-Length: 0\r\n\r\n") % (method, a.server, lport, br, a.id, host, run, n,
                                         a.id, host, run, n if method == "OPTIONS" else 0,
                                         n, method, extra)
    return br, m.encode()

def status_branch(d):
    try:
        t = d.decode("latin-1")
    except Exception:
        return None, None
    if not t.startswith("SIP/2.0 "):
        return None, None
    code = int(t[8:11])
    i = t.find("branch=")
    if i < 0:
        return code, None
    j = i + 7
    k = j
    while k < len(t) and t[k] not in ";,\r\n ":
        k += 1
    return code, t[j:k]

# register (a few tries: the daemon may still be starting)
ok = False
last = "no answer"
reg_end = time.monotonic() + 60
n = 0
while time.monotonic() < reg_end:
    n += 1
    br, m = req("REGISTER", n)
    s.sendto(m, dst)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
        if not r:
            break
        d = s.recv(65536)
        code, b = status_branch(d)
        if b == br and code and code >= 200:
            ok = code == 200
            last = d.decode("latin-1").split("\r\n", 1)[0]
            break
    if ok:
        break
    time.sleep(0.2)
if not ok:
    print("probe: REGISTER not answered 200 in 60 s; last: %s" % last, file=sys.stderr)
    sys.exit(1)
print("probe: registered %s from 127.0.0.1:%d" % (a.id, lport), file=sys.stderr, flush=True)

out = open(a.out, "w", buffering=1)
pending = {}            # branch -> (wall send, mono send)
iv = a.interval / 1000.0
to = a.timeout / 1000.0
nxt = time.monotonic()
t_end = nxt + a.duration
n = 1000
while not stop and time.monotonic() < t_end:
    now = time.monotonic()
    if now >= nxt:
        n += 1
        br, m = req("OPTIONS", n)
        pending[br] = (time.time(), now)
        try:
            s.sendto(m, dst)
        except OSError:
            pass
        nxt += iv
        if nxt < now:               # we were late ourselves: do not burst
            nxt = now + iv
    for br in [b for b, (w, t0) in pending.items() if now - t0 > to]:
        w, t0 = pending.pop(br)
        out.write("%.3f timeout\n" % w)
    try:
        r, _, _ = select.select([s], [], [], max(0.0, nxt - time.monotonic()))
    except InterruptedError:
        continue
    if r:
        d = s.recv(65536)
        t1 = time.monotonic()
        code, b = status_branch(d)
        if b in pending and code and code >= 200:
            w, t0 = pending.pop(b)
            out.write("%.3f %.3f\n" % (w, (t1 - t0) * 1000.0))
# drain what is still outstanding
end = time.monotonic() + min(to, 1.0)
while pending and time.monotonic() < end:
    r, _, _ = select.select([s], [], [], 0.05)
    if r:
        d = s.recv(65536)
        t1 = time.monotonic()
        code, b = status_branch(d)
        if b in pending and code and code >= 200:
            w, t0 = pending.pop(b)
            out.write("%.3f %.3f\n" % (w, (t1 - t0) * 1000.0))
for w, t0 in pending.values():
    out.write("%.3f timeout\n" % w)
out.close()
