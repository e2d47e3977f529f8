#!/usr/bin/env python3
"""drift-bench/bench/soak.py DRIFT [SECONDS]: a mixed, hostile load for minutes; memory must level off.

Starts `DRIFT serve --h2c` (memory store, default limits) and runs, for SECONDS (default 300),
all at once over HTTP/1.1 on 127.0.0.1:
- publishers: 4 threads POSTing 1 KiB messages to 200 topics as fast as they are answered;
- churning subscribers: 8 threads that subscribe (SSE) to a random topic, read a few events, leave;
- stalled readers: 50 subscriptions that never read a byte, re-opened when the server cuts them;
- deletes: a DELETE of a random topic every 0.2 s (its subscribers end, the topic is re-created);
- idle sockets: 200 connections that never send a byte, re-opened when the server closes them;
- topic churn: every 50th publish goes to a new throwaway topic that nobody uses again
  (`SOAK_THROWAWAY=0` leaves this out).
Every 10 s it samples the server's RSS and open descriptors. Prints the samples and the peak RSS
of the first and second half; the server must stay up, and the second half's peak must not exceed
the first's by more than 10 %.
"""
import http.client
import os
import random
import socket
import sys
import threading
import time

import drift_serve

binary = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
server, port = drift_serve.start(binary)

stop = time.time() + seconds
counts = {"published": 0, "refused": 0, "subscribed": 0, "deleted": 0, "reopened": 0}
lock = threading.Lock()
TOPICS = [f"soak-{i}" for i in range(200)]
PAYLOAD = b"x" * 1024
# SOAK_THROWAWAY=0 leaves out the topic churn (to tell its cost from the rest).
THROWAWAY = os.environ.get("SOAK_THROWAWAY", "1") != "0"


def count(key, n=1):
    with lock:
        counts[key] += n


def publisher(seed):
    rnd = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    while time.time() < stop:
        throwaway = THROWAWAY and n % 50 == 0
        topic = f"throwaway-{seed}-{n}" if throwaway else rnd.choice(TOPICS)
        n += 1
        try:
            conn.request("POST", f"/v1/t/{topic}", body=PAYLOAD)
            r = conn.getresponse()
            r.read()
            count("published" if r.status == 200 else "refused")
        except OSError:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def churner(seed):
    rnd = random.Random(seed)
    while time.time() < stop:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            topic = rnd.choice(TOPICS)
            s.sendall(f"GET /v1/t/{topic} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
            got = 0
            while got < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += len(chunk)
            s.close()
            count("subscribed")
        except OSError:
            pass


def holder(kind):
    """Keeps one stalled subscription or one idle socket open, re-opening it when cut."""
    while time.time() < stop:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if kind == "stalled":
                topic = random.choice(TOPICS)
                s.sendall(f"GET /v1/t/{topic} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            # Never read; wait until the server closes it or the run ends.
            while time.time() < stop:
                try:
                    s.settimeout(1)
                    if kind == "idle" and s.recv(1) == b"":
                        break
                    if kind == "stalled":
                        # A closed socket errors on a write; probe without reading.
                        s.send(b"")
                        time.sleep(1)
                except socket.timeout:
                    continue
            s.close()
            count("reopened")
        except OSError:
            time.sleep(0.1)


def deleter():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.time() < stop:
        try:
            conn.request("DELETE", f"/v1/t/{random.choice(TOPICS)}")
            conn.getresponse().read()
            count("deleted")
        except OSError:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(0.2)


def sample():
    rss = 0
    for line in open(f"/proc/{server.pid}/status"):
        if line.startswith("VmRSS"):
            rss = int(line.split()[1]) // 1024
    fds = len(os.listdir(f"/proc/{server.pid}/fd"))
    return rss, fds


threads = [threading.Thread(target=publisher, args=(i,)) for i in range(4)]
threads += [threading.Thread(target=churner, args=(100 + i,)) for i in range(8)]
threads += [threading.Thread(target=holder, args=("stalled",)) for _ in range(50)]
threads += [threading.Thread(target=holder, args=("idle",)) for _ in range(200)]
threads += [threading.Thread(target=deleter)]
for t in threads:
    t.daemon = True
    t.start()
start = time.time()
samples = []
while time.time() < stop:
    time.sleep(10)
    if server.poll() is not None:
        sys.exit(f"drift serve exited with {server.returncode}")
    rss, fds = sample()
    samples.append((round(time.time() - start), rss, fds))
    print(f"t={samples[-1][0]:>4} s  RSS {rss:>5} MiB  fds {fds:>5}  {dict(counts)}", flush=True)
half = len(samples) // 2
first = max(s[1] for s in samples[:half])
second = max(s[1] for s in samples[half:])
print(f"peak RSS: first half {first} MiB, second half {second} MiB; "
      f"fds at the end {samples[-1][2]}; {dict(counts)}")
server.kill()
ok = second <= first * 1.1 + 2
print("memory levels off" if ok else "memory keeps growing")
sys.exit(0 if ok else 1)
