"""drift.Server: start/stop, properties, context manager, graceful stop."""

from __future__ import annotations

import ast
import inspect
import os
import socket
import threading

import pytest

import drift
from conftest import client_for


def test_tls_server_properties(server: drift.Server) -> None:
    assert server.running
    assert server.url == f"https://127.0.0.1:{server.port}"
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.ca_cert is not None
    assert server.ca_cert.startswith("-----BEGIN CERTIFICATE-----")
    assert server.ca_cert_path is not None
    with open(server.ca_cert_path) as f:
        assert f.read() == server.ca_cert
    assert "running" in repr(server)


def test_h2c_server_properties(h2c_server: drift.Server) -> None:
    assert h2c_server.url == f"http://127.0.0.1:{h2c_server.port}"
    assert h2c_server.ca_cert is None
    assert h2c_server.ca_cert_path is None


def test_start_stop_and_context_manager() -> None:
    s = drift.Server()
    assert not s.running
    with pytest.raises(drift.DriftError, match="not running"):
        _ = s.url
    s.start()
    s.start()  # already running: nothing happens
    port, ca_path = s.port, s.ca_cert_path
    assert ca_path is not None and os.path.exists(ca_path)
    with client_for(s) as c:
        assert c.publish("t", b"x").seq == 1
    s.stop()
    s.stop()  # already stopped: nothing happens
    assert not s.running
    assert not os.path.exists(ca_path), "the temporary CA file is removed on stop"
    # The port is released: a new server can bind it.
    with drift.Server(f"127.0.0.1:{port}", h2c=True) as again:
        assert again.port == port
        with client_for(again) as c:
            assert c.publish("t", b"x").seq == 1


def test_restart_after_stop() -> None:
    s = drift.Server(h2c=True)
    with s:
        first = s.port
    with s:
        assert s.running
        with client_for(s) as c:
            assert c.exists("nothing") is False
    assert first > 0


def test_stop_ends_subscriptions_with_shutdown() -> None:
    with drift.Server(h2c=True) as s, client_for(s) as c:
        sub = c.subscribe("t", resume=False)
        c.publish("t", "before")
        first = next(sub)
        assert isinstance(first, drift.Message) and first.text == "before"
        s.stop()
        assert list(sub) == []
        assert sub.end_reason == "shutdown"


def _thread_named(name: str) -> bool:
    tasks = "/proc/self/task"
    for tid in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, tid, "comm")) as f:
                if f.read().strip() == name:
                    return True
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_threads_are_connection_threads() -> None:
    # Served as by `drift serve --threads 3`: a third connection thread exists
    # while the server runs (the test's other servers have two) and is gone
    # once it has stopped.
    with drift.Server(h2c=True, threads=3) as s, client_for(s) as c:
        c.publish("t", "x")  # answered: the server's threads are up
        assert _thread_named("drift-io-2")
    assert not _thread_named("drift-io-2")


