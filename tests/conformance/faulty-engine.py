#!/usr/bin/env python3
"""lympho conformance: a faulty engine. A proxy on its own Unix socket in
front of a Docker-compatible engine's socket (Docker, Podman) that passes
every request through, except those a fault names:

  create-garbage  POST .../containers/create answered 201 with a body that is not JSON
  create-lost     the create is done by the engine, its answer is lost (connection closed)
  create-exit     the create is not done, the connection is closed with no answer
  create-endless  the create's answer never ends (an endless body)
  create-hang     the create is never answered
  rename-noop     POST .../containers/ID/rename answered 204, nothing renamed
  start-hang      POST .../containers/ID/start is never answered
  commit-hang     POST .../commit (an image of a container) is never answered
  changes-huge:ID GET .../containers/ID.../changes answered with a change list
                  of 70 MiB (a writable layer past any cap), for the container
                  whose id starts with ID
  not-docker      every request, of any method, answered 404 as by an HTTP
                  server that is not an engine (a wrong --docker-host)
  tag-moves:IMAGE a create naming an image by reference (not sha256:...)
                  first moves that reference to IMAGE, then goes through:
                  the tag moved between the caller's check and its create

The fault in force is the word in --fault-file, read at each request (empty
or missing: pass everything through). Each upstream exchange gets its own
connection, closed after the answer ("Connection: close"), so that the
engine's event stream and every other answer go through byte for byte.

  faulty-engine.py --listen SOCK --engine SOCK --fault-file FILE

Python 3 standard library only.
"""
import argparse
import json
import os
import urllib.parse
import re
import socket
import socketserver
import sys
import threading
import time

CREATE = re.compile(r"^(/v[0-9.]+)?/containers/create(\?|$)")
RENAME = re.compile(r"^(/v[0-9.]+)?/containers/[^/]+/rename(\?|$)")
START = re.compile(r"^(/v[0-9.]+)?/containers/[^/]+/start(\?|$)")
COMMIT = re.compile(r"^(/v[0-9.]+)?/commit(\?|$)")
CHANGES = re.compile(r"^(/v[0-9.]+)?/containers/[^/]+/changes(\?|$)")
MAX_HEAD = 64 * 1024


def log(msg):
    sys.stderr.write("%s faulty-engine: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def read_fault(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def fault_for(fault, method, path):
    if fault == "not-docker":
        return fault
    if fault.startswith("changes-huge:") and method == "GET" and CHANGES.match(path):
        target = fault[len("changes-huge:"):]
        if target and ("/containers/" + target) in path:
            return "changes-huge"
    if method != "POST" or not fault:
        return None
    if fault.startswith("create-") and CREATE.match(path):
        return fault
    if fault == "rename-noop" and RENAME.match(path):
        return fault
    if fault == "start-hang" and START.match(path):
        return fault
    if fault == "commit-hang" and COMMIT.match(path):
        return fault
    if fault.startswith("tag-moves:") and CREATE.match(path):
        return fault
    return None


def engine_call(engine, method, path):
    """One request to the engine with no body; its status code."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(engine)
        s.sendall(("%s %s HTTP/1.1\r\nHost: engine\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                   % (method, path)).encode("latin-1"))
        data = b""
        while True:
            more = s.recv(65536)
            if not more:
                break
            data += more
        return int(data.split(b" ", 2)[1])
    finally:
        s.close()


def move_tag(engine, body, image):
    """Point the create body's image reference at image, as a user's
    docker tag would between a check and the create."""
    try:
        ref = json.loads(body).get("Image", "")
    except ValueError:
        return
    if not ref or ref.startswith("sha256:"):
        return
    repo, tag = ref, "latest"
    if ref.rfind(":") > ref.rfind("/"):
        repo, tag = ref[:ref.rfind(":")], ref[ref.rfind(":") + 1:]
    q = urllib.parse.urlencode({"repo": repo, "tag": tag})
    st = engine_call(engine, "POST", "/images/%s/tag?%s" % (urllib.parse.quote(image, safe=""), q))
    log("moved %s to %s: %d" % (ref, image, st))


def read_request(rfile):
    """One HTTP/1.1 request: (method, path, header lines, body) or None at EOF."""
    line = rfile.readline(MAX_HEAD)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(MAX_HEAD)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise ValueError("bad request line %r" % line)
    method, path, _ = parts
    headers = []
    length = 0
    chunked = False
    while True:
        h = rfile.readline(MAX_HEAD)
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        if name not in ("connection", "keep-alive", "proxy-connection"):
            headers.append(h)
    body = b""
    if chunked:
        while True:
            size_line = rfile.readline(MAX_HEAD)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            chunk = rfile.read(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        headers = [h for h in headers if not h.lower().startswith(b"transfer-encoding")]
        headers.append(b"Content-Length: %d\r\n" % len(body))
    elif length:
        body = rfile.read(length)
    return method, path, headers, body


def hold(conn):
    """Answer nothing until the client gives up (closes its end)."""
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            req = read_request(self.rfile)
        except (ValueError, OSError) as e:
            log("bad request: %s" % e)
            return
        if req is None:
            return
        method, path, headers, body = req
        fault = fault_for(read_fault(self.server.fault_file), method, path)
        if fault:
            log("%s %s: %s" % (method, path, fault))
        conn = self.connection
        if fault == "create-garbage":
            junk = b"{this is not json"
            conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(junk), junk))
            return
        if fault == "create-exit":
            return
        if fault in ("create-hang", "start-hang", "commit-hang"):
            hold(conn)
            return
        if fault == "create-endless":
            try:
                conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                             b"Connection: close\r\n\r\n{\"Id\":\"")
                while True:
                    conn.sendall(b"0" * 65536)
            except OSError:
                return
        if fault == "not-docker":
            text = b"404 page not found\n"
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(text), text))
            return
        if fault == "rename-noop":
            conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            return
        if fault == "changes-huge":
            # 70 blocks of 1 MiB of change entries, well-formed JSON.
            entry = b'{"Kind":1,"Path":"/lympho-fill/' + b"f" * 80 + b'"}'
            block = b",".join([entry] * (1048576 // (len(entry) + 1)))
            blocks = 70
            length = 2 + blocks * len(block) + (blocks - 1)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n[" % length)
                for i in range(blocks):
                    conn.sendall(block if i == 0 else b"," + block)
                conn.sendall(b"]")
            except OSError:
                pass
            return
        if fault and fault.startswith("tag-moves:"):
            move_tag(self.server.engine, body, fault[len("tag-moves:"):])
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            up.connect(self.server.engine)
            up.sendall(("%s %s HTTP/1.1\r\n" % (method, path)).encode("latin-1") + b"".join(headers)
                       + b"Connection: close\r\n\r\n" + body)
            if fault == "create-lost":
                # The engine does the work; its answer never reaches the caller.
                while up.recv(65536):
                    pass
                return
            while True:
                data = up.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except OSError as e:
            log("%s %s: %s" % (method, path, e))
        finally:
            up.close()


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--fault-file", required=True)
    a = ap.parse_args()
    if os.path.exists(a.listen):
        os.unlink(a.listen)
    srv = Server(a.listen, Handler)
    srv.engine = a.engine
    srv.fault_file = a.fault_file
    log("listening on %s, engine %s" % (a.listen, a.engine))
    try:
        srv.serve_forever()
    finally:
        os.unlink(a.listen)


if __name__ == "__main__":
    main()
