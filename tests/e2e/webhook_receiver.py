#!/usr/bin/env python3
"""webhook_receiver.py -- a webhook receiver for tests/e2e/webhook.sh.

Listens on 127.0.0.1 (port 0 unless --port), writes the port to
--port-file once it listens, and appends one JSON line per POST to --log:
{"path", "headers" (lower-case names), "body" (text), "status" (what it
answered), "time" (unix s, float)}. The first --fail-first requests are
answered 500, the first --hang-first are held --hang-secs seconds before
their answer (each request's arrival is noted at once in LOG.arrivals) (other requests are served meanwhile: one thread each). It
exits by itself after --max-time seconds.
"""
import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--hang-first", type=int, default=0)
    ap.add_argument("--hang-secs", type=float, default=0)
    ap.add_argument("--max-time", type=float, default=120)
    opt = ap.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_POST(self):
            global seen
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode("utf-8", "replace")
            with lock:
                seen += 1
                k = seen
                with open(opt.log + ".arrivals", "a") as f:
                    f.write("%s %f\n" % (self.path, time.time()))
            if k <= opt.hang_first:
                time.sleep(opt.hang_secs)
            status = 500 if k <= opt.fail_first else 200
            rec = {
                "path": self.path,
                "headers": {h.lower(): v for h, v in self.headers.items()},
                "body": body,
                "status": status,
                "time": time.time(),
            }
            with lock:
                with open(opt.log, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            out = b"ok\n" if status == 200 else b"try again\n"
            self.send_response(status)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = ThreadingHTTPServer(("127.0.0.1", opt.port), Handler)
    srv.daemon_threads = True
    tmp = opt.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, opt.port_file)
    threading.Timer(opt.max_time, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
