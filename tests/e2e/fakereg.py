#!/usr/bin/env python3
"""fakereg.py -- a fake SIP registrar on UDP for the e2e tests.

Answers every REGISTER with a fixed status (302 with the given Contacts,
or 503 with a Retry-After), every OPTIONS with 200, and writes one line
per request it gets to the log: "EPOCH METHOD SOURCE". Stops by itself
after --lifetime seconds.

usage: fakereg.py --port P [--addr A] --status 302|503
                  [--contact URI]... [--retry-after S] --log FILE
"""
import argparse
import socket
import sys
import time


def answer(req, status, phrase, extra):
    head, _, _ = req.partition("\r\n\r\n")
    lines = head.split("\r\n")
    out = ["SIP/2.0 %d %s" % (status, phrase)]
    for line in lines[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            out.append(line)
        elif name in ("to", "t"):
            out.append(line if ";tag=" in line else line + ";tag=fake1")
    out.extend(extra)
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--status", type=int, choices=(302, 503), required=True)
    ap.add_argument("--contact", action="append", default=[])
    ap.add_argument("--retry-after", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--lifetime", type=float, default=120)
    a = ap.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.addr, a.port))
    s.settimeout(0.5)
    end = time.time() + a.lifetime
    log = open(a.log, "a", buffering=1)
    log.write("%.3f READY %s:%d\n" % (time.time(), a.addr, a.port))
    while time.time() < end:
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            continue
        req = data.decode("utf-8", "replace")
        first = req.split("\r\n", 1)[0].split(" ")
        if len(first) < 3 or first[0].startswith("SIP/"):
            continue
        method = first[0]
        log.write("%.3f %s %s:%d\n" % (time.time(), method, src[0], src[1]))
        if method == "REGISTER" and a.status == 302:
            extra = ["Contact: <%s>" % c for c in a.contact]
            resp = answer(req, 302, "Moved Temporarily", extra)
        elif method == "REGISTER":
            extra = ["Retry-After: %d" % a.retry_after] if a.retry_after \
                else []
            resp = answer(req, 503, "Service Unavailable", extra)
        elif method == "ACK":
            continue
        else:
            resp = answer(req, 200, "OK", [])
        s.sendto(resp, src)
    return 0


if __name__ == "__main__":
    sys.exit(main())
