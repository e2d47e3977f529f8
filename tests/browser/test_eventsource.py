"""EventSource in Chromium against the real `drift serve`: messages arrive
byte-exact, and the `gap`, `end` and `base64` events arrive as
docs/PROTOCOL.md defines them, over HTTPS (HTTP/2) and cleartext
(HTTP/1.1)."""

from __future__ import annotations

import json

from harness.chromium import protocol_of, wait_until

# Payloads and the event each must arrive as. SSE ends a line at \r, \n or
# \r\n alike and EventSource joins data lines with \n, so a payload with a
# \r cannot be sent as data lines without turning into \n: it is base64,
# as are bytes that are not UTF-8.
PAYLOADS = [
    (b"hello", "message"),
    (b"two\nlines", "message"),
    (b"ends with a newline\n", "message"),
    (b"\n\n", "message"),
    (b"", "message"),
    (b" leading space", "message"),
    ("ünïcode ✓".encode(), "message"),
    (b"NUL \x00, tab \t and other controls \x01\x1f\x7f", "message"),
    (b"lone\rcarriage return", "base64"),
    (b"crlf\r\nline", "base64"),
    (b"\r", "base64"),
    (b"\x00\xff\xfe not UTF-8", "base64"),
]


def events(page, name: str, count: int) -> list[dict]:
    """Waits until stream `name` has recorded `count` events; returns them."""
    return wait_until(
        page,
        "const s = recorder.state(arguments[0]); return s.events.length >= arguments[1] && s.events;",
        name,
        count,
        what=f"{count} events on {name}",
    )


def test_messages_arrive_byte_exact(page, serve, transport):
    drift = serve(h2c=transport == "h2c")
    url = f"{drift.url}/v1/t/news"
    page.execute_script("recorder.open('news', arguments[0])", url)
    wait_until(page, "return recorder.state('news').opens === 1", what="the stream opened")
    assert protocol_of(page, url) == {"tls": "h2", "h2c": "http/1.1"}[transport]

    ids = [drift.publish("news", payload) for payload, _ in PAYLOADS]

    got = events(page, "news", len(PAYLOADS))
    assert [(bytes(e["bytes"]), e["type"]) for e in got] == PAYLOADS
    assert [e["id"] for e in got] == ids


def test_gap_event_reports_what_expired(page, serve):
    drift = serve()
    status, _, _ = drift.request("PUT", "/v1/t/short", json.dumps({"historyLength": 1}).encode())
    assert status == 201
    first = drift.publish("short", b"one")
    drift.publish("short", b"two")
    third = drift.publish("short", b"three")

    # Resume after the first message: the second is no longer retained.
    page.execute_script("recorder.open('short', arguments[0])", f"{drift.url}/v1/t/short?after={first}")
    got = events(page, "short", 2)
    # A gap carries no id, so the browser's last event id stays the last
    # message's (none yet here).
    assert got[0] == {"type": "gap", "id": "", "gap": {"from": 2, "to": 2, "reason": "expired"}}
    assert got[1] == {"type": "message", "id": third, "bytes": list(b"three")}


def test_epoch_gap_after_a_foreign_id(page, serve):
    drift = serve()
    drift.publish("news", b"kept")
    page.execute_script("recorder.open('news', arguments[0])", f"{drift.url}/v1/t/news?after=1-1")
    got = events(page, "news", 2)
    assert got[0]["type"] == "gap"
    assert got[0]["gap"] == {"from": 0, "to": 0, "reason": "epoch"}
    assert got[1]["bytes"] == list(b"kept")


def test_end_on_delete_and_close_keeps_the_topic_deleted(page, serve):
    drift = serve()
    # `closing` does what a page must on `end`; `naive` does not, to show
    # what closing prevents: EventSource reconnects and re-creates the topic.
    page.execute_script("recorder.open('closing', arguments[0])", f"{drift.url}/v1/t/closing")
    page.execute_script(
        "recorder.open('naive', arguments[0], {closeOnEnd: false})", f"{drift.url}/v1/t/naive"
    )
    wait_until(
        page,
        "return recorder.state('closing').opens === 1 && recorder.state('naive').opens === 1",
        what="both streams opened",
    )
    assert drift.exists("closing") and drift.exists("naive")

    for topic in ("closing", "naive"):
        status, _, _ = drift.request("DELETE", f"/v1/t/{topic}")
        assert status == 200

    for name in ("closing", "naive"):
        got = events(page, name, 1)
        assert got == [{"type": "end", "id": "", "reason": "deleted"}]
    # The naive stream reconnects (after EventSource's retry delay) and so
    # re-creates its topic; by then the closing one would have too.
    wait_until(page, "return recorder.state('naive').opens === 2", what="the naive stream reconnected")
    assert drift.exists("naive")
    assert page.execute_script("return recorder.state('closing')")["readyState"] == 2
    assert page.execute_script("return recorder.state('closing').opens") == 1
    assert not drift.exists("closing")


def test_end_on_shutdown(page, serve, transport):
    drift = serve(h2c=transport == "h2c")
    page.execute_script("recorder.open('news', arguments[0])", f"{drift.url}/v1/t/news")
    wait_until(page, "return recorder.state('news').opens === 1", what="the stream opened")
    drift.stop()
    assert events(page, "news", 1) == [{"type": "end", "id": "", "reason": "shutdown"}]


def test_with_require_create_a_reconnect_to_a_deleted_topic_is_final(page, serve):
    drift = serve(args=("--require-create",))
    status, _, _ = drift.request("PUT", "/v1/t/news")
    assert status == 201
    page.execute_script("recorder.open('news', arguments[0], {closeOnEnd: false})", f"{drift.url}/v1/t/news")
    wait_until(page, "return recorder.state('news').opens === 1", what="the stream opened")
    status, _, _ = drift.request("DELETE", "/v1/t/news")
    assert status == 200
    assert events(page, "news", 1) == [{"type": "end", "id": "", "reason": "deleted"}]
    # EventSource reconnects, is answered 404, and gives up for good.
    wait_until(page, "return recorder.state('news').readyState === 2", what="the stream gave up")
    assert page.execute_script("return recorder.state('news').opens") == 1
    assert not drift.exists("news")
