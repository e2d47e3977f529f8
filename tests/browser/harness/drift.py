"""Starts the real `drift` binary (the debug build `cargo test` made) on an
ephemeral loopback port, and talks to it as a script would: plain HTTP
requests over HTTP/1.1, so what the page sees comes from the server alone."""

from __future__ import annotations

import http.client
import os
import re
import signal
import ssl
import subprocess
import threading
from pathlib import Path
from typing import IO, Optional

ROOT = Path(__file__).resolve().parents[3]
START_SECONDS = 20.0
STOP_SECONDS = 20.0


def drift_binary() -> Path:
    """`DRIFT_BIN`, or the debug build in cargo's target directory."""
    if "DRIFT_BIN" in os.environ:
        return Path(os.environ["DRIFT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    return target / "debug" / "drift"


class DriftServer:
    """One `drift serve` process. TLS with the certificate in `cert_dir`
    (generated there by the first server, reused by the next), or h2c."""

    def __init__(self, cert_dir: Path, *, h2c: bool = False, args: tuple[str, ...] = ()):
        self.cert_dir = cert_dir
        self.h2c = h2c
        self.args = args
        self.url = ""
        self.log: list[str] = []
        self._process: Optional[subprocess.Popen[str]] = None

    @property
    def cert_path(self) -> Path:
        return self.cert_dir / "cert.pem"

    def start(self, listen: str = "127.0.0.1:0") -> "DriftServer":
        """Starts the server and returns once it listens (its log says
        where: port 0 picks a free one, so tests never collide)."""
        command = [str(drift_binary()), "serve", "--listen", listen, "--cert-dir", str(self.cert_dir)]
        if self.h2c:
            command.append("--h2c")
        command += self.args
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
        env["NO_COLOR"] = "1"
        self._process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        listening = threading.Event()

        def read_log(stderr: IO[str]) -> None:
            with stderr:
                read_lines(stderr)
            listening.set()  # the process ended: stop waiting

        def read_lines(stderr: IO[str]) -> None:
            for line in stderr:
                line = re.sub(r"\x1b\[[0-9;]*m", "", line.rstrip("\n"))
                self.log.append(line)
                found = re.search(r"listening on (\S+)", line)
                if found and not listening.is_set():
                    self.url = found.group(1)
                    listening.set()

        self._reader = threading.Thread(target=read_log, args=(self._process.stderr,), daemon=True)
        self._reader.start()
        if not listening.wait(START_SECONDS) or not self.url:
            self.stop()
            raise AssertionError("drift serve did not start:\n" + "\n".join(self.log))
        return self

    def stop(self) -> None:
        """Stops the server as an operator would (SIGTERM: subscriptions end
        with `shutdown`), and waits for it to exit."""
        if self._process is None:
            return
        process, self._process = self._process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("drift serve did not stop on SIGTERM") from None
        finally:
            self._reader.join(STOP_SECONDS)

    def restart(self) -> None:
        """Stops the server and starts it again on the same port."""
        port = self.url.rsplit(":", 1)[1]
        self.stop()
        self.start(f"127.0.0.1:{port}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Optional[dict[str, str]] = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request; the status, the headers (names lower-case) and the body."""
        if self.h2c:
            conn: http.client.HTTPConnection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        else:
            context = ssl.create_default_context(cafile=str(self.cert_path))
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=context)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
        finally:
            conn.close()

    def publish(self, topic: str, payload: bytes) -> str:
        """Publishes one message and returns its id (EPOCH-SEQ)."""
        status, headers, body = self.request("POST", f"/v1/t/{topic}", payload)
        assert status == 200, (status, body)
        return headers["drift-id"]

    def exists(self, topic: str) -> bool:
        status, _, _ = self.request("HEAD", f"/v1/t/{topic}")
        assert status in (200, 404), status
        return status == 200
