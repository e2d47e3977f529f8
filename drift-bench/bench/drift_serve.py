"""`DRIFT serve --h2c` on a free port of 127.0.0.1, for the Python scripts in this folder."""
import contextlib
import re
from pathlib import Path
import subprocess
import threading


def start(binary, *args, wrapper=()):
    """Starts `[*wrapper, binary, "serve", "--h2c", "--listen", "127.0.0.1:0", *args]` and waits
    for its "listening on" line; returns the process and its port. The rest of its log is
    drained, so the server never blocks on a full pipe."""
    server = subprocess.Popen(
        [*wrapper, binary, "serve", "--h2c", "--listen", "127.0.0.1:0", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in server.stderr:
        m = re.search(r"listening on http://127.0.0.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
            return server, int(m.group(1))
    raise SystemExit(f"{binary} serve exited before listening")


@contextlib.contextmanager
def serving(binary, *args):
    """`start`, as a context: yields the process and its port, and stops the server on leaving."""
    server, port = start(binary, *args)
    try:
        yield server, port
    finally:
        server.terminate()
        server.wait()


def rss_mib(pid):
    """The resident size of process `pid`, in MiB (from /proc; -1 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return -1
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return -1
