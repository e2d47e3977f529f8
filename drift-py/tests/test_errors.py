"""Exceptions: the hierarchy, and each failure mapped to its class."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

import drift
from conftest import client_for


def test_hierarchy() -> None:
    for name in (
        "ConnectError",
        "TLSError",
        "DriftTimeout",
        "ProtocolError",
        "SubscriptionClosed",
        "InvalidArgument",
        "HTTPError",
        "BadRequest",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "Conflict",
        "PayloadTooLarge",
        "Unavailable",
        "StorageError",
        "InsufficientStorage",
        "TooManyRequests",
    ):
        cls = getattr(drift, name)
        assert issubclass(cls, drift.DriftError), name
        assert cls.__module__ == "drift"
    assert issubclass(drift.DriftError, Exception)
    assert issubclass(drift.DriftTimeout, TimeoutError)
    assert issubclass(drift.ConnectError, ConnectionError)
    assert issubclass(drift.TLSError, drift.ConnectError)
    assert issubclass(drift.InvalidArgument, ValueError)
    assert issubclass(drift.NotFound, drift.HTTPError)
    assert issubclass(drift.BadRequest, drift.HTTPError)
    assert issubclass(drift.BadRequest, drift.InvalidArgument)
    assert drift.NotFound.status == 404
    assert issubclass(drift.InsufficientStorage, drift.HTTPError)
    assert issubclass(drift.InsufficientStorage, drift.StorageError)
    assert drift.InsufficientStorage.status == 507
    assert issubclass(drift.TooManyRequests, drift.HTTPError)
    assert drift.TooManyRequests.status == 429


def test_not_found_carries_status_and_reason(client: drift.Client, topic: str) -> None:
    with pytest.raises(drift.HTTPError) as e:
        client.delete(topic)
    assert isinstance(e.value, drift.NotFound)
    assert e.value.status == 404
    text = str(e.value)
    assert text.startswith("server answered 404 Not Found: ")
    assert len(text) > len("server answered 404 Not Found: ")  # the server's reason


def test_bad_topic_is_invalid_argument(client: drift.Client) -> None:
    with pytest.raises(drift.InvalidArgument, match="empty"):
        client.publish("", "x")
    # Rejected by the server: an HTTP error that is also an InvalidArgument.
    with pytest.raises(drift.InvalidArgument) as e:
        client.publish("x" * 300, "x")
    assert isinstance(e.value, drift.BadRequest)
    assert e.value.status == 400
    assert "longer than" in str(e.value)
    with pytest.raises(drift.BadRequest, match="control character"):
        client.publish("a\nb", "x")


def test_bad_arguments(client: drift.Client, topic: str) -> None:
    with pytest.raises(drift.InvalidArgument):
        client.subscribe(topic, on_slow="later")
    with pytest.raises(drift.InvalidArgument):
        client.subscribe(topic, after=3)  # type: ignore[arg-type]
    with pytest.raises(drift.InvalidArgument):
        drift.Client("ftp://example.com")
    with pytest.raises(drift.InvalidArgument):
        drift.Client("https://127.0.0.1:1", timeout=0)
    with pytest.raises(drift.InvalidArgument):
        drift.Client("https://127.0.0.1:1", cafile="a.pem", cadata="b")


def test_too_large(client: drift.Client, topic: str) -> None:
    with pytest.raises(drift.PayloadTooLarge) as e:
        client.publish(topic, b"x" * ((1 << 20) + 1))
    assert e.value.status == 413


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_port_is_connect_error() -> None:
    with drift.Client(f"http://127.0.0.1:{_closed_port()}", timeout=5) as c:
        with pytest.raises(drift.ConnectError, match="cannot connect"):
            c.publish("t", "x")


def test_wrong_ca_is_tls_error(server: drift.Server) -> None:
    with drift.Server() as other:
        other_ca = other.ca_cert
    with drift.Client(server.url, cadata=other_ca, timeout=5) as c:
        with pytest.raises(drift.TLSError, match="TLS handshake"):
            c.publish("t", "x")
    with drift.Client(server.url, timeout=5) as c:  # the system's roots
        with pytest.raises(drift.TLSError):
            c.exists("t")
    with drift.Client(server.url, insecure=True, timeout=5) as c:
        assert c.exists("never-made") is False


def test_cadata_and_cafile(server: drift.Server) -> None:
    assert server.ca_cert is not None and server.ca_cert_path is not None
    with drift.Client(server.url, cadata=server.ca_cert.encode(), timeout=5) as c:
        assert c.exists("never-made") is False
    with drift.Client(server.url, cafile=server.ca_cert_path, timeout=5) as c:
        assert c.exists("never-made") is False


def test_cafile_with_a_certificate_made_by_openssl_req_x509(tmp_path: Path) -> None:
    """openssl req -x509 marks the certificate as a CA (CA:TRUE) by default;
    trusting exactly that certificate works, as in curl."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl_req = [
        "openssl", "req", "-x509", "-newkey", "ec", "-nodes", "-days", "30",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", str(key), "-out", str(cert),
    ]
    subprocess.run(openssl_req, check=True, capture_output=True, timeout=30)
    with drift.Server(cert=cert, key=key) as s:
        with drift.Client(s.url, cafile=cert, timeout=5) as c:
            assert c.publish("t", "x").seq == 1


def test_plain_http_to_tls_port(server: drift.Server) -> None:
    with drift.Client(f"http://127.0.0.1:{server.port}", timeout=5) as c:
        with pytest.raises(drift.DriftError):
            c.publish("t", "x")


def test_timeout_is_drift_timeout() -> None:
    # A listener that accepts TCP but never speaks: the HTTP/2 handshake
    # cannot finish within the timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with drift.Client(f"http://127.0.0.1:{port}", timeout=0.3) as c:
            with pytest.raises(drift.DriftTimeout) as e:
                c.publish("t", "x")
            assert isinstance(e.value, TimeoutError)


def test_subscribe_to_missing_topic_with_require_create() -> None:
    with drift.Server(h2c=True, require_create=True) as s, client_for(s) as c:
        with pytest.raises(drift.NotFound):
            c.subscribe("nope")
        with pytest.raises(drift.NotFound) as e:
            c.publish("nope", "x")
        # The status and the server's own reason, as attributes.
        assert e.value.status == 404
        assert e.value.reason is not None and e.value.reason.startswith('no topic named "nope"')
        assert e.value.reason in str(e.value)
        with pytest.raises(drift.InvalidArgument) as bad:
            c.publish("", "x")
        assert bad.value.reason is None
        assert c.create("yes")
        assert c.publish("yes", "x").seq == 1
