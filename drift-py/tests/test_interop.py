"""Interop with an HTTP/2 client nobody here wrote: httpx with h2,
subscribing in SSE framing and publishing with POST."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator

import httpx
import pytest

import drift
from conftest import client_for


@pytest.fixture
def http(server: drift.Server) -> Iterator[httpx.Client]:
    assert server.ca_cert_path is not None
    context = ssl.create_default_context(cafile=server.ca_cert_path)
    with httpx.Client(http2=True, verify=context, timeout=10) as c:
        yield c


def sse_events(lines: Iterator[str], n: int) -> list[dict[str, str]]:
    """Reads `n` events (comments skipped) from an SSE line stream."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if fields:
                events.append(fields)
                fields = {}
                if len(events) == n:
                    return events
            continue
        if line.startswith(":"):
            continue  # heartbeat
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data" and "data" in fields:
            fields["data"] += "\n" + value
        else:
            fields[name] = value
    raise AssertionError(f"the stream ended after {len(events)} events")


def test_httpx_subscribes_in_sse(
    server: drift.Server, http: httpx.Client, tls_client: drift.Client, topic: str
) -> None:
    url = f"{server.url}/v1/t/{topic}"
    with http.stream("GET", url, headers={"Accept": "text/event-stream"}) as resp:
        assert resp.http_version == "HTTP/2"
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        # Response headers come at once, so the subscription is live now.
        ids = [
            tls_client.publish(topic, "hello"),
            tls_client.publish(topic, "two\nlines"),
            tls_client.publish(topic, b"\xff\x00"),
        ]
        events = sse_events(resp.iter_lines(), 3)
    assert [e["id"] for e in events] == [str(i) for i in ids]
    assert events[0]["data"] == "hello"
    assert events[1]["data"] == "two\nlines"
    assert events[2]["event"] == "base64"
    assert base64.b64decode(events[2]["data"]) == b"\xff\x00"


def test_httpx_resumes_with_last_event_id(
    server: drift.Server, http: httpx.Client, tls_client: drift.Client, topic: str
) -> None:
    ids = [tls_client.publish(topic, f"m{i}") for i in range(3)]
    headers = {"Accept": "text/event-stream", "Last-Event-ID": str(ids[0])}
    with http.stream("GET", f"{server.url}/v1/t/{topic}", headers=headers) as resp:
        events = sse_events(resp.iter_lines(), 2)
    assert [e["data"] for e in events] == ["m1", "m2"]


def test_httpx_publishes_with_post(
    server: drift.Server, http: httpx.Client, tls_client: drift.Client, topic: str
) -> None:
    with tls_client.subscribe(topic) as sub:
        resp = http.post(f"{server.url}/v1/t/{topic}", content=b"from httpx")
        assert resp.http_version == "HTTP/2"
        assert resp.status_code in (200, 201, 204)
        sent = drift.MessageId.parse(resp.headers["drift-id"])
        m = sub.next(timeout=10)
    assert isinstance(m, drift.Message)
    assert (m.data, m.id) == (b"from httpx", sent)


def test_httpx_time_and_errors(server: drift.Server, http: httpx.Client, topic: str) -> None:
    resp = http.get(f"{server.url}/v1/time")
    assert resp.status_code == 200 and resp.text.isdigit()
    resp = http.delete(f"{server.url}/v1/t/{topic}")
    assert resp.status_code == 404
    assert resp.text.strip() != ""


def test_httpx_h2c_prior_knowledge(h2c_server: drift.Server, topic: str) -> None:
    with httpx.Client(http1=False, http2=True, timeout=10) as http, client_for(h2c_server) as c:
        with http.stream(
            "GET", f"{h2c_server.url}/v1/t/{topic}", headers={"Accept": "text/event-stream"}
        ) as resp:
            assert resp.http_version == "HTTP/2"
            sent = c.publish(topic, "cleartext")
            (event,) = sse_events(resp.iter_lines(), 1)
    assert (event["id"], event["data"]) == (str(sent), "cleartext")
