"""drift.Server(redis=...): servers started from a script share topics through a real
redis-server (Debian's, on a free loopback port), and a client given both URLs moves on."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator

import pytest

import drift
from conftest import client_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def redis_url() -> Iterator[str]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--logfile", "", "--dir", d],
            stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail("redis-server did not start")
        # Its log goes on: keep reading it, so that it never blocks on a full pipe.
        drain = threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True)
        drain.start()
        try:
            yield f"redis://127.0.0.1:{port}"
        finally:
            proc.kill()
            proc.wait()
            drain.join()
            proc.stdout.close()


def test_two_servers_share_a_topic(redis_url: str) -> None:
    with drift.Server(h2c=True, redis=redis_url) as a, drift.Server(h2c=True, redis=redis_url) as b:
        with client_for(a) as ca, client_for(b) as cb:
            sub = cb.subscribe("py-redis")
            sent = ca.publish("py-redis", b"from a")
            item = sub.next(timeout=10)
            assert isinstance(item, drift.Message)
            assert (item.id, item.data) == (sent, b"from a")
            sub.close()
        # A client given both URLs, the first of them gone, uses the second.
        url_a, url_b = a.url, b.url
        a.stop()
        with drift.Client(f"{url_a},{url_b}", timeout=10) as both:
            replay = both.subscribe("py-redis", history=1)
            item = replay.next(timeout=10)
            assert isinstance(item, drift.Message) and item.data == b"from a"
            replay.close()


def test_a_bad_redis_url_is_refused_with_the_reason() -> None:
    with pytest.raises(drift.DriftError, match="Redis URL"):
        drift.Server(h2c=True, redis="redis://[bad").start()
