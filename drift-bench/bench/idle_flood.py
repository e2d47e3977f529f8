#!/usr/bin/env python3
"""drift-bench/bench/idle_flood.py DRIFT: silent sockets against a 1024 descriptor limit.

Starts `DRIFT serve --h2c` under `prlimit --nofile=1024:1024`, opens 1100 TCP connections that
never send a byte, then asks `curl --http2-prior-knowledge /ping` every 0.2 s for up to 40 s.
Prints how long until /ping was answered (None: never) and how many of the silent sockets the
server still held open at that moment. Everything is on 127.0.0.1 and stops by itself.
"""
import socket
import subprocess
import sys
import time

import drift_serve

binary = sys.argv[1]
server, port = drift_serve.start(binary, wrapper=["prlimit", "--nofile=1024:1024"])
silent = []
for _ in range(1100):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    silent.append(s)
start = time.time()
answered = None
while time.time() - start < 40:
    r = subprocess.run(
        ["curl", "-s", "--max-time", "2", "--http2-prior-knowledge", f"http://127.0.0.1:{port}/ping"],
        capture_output=True,
        text=True,
    )
    if r.stdout == "pong":
        answered = round(time.time() - start, 1)
        break
    time.sleep(0.2)
held = 0
for s in silent:
    s.setblocking(False)
    try:
        held += s.recv(1) != b""
    except BlockingIOError:
        held += 1
    except OSError:
        pass
print(f"/ping answered after {answered} s; silent sockets the server still held: {held} of 1100")
server.kill()
