#!/usr/bin/env python3
"""drift-bench/bench/stalled_subscribers.py DRIFT [TOPICS] [MESSAGES]: what stalled readers pin.

Starts `DRIFT serve --h2c --threads 2` with its defaults (history 1000 messages / 64 MiB per
topic, subscriber queue 1024 messages / 8 MiB), then on each of TOPICS topics (default 2) opens
one Drift-frames subscription that never reads a byte (a socket with a 64 KiB receive buffer,
so the server's writes stall once the kernel buffers fill) and publishes MESSAGES (default 300)
messages of 1,000,000 bytes to it. After each topic, and at the end, it prints the server's RSS
and what `GET /v1/topics/{topic}` says the live ring holds (`queued`, when the server reports
it). Prints one line per sample; the last line is a JSON summary."""
import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import drift_serve  # noqa: E402

drift = sys.argv[1]
topics = int(sys.argv[2]) if len(sys.argv) > 2 else 2
messages = int(sys.argv[3]) if len(sys.argv) > 3 else 300
SIZE = 1_000_000

server, port = drift_serve.start(drift, "--threads", "2")
url = f"http://127.0.0.1:{port}"



def info(topic: str) -> dict:
    with urllib.request.urlopen(f"{url}/v1/topics/{topic}", timeout=30) as r:
        return json.load(r)


def stalled(topic: str) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /v1/t/{topic} HTTP/1.1\r\nHost: x\r\n"
              "Accept: application/vnd.drift.frames\r\n\r\n".encode())
    return s


held = []
payload = b"x" * SIZE
try:
    base = drift_serve.rss_mib(server.pid)
    print(f"start: RSS {base:.0f} MiB", flush=True)
    for t in range(topics):
        name = f"stalled{t}"
        held.append(stalled(name))
        # Wait for the subscription before publishing (a benchmark's poll).
        while True:
            try:
                if info(name)["subscribers"] == 1:
                    break
            except urllib.error.HTTPError:
                pass
        for _ in range(messages):
            req = urllib.request.Request(f"{url}/v1/t/{name}", data=payload, method="POST")
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
        i = info(name)
        print(f"topic {t + 1}: RSS {drift_serve.rss_mib(server.pid):.0f} MiB, history {i['retained']['bytes'] / 2**20:.0f} "
              f"MiB, queued {i.get('queued', {}).get('bytes', 0) / 2**20:.1f} MiB", flush=True)
    end = drift_serve.rss_mib(server.pid)
    print(json.dumps({"topics": topics, "messages_per_topic": messages, "message_bytes": SIZE,
                      "rss_start_mib": round(base), "rss_end_mib": round(end),
                      "rss_per_topic_mib": round((end - base) / topics)}))
finally:
    for s in held:
        s.close()
    server.terminate()
    server.wait()
