#!/usr/bin/env python3
"""dnsd.py -- a tiny DNS server on UDP for the e2e tests (no modules).

Answers SRV and A records of a test zone given on the command line,
AAAA with no record (NOERROR) for names it knows, NXDOMAIN otherwise.
Writes "READY" and then one line per query to the log; stops by itself
after --lifetime seconds.

usage: dnsd.py --port P [--addr A] --log FILE [--ttl S]
               [--srv NAME:PRIORITY:WEIGHT:PORT:TARGET]...
               [--a NAME:IPv4]...
"""
import argparse
import socket
import struct
import sys
import time


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_question(data):
    i, labels = 12, []
    while data[i] != 0:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, qclass = struct.unpack("!HH", data[i + 1:i + 5])
    return ".".join(labels).lower(), qtype, qclass, i + 5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ttl", type=int, default=5)
    ap.add_argument("--srv", action="append", default=[])
    ap.add_argument("--a", action="append", default=[])
    ap.add_argument("--lifetime", type=float, default=120)
    a = ap.parse_args()

    srv, addr = {}, {}
    for s in a.srv:
        name, prio, weight, port, target = s.split(":")
        srv.setdefault(name.lower(), []).append(
            (int(prio), int(weight), int(port), target))
    for s in a.a:
        name, ip = s.split(":")
        addr.setdefault(name.lower(), []).append(ip)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.addr, a.port))
    sock.settimeout(0.5)
    log = open(a.log, "a", buffering=1)
    log.write("%.3f READY %s:%d\n" % (time.time(), a.addr, a.port))
    end = time.time() + a.lifetime
    while time.time() < end:
        try:
            data, src = sock.recvfrom(4096)
        except socket.timeout:
            continue
        if len(data) < 17:
            continue
        try:
            name, qtype, qclass, qend = parse_question(data)
        except (IndexError, struct.error):
            continue
        log.write("%.3f %d %s\n" % (time.time(), qtype, name))
        answers = []
        if qtype == 33:
            for prio, weight, port, target in srv.get(name, []):
                rdata = struct.pack("!HHH", prio, weight, port) + \
                    encode_name(target)
                answers.append((33, rdata))
        elif qtype == 1:
            for ip in addr.get(name, []):
                answers.append((1, socket.inet_aton(ip)))
        known = name in srv or name in addr
        rcode = 0 if known else 3
        (qid,) = struct.unpack("!H", data[:2])
        out = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers),
                          0, 0)
        out += data[12:qend]
        for rtype, rdata in answers:
            out += struct.pack("!HHHIH", 0xC00C, rtype, 1, a.ttl,
                               len(rdata)) + rdata
        sock.sendto(out, src)
    return 0


if __name__ == "__main__":
    sys.exit(main())
