#!/usr/bin/env python3
"""drift-bench/bench/one_message_topics.py DRIFT [TOPICS] [--streamed]: what a retained small
message costs.

Starts `DRIFT serve --h2c --threads 2 --connection-topic-rate 0` (one connection creates every
topic), POSTs one 1 KiB message to each of TOPICS (default 20,000) new topics over one HTTP/1.1
keep-alive connection, and prints the server's RSS growth per topic: each topic keeps its one
message in history, so this is a topic's cost plus what its retained payload really holds in
memory. With --streamed each POST is a streamed publish of one message frame
(`application/vnd.drift.frames`) instead of a plain body."""
import http.client
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import drift_serve  # noqa: E402

args = [a for a in sys.argv[1:] if a != "--streamed"]
streamed = "--streamed" in sys.argv[1:]
drift = args[0]
topics = int(args[1]) if len(args) > 1 else 20_000
server, port = drift_serve.start(drift, "--threads", "2", "--connection-topic-rate", "0")

try:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    base = drift_serve.rss_mib(server.pid)
    body = b"x" * 1024
    headers = {}
    if streamed:
        # One message frame: kind 1, seq and time 0, the payload's length.
        body = struct.pack(">BQQI", 1, 0, 0, len(body)) + body
        headers = {"content-type": "application/vnd.drift.frames"}
    for i in range(topics):
        conn.request("POST", f"/v1/t/one{i}", body=body, headers=headers)
        r = conn.getresponse()
        answer = r.read()
        if r.status != 200:
            raise SystemExit(f"publish {i}: {r.status} {answer.decode(errors='replace')}")
    end = drift_serve.rss_mib(server.pid)
    how = "a streamed publish of" if streamed else "a POST of"
    print(f"{topics} topics, each with {how} one 1 KiB message: RSS {base:.0f} -> {end:.0f} MiB, "
          f"{(end - base) * 2**20 / topics:.0f} B per topic")
finally:
    server.terminate()
    server.wait()
