#!/usr/bin/env python3
# lympho — a hostile caller of lymphd's control socket and HTTP listener,
# for tests/integration/test-hostile.sh. Standard library only.
#
#   hostile.py [--uid U] [--gid G] flood SOCK BYTES HOLD_S
#       newlines down one connection without ever reading; prints
#       "sent N" once BYTES went or the socket took nothing for 1 s, then
#       holds the connection HOLD_S seconds; "closed" instead when lymphd
#       closed it.
#   hostile.py [--uid U] [--gid G] hold SOCK N HOLD_S
#       N connections that say nothing; prints "held K refused R" once each
#       was given 0.5 s to be refused, then holds the held ones HOLD_S s.
#   hostile.py [--uid U] [--gid G] refused SOCK N
#       N connections in a row, each sending newlines; prints how many were
#       answered with an error and then closed: "closed K of N".
#   hostile.py raw SOCK FILE
#       sends FILE's bytes and a newline as one request, prints the reply.
#   hostile.py trickle HOST PORT N HOLD_S [SOURCE]
#       N connections to the HTTP listener (from the address SOURCE), each
#       sending one byte of a request a second, never all of it; prints
#       "cut K of N" after HOLD_S s (connections the listener closed).
import os
import select
import socket
import sys
import time


def drop(uid, gid):
    if gid is not None:
        os.setgroups([])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)


def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def closed(s, wait):
    """True when the peer closed S (or reset it) within WAIT seconds."""
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([s], [], [], left)
        if not r:
            return False
        try:
            if s.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True


def flood(path, total, hold):
    s = unix(path)
    s.setblocking(False)
    chunk = b"\n" * 65536
    sent, idle_since = 0, time.monotonic()
    while sent < total:
        try:
            n = s.send(chunk[: min(len(chunk), total - sent)])
            sent += n
            idle_since = time.monotonic()
        except BlockingIOError:
            if time.monotonic() - idle_since > 1.0:
                break
            select.select([], [s], [], 0.1)
        except (BrokenPipeError, ConnectionResetError):
            print("closed after %d" % sent, flush=True)
            return 0
    print("sent %d" % sent, flush=True)
    time.sleep(hold)
    return 0


def hold(path, n, secs):
    held, refused = [], 0
    for _ in range(n):
        s = unix(path)
        if closed(s, 0.5):
            refused += 1
            s.close()
        else:
            held.append(s)
    print("held %d refused %d" % (len(held), refused), flush=True)
    time.sleep(secs)
    return 0


def refused(path, n):
    k = 0
    for _ in range(n):
        s = unix(path)
        try:
            s.sendall(b"\n" * 4096)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if closed(s, 2.0):
            k += 1
        s.close()
    print("closed %d of %d" % (k, n), flush=True)
    return 0


def raw(path, name):
    with open(name, "rb") as f:
        body = f.read()
    s = unix(path)
    s.sendall(body + b"\n")
    out = b""
    while not out.endswith(b"\n"):
        b = s.recv(65536)
        if not b:
            break
        out += b
    sys.stdout.write(out.decode("utf-8", "replace"))
    return 0


def trickle(host, port, n, secs, source=None):
    req = b"POST /v1/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\n{}  "
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port), source_address=(source, 0) if source else None)
        conns.append(s)
    cut, pos, end = set(), 0, time.monotonic() + secs
    while time.monotonic() < end:
        for i, s in enumerate(conns):
            if i in cut:
                continue
            try:
                s.send(req[pos % len(req) : pos % len(req) + 1])
            except OSError:
                cut.add(i)
                continue
            r, _, _ = select.select([s], [], [], 0)
            if r:
                try:
                    if s.recv(4096) == b"":
                        cut.add(i)
                except OSError:
                    cut.add(i)
        pos = min(pos + 1, len(req) - 2)  # never the request's last byte
        time.sleep(1.0)
    print("cut %d of %d" % (len(cut), n), flush=True)
    return 0


def main(argv):
    uid = gid = None
    while argv and argv[0] in ("--uid", "--gid"):
        if argv[0] == "--uid":
            uid = int(argv[1])
        else:
            gid = int(argv[1])
        argv = argv[2:]
    cmd, args = argv[0], argv[1:]
    if cmd == "trickle":
        return trickle(args[0], int(args[1]), int(args[2]), float(args[3]), args[4] if len(args) > 4 else None)
    drop(uid, gid)
    if cmd == "flood":
        return flood(args[0], int(args[1]), float(args[2]))
    if cmd == "hold":
        return hold(args[0], int(args[1]), float(args[2]))
    if cmd == "refused":
        return refused(args[0], int(args[1]))
    if cmd == "raw":
        return raw(args[0], args[1])
    print("usage: see the head of this file", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