def test_concurrent_stops_each_wait_until_stopped() -> None:
    # A request in flight (a body that never completes) holds the shutdown
    # for the grace period; both threads' stop() must return only after
    # the server has closed that connection and released the port.
    s = drift.Server(h2c=True, shutdown_grace=0.3)
    s.start()
    port = s.port
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(b"POST /v1/t/t HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf")
    with client_for(s) as c:
        c.publish("other", "x")  # answered: the server has taken the connection
    barrier = threading.Barrier(2)
    closed_after: list[bool] = []

    def is_closed() -> bool:
        # At EOF (or reset) rather than merely quiet; an answer sent before
        # closing is read past.
        conn.setblocking(False)
        while True:
            try:
                if conn.recv(1024) == b"":
                    return True
            except BlockingIOError:
                return False
            except OSError:
                return True

    def stop() -> None:
        barrier.wait()
        s.stop()
        closed_after.append(is_closed())

    threads = [threading.Thread(target=stop) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert closed_after == [True, True]
    assert not s.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_zero_threads_means_one_per_core() -> None:
    # As drift serve --threads 0: the default, one connection thread per core.
    with drift.Server(h2c=True, threads=0) as s, client_for(s) as c:
        c.publish("t", "x")
        cores = len(os.sched_getaffinity(0))
        assert _thread_named(f"drift-io-{cores - 1}")
        assert not _thread_named(f"drift-io-{max(cores, 3)}")


def test_port_in_use_is_a_connect_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(drift.ConnectError, match="cannot listen"):
            drift.Server(f"127.0.0.1:{port}", h2c=True).start()


def test_bad_arguments() -> None:
    with pytest.raises(drift.InvalidArgument):
        drift.Server("not an address")
    with pytest.raises(drift.InvalidArgument):
        drift.Server(cert="c.pem")  # key missing
    with pytest.raises(drift.InvalidArgument):
        drift.Server(h2c=True, cert="c.pem", key="k.pem")
    with pytest.raises(drift.TLSError):
        drift.Server(cert=__file__, key=__file__).start()  # not PEM


def test_cert_and_key_files(server: drift.Server, tmp_path: "os.PathLike[str]") -> None:
    # A server started with cert_dir writes its generated identity there; a
    # second server can then serve the same certificate from the files.
    cert_dir = os.path.join(str(tmp_path), "certs")
    with drift.Server(cert_dir=cert_dir) as first:
        cert = os.path.join(cert_dir, "cert.pem")
        key = os.path.join(cert_dir, "key.pem")
        assert first.ca_cert_path == cert
        pem = first.ca_cert
    with drift.Server(cert=cert, key=key) as second:
        assert second.ca_cert == pem
        with client_for(second) as c:
            assert c.publish("t", "x").seq == 1


def _stub_options() -> set[str]:
    """The keyword-only parameters of Server.__new__ in the stubs."""
    stub = os.path.join(os.path.dirname(drift.__file__), "_drift.pyi")
    with open(stub) as f:
        tree = ast.parse(f.read())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Server"]
    (new,) = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__new__"]
    return {a.arg for a in new.args.kwonlyargs}


def test_options_are_drift_serves_with_core_defaults() -> None:
    defaults = drift.Server.defaults()
    # Each option of drift-core's table, named as drift serve's flag.
    assert {"queue_messages", "max_streams", "cors_origin", "shutdown_grace"} <= set(defaults)
    assert _stub_options() == (set(defaults) - {"listen"}) | {"history"}
    assert inspect.signature(drift.Server).parameters["listen"].default == defaults["listen"]
    assert defaults["listen"] == "127.0.0.1:0"
    assert defaults["heartbeat"] == 15.0 and defaults["history_max_age"] is None
    assert defaults["cert"] is None and defaults["h2c"] is False
    assert defaults["cors_origin"] == [] and defaults["threads"] == 0
    assert isinstance(defaults["history_length"], int) and defaults["history_length"] > 0


def test_every_default_is_accepted_back() -> None:
    options = drift.Server.defaults()
    listen = options.pop("listen")
    s = drift.Server(listen, **options)
    assert not s.running


def test_unknown_and_mistyped_options() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'histroy'"):
        drift.Server(histroy=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="option queue_messages: expected an int, got str"):
        drift.Server(queue_messages="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="option max_topics: expected an int, got bool"):
        drift.Server(max_topics=True)
    with pytest.raises(TypeError, match="option h2c: expected a bool, got int"):
        drift.Server(h2c=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="option threads: expected an int, got NoneType"):
        drift.Server(threads=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="option cors_origin: expected a list of str"):
        drift.Server(cors_origin="*")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="history_length twice"):
        drift.Server(history=1, history_length=2)
    with pytest.raises(drift.InvalidArgument, match="option queue_bytes: expected a whole number >= 0"):
        drift.Server(queue_bytes=-1)
    with pytest.raises(drift.InvalidArgument, match="option heartbeat: expected seconds >= 0"):
        drift.Server(heartbeat=-1.0)
    with pytest.raises(drift.InvalidArgument, match="option max_streams: .* too large"):
        drift.Server(max_streams=2**40)
    with pytest.raises(drift.InvalidArgument, match="max topics must be greater than 0"):
        drift.Server(max_topics=0)


def test_none_turns_off_what_has_an_off() -> None:
    drift.Server(history_bytes=None, history_max_age=None, heartbeat=None, cert_dir=None)
    drift.Server(history_bytes=0, history_max_age=0, heartbeat=0)


def _http(s: drift.Server, request: str) -> str:
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as conn:
        conn.sendall(request.encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def test_options_drift_serve_had_and_python_had_not() -> None:
    # cors_origin, max_streams and max_header_bytes, as drift serve's flags.
    with drift.Server(
        h2c=True, cors_origin=["https://app.example"], max_streams=8, max_header_bytes=4096
    ) as s:
        answer = _http(
            s,
            "GET /ping HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
            "Connection: close\r\n\r\n",
        )
        assert answer.startswith("HTTP/1.1 200"), answer
        assert "access-control-allow-origin: https://app.example" in answer.lower(), answer
        big = "x" * 8192
        answer = _http(s, f"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n")
        assert answer.startswith("HTTP/1.1 431"), answer[:200]


def test_console_is_on_by_default_on_loopback_and_can_be_turned_off() -> None:
    assert drift.Server.defaults()["console"] == "auto"
    request = "GET /console HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with drift.Server(h2c=True) as s:
        answer = _http(s, request)
        assert answer.startswith("HTTP/1.1 200"), answer[:200]
        assert "content-security-policy: default-src 'none'" in answer.lower()
    with drift.Server(h2c=True, console="off") as s:
        assert _http(s, request).startswith("HTTP/1.1 404")
    with pytest.raises(drift.InvalidArgument, match="option console: expected auto, on or off"):
        drift.Server(console="sometimes")


def test_data_dir_keeps_topics_across_restarts(tmp_path: "os.PathLike[str]") -> None:
    data = os.path.join(tmp_path, "data")
    with drift.Server(h2c=True, data_dir=data, fsync="always") as s:
        with client_for(s) as c:
            first = c.publish("kept", b"one")
            c.publish("kept", b"two")
    # A new server on the same directory: same epoch, seqs go on, history replays.
    with drift.Server(h2c=True, data_dir=data) as s:
        with client_for(s) as c:
            third = c.publish("kept", b"three")
            assert third.epoch == first.epoch
            assert third.seq == first.seq + 2
            with c.subscribe("kept", history=10) as sub:
                got = [sub.next(timeout=10) for _ in range(3)]
            assert [m.data for m in got if isinstance(m, drift.Message)] == [
                b"one",
                b"two",
                b"three",
            ]


def test_data_dir_in_use_is_a_storage_error(tmp_path: "os.PathLike[str]") -> None:
    data = os.path.join(tmp_path, "data")
    with drift.Server(h2c=True, data_dir=data):
        with pytest.raises(drift.StorageError, match="in use"):
            drift.Server(h2c=True, data_dir=data).start()
    with pytest.raises(drift.InvalidArgument, match="fsync"):
        drift.Server(h2c=True, data_dir=data, fsync="sometimes")


def _http_get(url: str) -> tuple[int, dict[str, str], str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {}, ""


def test_metrics_on_by_default_and_off() -> None:
    with drift.Server(h2c=True) as s:
        with client_for(s) as c:
            c.publish("t", "hello")
        status, headers, text = _http_get(s.url + "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert "drift_published_messages_total 1\n" in text
        assert text.endswith("# EOF\n")
    with drift.Server(h2c=True, metrics=False) as s:
        assert _http_get(s.url + "/metrics")[0] == 404
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with drift.Server(h2c=True, metrics_listen=f"127.0.0.1:{port}") as s:
        assert _http_get(s.url + "/metrics")[0] == 404
        assert _http_get(f"http://127.0.0.1:{port}/metrics")[0] == 200
