"""Ctrl-C on blocking calls, and the command line (`python -m drift`, the Rust one), in
child processes. The children say when they are ready; the tests wait on
their output and exit, never on the clock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import IO

import pytest

import drift
from conftest import client_for

CHILD_TIMEOUT = 20


def _readline(stream: IO[str]) -> str:
    line = stream.readline()
    assert line, "the child exited early"
    return line.strip()


def _default_sigint() -> None:
    # A test runner started in the background by a non-interactive shell
    # inherits SIGINT as ignored, and Python then installs no Ctrl-C handler
    # in the child: give the child the default disposition a terminal has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(args: list[str], cwd: str, stdin: "int | None" = None) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def test_ctrl_c_interrupts_a_blocking_iterator(
    server: drift.Server, topic: str, tmp_path: "os.PathLike[str]"
) -> None:
    script = textwrap.dedent(
        """
        import sys
        import drift

        url, cafile, topic = sys.argv[1:]
        client = drift.Client(url, cafile=cafile)
        sub = client.subscribe(topic)
        try:
            # Said inside the try: the signal may come before the loop starts.
            print("ready", flush=True)
            for item in sub:
                print("unexpected", item, flush=True)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
            sys.exit(42)
        print("iteration ended", flush=True)
        """
    )
    child = _spawn(["-c", script, server.url, str(server.ca_cert_path), topic], str(tmp_path))
    try:
        assert child.stdout is not None
        assert _readline(child.stdout) == "ready"
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        assert child.wait(CHILD_TIMEOUT) == 42, child.stderr.read() if child.stderr else ""
        elapsed = time.monotonic() - sent
        assert _readline(child.stdout) == "KeyboardInterrupt"
        assert elapsed < 5, f"took {elapsed:.1f}s to react to SIGINT"
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


def test_ctrl_c_interrupts_next_with_timeout(
    h2c_server: drift.Server, topic: str, tmp_path: "os.PathLike[str]"
) -> None:
    script = textwrap.dedent(
        """
        import sys
        import drift

        sub = drift.Client(sys.argv[1]).subscribe(sys.argv[2])
        try:
            print("ready", flush=True)
            sub.next(timeout=3600)
        except KeyboardInterrupt:
            sys.exit(42)
        """
    )
    child = _spawn(["-c", script, h2c_server.url, topic], str(tmp_path))
    try:
        assert child.stdout is not None
        assert _readline(child.stdout) == "ready"
        child.send_signal(signal.SIGINT)
        assert child.wait(CHILD_TIMEOUT) == 42
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


def test_cli_sub_pub_and_ctrl_c(
    server: drift.Server, topic: str, tmp_path: "os.PathLike[str]"
) -> None:
    conn = ["--url", server.url, "--cacert", str(server.ca_cert_path)]
    sub = _spawn(["-m", "drift", "sub", topic, "--format", "json", "-v", *conn], str(tmp_path))
    try:
        assert sub.stderr is not None and sub.stdout is not None
        assert "subscribed" in _readline(sub.stderr)
        pub = subprocess.run(
            [sys.executable, "-m", "drift", "pub", topic, "-v", *conn],
            input="one\ntwo\r\n",
            capture_output=True,
            text=True,
            cwd=str(tmp_path),
            timeout=CHILD_TIMEOUT,
        )
        assert pub.returncode == 0, pub.stderr
        ids = pub.stdout.split()
        assert len(ids) == 2 and all(drift.MessageId.parse(i) for i in ids)

        import json

        first = json.loads(_readline(sub.stdout))
        second = json.loads(_readline(sub.stdout))
        assert (first["data"], second["data"]) == ("one", "two")
        assert (first["id"], second["id"]) == tuple(ids)
        assert isinstance(first["time"], float)

        sub.send_signal(signal.SIGINT)
        assert sub.wait(CHILD_TIMEOUT) == 0
        assert "Traceback" not in sub.stderr.read()
    finally:
        sub.kill()
        sub.wait()
        for stream in (sub.stdout, sub.stderr):
            if stream is not None:
                stream.close()


def test_cli_sub_count_and_history(h2c_server: drift.Server, topic: str, tmp_path: "os.PathLike[str]") -> None:
    with client_for(h2c_server) as c:
        for i in range(3):
            c.publish(topic, f"m{i}")
    out = subprocess.run(
        [sys.executable, "-m", "drift", "sub", topic, "--history", "2", "-n", "2", "--url", h2c_server.url],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=CHILD_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "m1\nm2\n"


def test_cli_errors_exit_1(tmp_path: "os.PathLike[str]") -> None:
    out = subprocess.run(
        [sys.executable, "-m", "drift", "pub", "t", "x", "--url", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=CHILD_TIMEOUT,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("drift: ")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_cli_serve_stops_cleanly(how: int, tmp_path: "os.PathLike[str]") -> None:
    serve = _spawn(["-m", "drift", "serve", "--listen", "127.0.0.1:0"], str(tmp_path))
    try:
        assert serve.stderr is not None
        banner = _readline(serve.stderr)
        assert "listening on https://127.0.0.1:" in banner, banner
        url = banner.split("listening on ")[1].split()[0]
        cert_line = _readline(serve.stderr)
        assert os.path.join(".drift", "cert.pem") in cert_line, cert_line
        cert = os.path.join(str(tmp_path), ".drift", "cert.pem")
        with drift.Client(url, cafile=cert, timeout=10) as c:
            assert c.publish("t", "x").seq == 1
        serve.send_signal(how)
        assert serve.wait(CHILD_TIMEOUT) == 0
        assert "stopped" in serve.stderr.read()
    finally:
        serve.kill()
        serve.wait()
        for stream in (serve.stdout, serve.stderr):
            if stream is not None:
                stream.close()
