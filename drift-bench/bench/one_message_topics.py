#!/usr/bin/env python3
"""drift-bench/bench/one_message_topics.py DRIFT [TOPICS]: what a retained small message costs.

Starts `DRIFT serve --h2c --threads 2`, POSTs one 1 KiB message to each of TOPICS (default
20,000) new topics over one HTTP/1.1 keep-alive connection, and prints the server's RSS growth
per topic: each topic keeps its one message in history, so this is a topic's cost plus what its
retained payload really holds in memory."""
import http.client
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import drift_serve  # noqa: E402

drift = sys.argv[1]
topics = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
server, port = drift_serve.start(drift, "--threads", "2")



try:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    base = drift_serve.rss_mib(server.pid)
    body = b"x" * 1024
    for i in range(topics):
        conn.request("POST", f"/v1/t/one{i}", body=body)
        r = conn.getresponse()
        answer = r.read()
        if r.status != 200:
            raise SystemExit(f"publish {i}: {r.status} {answer.decode(errors='replace')}")
    end = drift_serve.rss_mib(server.pid)
    print(f"{topics} topics with one 1 KiB message: RSS {base:.0f} -> {end:.0f} MiB, "
          f"{(end - base) * 2**20 / topics:.0f} B per topic")
finally:
    server.terminate()
    server.wait()
