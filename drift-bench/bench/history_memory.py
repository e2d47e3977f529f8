#!/usr/bin/env python3
"""drift-bench/bench/history_memory.py DRIFT [STEPS] [MESSAGES] [SERVE_ARG ...]: history memory
when many topics ask for much.

Starts `DRIFT serve --h2c --threads 2 SERVE_ARG ...` (e.g. `--history-memory 512MiB`), then for
each step of STEPS (comma-separated topic counts, default 8,16,32,48) creates topics up to that
count, each with `PUT {"maxBytes": 268435456}` (256 MiB, as much as the default cap allows), and
publishes MESSAGES (default 40) messages of 1 MiB to each new topic over one HTTP/1.1
connection. After each step it prints the topics, the history payload the server retains (the
sum of `retained.bytes` over `GET /v1/topics`) and the server's RSS. Before the history memory
budget, RSS grows with the topics; with it, what is retained levels at the budget."""
import http.client
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import drift_serve  # noqa: E402

drift = sys.argv[1]
steps = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "8,16,32,48").split(",")]
messages = int(sys.argv[3]) if len(sys.argv) > 3 else 40
serve_args = sys.argv[4:]

server, port = drift_serve.start(drift, "--threads", "2", *serve_args)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)


def request(method: str, path: str, body: bytes = b"") -> bytes:
    conn.request(method, path, body=body)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data.decode(errors='replace').strip()}")
    return data



payload = b"x" * (1 << 20)
made = 0
try:
    print("| topics | published | retained payload | RSS |")
    print("|---|---|---|---|")
    for step in steps:
        for t in range(made, step):
            request("PUT", f"/v1/t/big-{t}", json.dumps({"maxBytes": 256 << 20}).encode())
            for _ in range(messages):
                request("POST", f"/v1/t/big-{t}", payload)
        made = max(made, step)
        topics = json.loads(request("GET", "/v1/topics"))["topics"]
        retained = sum(t["retained"]["bytes"] for t in topics) / (1 << 20)
        print(f"| {made} | {made * messages:,} MiB | {retained:,.0f} MiB | {drift_serve.rss_mib(server.pid):,.0f} MiB |",
              flush=True)
finally:
    conn.close()
    server.terminate()
    server.wait()
