"""Cross-origin access from a page on another origin, as Chromium enforces
it: `--cors-origin` lets a named page read streams and answers, with the
visitor's credentials; other pages are refused; `*` lets any page in but
never with credentials."""

from __future__ import annotations

from harness.chromium import wait_until

OPENED_OR_REFUSED = """
const s = recorder.state(arguments[0]);
return (s.events.length > 0 || s.readyState === EventSource.CLOSED) && s;
"""


def first_event_or_refusal(page, name: str) -> dict:
    return wait_until(page, OPENED_OR_REFUSED, name, what=f"{name} got an event or was refused")


def test_a_named_origin_streams_with_credentials(page, serve, transport):
    drift = serve(h2c=transport == "h2c")
    drift.publish("news", b"for the named page")
    page.execute_script(
        "recorder.open('news', arguments[0], {withCredentials: true})", f"{drift.url}/v1/t/news?history=1"
    )
    state = first_event_or_refusal(page, "news")
    assert state["events"][0]["bytes"] == list(b"for the named page"), state


def test_a_named_origin_publishes_and_reads_the_id(page, serve):
    drift = serve()
    page.execute_script("recorder.open('news', arguments[0])", f"{drift.url}/v1/t/news")
    wait_until(page, "return recorder.state('news').opens === 1", what="the stream opened")
    # A POST with a JSON body is preflighted; the answer's Drift-Id is
    # readable only because Drift exposes it.
    published = page.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: "POST", credentials: "include",
                             headers: {"content-type": "application/json"}, body: '{"n":1}'})
          .then((res) => done({status: res.status, id: res.headers.get("drift-id")}),
                (err) => done({error: String(err)}));
        """,
        f"{drift.url}/v1/t/news",
    )
    assert published.get("status") == 200, published
    got = wait_until(
        page,
        "return recorder.state('news').events.length === 1 && recorder.state('news').events",
        what="the published message arrived",
    )
    assert got[0]["id"] == published["id"]
    assert got[0]["bytes"] == list(b'{"n":1}')


def test_another_origin_is_refused(page, serve):
    drift = serve(cors_origins=("https://app.example",))
    drift.publish("news", b"not for this page")
    page.execute_script("recorder.open('news', arguments[0])", f"{drift.url}/v1/t/news?history=1")
    state = first_event_or_refusal(page, "news")
    # A CORS failure is fatal for EventSource: closed, no reconnect, nothing read.
    assert state["readyState"] == 2 and state["events"] == [] and state["opens"] == 0, state


def test_any_origin_is_let_in_without_credentials(page, serve):
    drift = serve(cors_origins=("*",))
    drift.publish("news", b"for any page")
    page.execute_script("recorder.open('plain', arguments[0])", f"{drift.url}/v1/t/news?history=1")
    page.execute_script(
        "recorder.open('credentialed', arguments[0], {withCredentials: true})",
        f"{drift.url}/v1/t/news?history=1",
    )
    plain = first_event_or_refusal(page, "plain")
    assert plain["events"][0]["bytes"] == list(b"for any page"), plain
    credentialed = first_event_or_refusal(page, "credentialed")
    assert credentialed["readyState"] == 2 and credentialed["events"] == [], credentialed
