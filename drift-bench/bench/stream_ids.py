#!/usr/bin/env python3
"""drift-bench/bench/stream_ids.py DRIFT [N]: the server's memory during one long streamed publish.

Starts `DRIFT serve --h2c`, sends N (default 2,000,000) 16-byte messages as one streamed
publish (`curl --data-binary` of Drift message frames) and prints the server's peak RSS
(VmHWM) before and after, and how many ids the answer listed. On 127.0.0.1; stops by itself.
"""
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import drift_serve

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000_000
work = Path(tempfile.mkdtemp(prefix="drift-stream-ids-"))
frames = work / "frames.bin"
# A message frame: kind 1, seq 0, time 0, length, payload.
frames.write_bytes((struct.pack(">BQQI", 1, 0, 0, 16) + b"x" * 16) * n)
server, port = drift_serve.start(binary)


def peak_mib() -> int:
    for line in open(f"/proc/{server.pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024
    return -1


before = peak_mib()
start = time.time()
ids = work / "ids.txt"
status = subprocess.run(
    ["curl", "-s", "--http2-prior-knowledge", "-H", "content-type: application/vnd.drift.frames",
     "--data-binary", f"@{frames}", "-o", str(ids), "-w", "%{http_code}",
     f"http://127.0.0.1:{port}/v1/t/stream-ids"],
    capture_output=True, text=True,
).stdout
listed = sum(1 for _ in ids.open())
print(f"{n} messages in {time.time() - start:.1f} s, status {status}, {listed} ids listed; "
      f"server peak RSS {before} MiB before, {peak_mib()} MiB after")
server.kill()
