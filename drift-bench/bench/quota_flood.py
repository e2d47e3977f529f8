#!/usr/bin/env python3
"""drift-bench/bench/quota_flood.py DRIFT [BENCH]: what one client can take of a server.

Against `DRIFT serve --h2c --threads 2` with its defaults (issue 26 item 7), with BENCH's
`drift bench` (default: DRIFT's) as the client:

1. topics: one connection publishes 100,000 32-byte messages, each to a new topic (`drift bench
   publish -t 100000 -c 1 -m 100 -n 100000`), as fast as it is answered; prints the topics the
   server then holds, how long it took and how many publishes were refused.
2. subscriptions, one connection: against a server with `--max-streams 5000` (so that HTTP/2's
   stream limit is not what stops it), one connection asks for 4000 subscriptions (10 topics ×
   400, `drift bench idle -t 10 -s 400 -c 1`); prints how many opened and how many were refused.
3. subscriptions, one subject: against a server with a JWT secret, 20 connections with one
   token (sub "flood") ask for 1000 subscriptions each (`drift bench idle -t 100 -s 200 -c 20`).

Every load is on 127.0.0.1, bounded in requests, and stops by itself."""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import drift_serve  # noqa: E402

drift = sys.argv[1]
bench = sys.argv[2] if len(sys.argv) > 2 else drift


def held(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/topics", timeout=60) as r:
        return len(json.load(r)["topics"])


def run_bench(*args: str, env=None) -> dict:
    out = subprocess.run([bench, "bench", *args, "--quiet"], stdout=subprocess.PIPE,
                         text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def topics() -> None:
    with drift_serve.serving(drift, "--threads", "2") as (_, port):
        started = time.monotonic()
        r = run_bench("publish", "--url", f"http://127.0.0.1:{port}", "-t", "100000", "-c", "1",
                      "-m", "100", "-n", "100000", "-b", "32")
        took = time.monotonic() - started
        print(f"topics: one connection, 100000 publishes to new topics in {took:.1f} s: "
              f"{held(port)} topics held, {r.get('errors', 0)} publishes refused", flush=True)


def subscriptions_one_connection() -> None:
    with drift_serve.serving(drift, "--threads", "2", "--max-streams", "5000") as (_, port):
        r = run_bench("idle", "--url", f"http://127.0.0.1:{port}", "--framing", "sse",
                      "-t", "10", "-s", "400", "-c", "1", "--hold", "0")
        failed = r.get("subscriptions", 0) - r.get("open", 0)
        print(f"subscriptions: one connection asks for 4000: {r.get('open')} open, "
              f"{failed} refused", flush=True)


def subscriptions_one_subject() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        secret = Path(tmp) / "secret"
        secret.write_bytes(os.urandom(32).hex().encode())
        token = subprocess.run(
            [drift, "token", "--secret-file", str(secret), "--sub", "flood", "--subscribe", "*",
             "--ttl", "600"],
            stdout=subprocess.PIPE, check=True, text=True).stdout.strip()
        with drift_serve.serving(drift, "--threads", "2", "--jwt-secret-file", str(secret)) as (_, port):
            env = dict(os.environ, DRIFT_TOKEN=token)
            r = run_bench("idle", "--url", f"http://127.0.0.1:{port}", "--framing", "sse",
                          "-t", "100", "-s", "200", "-c", "20", "--hold", "0", env=env)
            failed = r.get("subscriptions", 0) - r.get("open", 0)
            print(f"subscriptions: one subject over 20 connections asks for 20000: "
                  f"{r.get('open')} open, {failed} refused", flush=True)


topics()
subscriptions_one_connection()
subscriptions_one_subject()
