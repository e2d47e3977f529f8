#!/usr/bin/env python3
"""drift-bench/bench/unused_topics.py DRIFT [EXPIRY_S] [WAVES] [TOPICS]: subscribe-and-leave.

Starts `DRIFT serve --h2c --threads 2 --unused-topic-expiry EXPIRY_S` (default 5; 0 keeps
every topic, the behaviour before topics expired), then WAVES times (default 3) subscribes
once to each of TOPICS (default 20,000) new topics with `DRIFT bench idle` (one SSE
subscription each over 100 h2c connections) and leaves. After each wave, and again once
EXPIRY_S has passed, it prints the topics held (`GET /v1/topics`) and the server's RSS."""
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import drift_serve  # noqa: E402
import subprocess  # noqa: E402

drift = sys.argv[1]
expiry = float(sys.argv[2]) if len(sys.argv) > 2 else 5
waves = int(sys.argv[3]) if len(sys.argv) > 3 else 3
topics = int(sys.argv[4]) if len(sys.argv) > 4 else 20_000

server, port = drift_serve.start(drift, "--threads", "2", "--unused-topic-expiry", str(int(expiry)))
url = f"http://127.0.0.1:{port}"


def held() -> int:
    with urllib.request.urlopen(f"{url}/v1/topics", timeout=30) as r:
        return len(json.load(r)["topics"])



try:
    for wave in range(1, waves + 1):
        subprocess.run(
            [drift, "bench", "idle", "--url", url, "--framing", "sse", "-t", str(topics), "-s", "1",
             "-c", "100", "--hold", "1", "--topic-prefix", f"w{wave}-"],
            check=True, stdout=subprocess.DEVNULL)
        print(f"wave {wave}: {held()} topics held, RSS {drift_serve.rss_mib(server.pid):.0f} MiB", flush=True)
        if expiry > 0:
            time.sleep(expiry + 1)  # a benchmark's pause, not a test's synchronisation
            print(f"  {expiry:.0f} s later: {held()} topics held, RSS {drift_serve.rss_mib(server.pid):.0f} MiB", flush=True)
finally:
    server.terminate()
    server.wait()
