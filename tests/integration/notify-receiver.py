#!/usr/bin/env python3
"""A notification receiver for test-notify.sh: an HTTP server on 127.0.0.1
that writes one JSON line per POST it gets to LOG: {"at": ms, "path",
"auth", "body"} (body parsed when it is JSON), and answers as the MODE file
says, read at each request:

  ok        204
  fail N    500 to the next N requests, then 204
  hang      holds the request (the line is written first, with "held":
            true) until the MODE file says something else or the client
            goes; then a line {"released": ms}

Usage: notify-receiver.py PORT LOG MODE_FILE
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log_path, mode_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
failed = {"n": 0}


def now_ms():
    return int(time.time() * 1000)


def mode():
    try:
        with open(mode_path) as f:
            return f.read().split()
    except OSError:
        return ["ok"]


def write(obj):
    with lock, open(log_path, "a") as f:
        f.write(json.dumps(obj) + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        m = mode()
        line = {"at": now_ms(), "path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        if m and m[0] == "hang":
            line["held"] = True
            write(line)
            while mode()[:1] == ["hang"]:
                time.sleep(0.05)
            write({"released": now_ms()})
            return
        code = 204
        if m and m[0] == "fail":
            with lock:
                if failed["n"] < int(m[1]):
                    failed["n"] += 1
                    code = 500
        line["code"] = code
        write(line)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
