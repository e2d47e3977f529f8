"""The web console (`/console`, issue 23 item 5) in Chromium against the real
`drift serve`, on Drift's own origin, over HTTPS (HTTP/2) and cleartext
(HTTP/1.1): a message published with curl appears in the live view, one
published from the page reaches `drift sub`, a history overflow shows as a
gap, topics are created and deleted from the page, errors show the
server's reason, and a server that authenticates takes a token.

Screenshots of the runs are kept under the cargo target directory
(`$CARGO_TARGET_DIR`, else `target/` at the repository root), in
`browser-artifacts/`: `console.png` (the gap test: messages, a gap and the
topic list) and `console-tls.png` / `console-h2c.png` (the live view)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

from harness.chromium import wait_until
from harness.drift import ROOT, drift_binary
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

SECRET = ROOT / "drift-core" / "tests" / "data" / "jwt" / "secret"
CLI_SECONDS = 20


def artifacts() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    path = target / "browser-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ===== the page =====


def open_console(browser, drift) -> None:
    """Loads the console and waits for its first topic list."""
    for log in ("browser", "performance"):
        browser.get_log(log)  # what is logged from here on is this test's
    browser.set_window_size(1280, 1000)
    browser.get(drift.url + "/console")
    wait_text(browser, "#server-status", "connected")


def wait_text(browser, selector: str, fragment: str) -> str:
    """Waits until the element shows `fragment`; returns its text."""
    return wait_until(
        browser,
        "const e = document.querySelector(arguments[0]);"
        "return e && e.textContent.includes(arguments[1]) && e.textContent;",
        selector,
        fragment,
        what=f"{selector} shows {fragment!r}",
    )


def wait_event(browser, kind: str, fragment: str) -> dict:
    """Waits until the event list holds an event of `kind` whose text has
    `fragment`; returns it ({kind, id, text})."""
    return wait_until(
        browser,
        "return Array.from(document.querySelectorAll('#events li'), (li) =>"
        " ({kind: li.dataset.kind, id: li.dataset.id, text: li.querySelector('.payload').textContent}))"
        ".find((e) => e.kind === arguments[0] && e.text.includes(arguments[1]));",
        kind,
        fragment,
        what=f"a {kind} event showing {fragment!r}",
    )


def row(browser, topic: str) -> str:
    """Waits until the topic list has `topic`; returns the row's selector."""
    selector = f'#topic-list tr[data-topic="{topic}"]'
    wait_until(browser, "return document.querySelector(arguments[0])", selector, what=f"topic {topic} listed")
    return selector


def click(browser, selector: str) -> None:
    browser.find_element(By.CSS_SELECTOR, selector).click()


def watch_topic(browser, topic: str) -> None:
    """Opens `topic` from the list and waits until its live stream is open."""
    click(browser, row(browser, topic) + " button.open")
    wait_text(browser, "#watch-status", "watching live")


def fill(browser, selector: str, text: str) -> None:
    field = browser.find_element(By.CSS_SELECTOR, selector)
    field.clear()
    field.send_keys(text)


def protocols(browser) -> dict[str, str]:
    """The protocol ("h2", "http/1.1") of each response Chromium received
    since the last read of its performance log, by URL."""
    out = {}
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            response = message["params"]["response"]
            out[response["url"]] = response.get("protocol", "")
    return out


def no_csp_violations(browser) -> None:
    logged = [e["message"] for e in browser.get_log("browser")]
    assert not [m for m in logged if "Content Security Policy" in m], logged


# ===== the command-line tools =====


def curl_publish(drift, topic: str, payload: str) -> str:
    """Publishes with curl (HTTP/2 over TLS, as curl negotiates it) and
    returns the id the server answered."""
    command = ["curl", "-sS", "--fail", "-D", "-", "-o", "/dev/null", "--data-binary", payload]
    if not drift.h2c:
        command += ["--cacert", str(drift.cert_path)]
    out = subprocess.run(
        [*command, f"{drift.url}/v1/t/{topic}"], check=True, capture_output=True, text=True, timeout=CLI_SECONDS
    )
    headers = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    return {k.lower(): v for k, v in headers.items()}["drift-id"]


class DriftSub:
    """`drift sub TOPIC -n COUNT --format json -v`, started and waited for
    until it says it is subscribed, so nothing published after is missed."""

    def __init__(self, drift, topic: str, count: int = 1):
        command = [str(drift_binary()), "sub", topic, "-n", str(count), "--format", "json", "-v", "--url", drift.url]
        if not drift.h2c:
            command += ["--cacert", str(drift.cert_path)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stderr: list[str] = []
        subscribed = threading.Event()

        def read() -> None:
            for line in self.process.stderr:
                self.stderr.append(line)
                subscribed.set()
            subscribed.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not subscribed.wait(CLI_SECONDS) or self.process.poll() is not None:
            self.process.kill()
            raise AssertionError("drift sub did not subscribe: " + "".join(self.stderr))

    def messages(self) -> list[dict]:
        """Waits (at most CLI_SECONDS) for it to exit; its JSON lines."""
        try:
            out, _ = self.process.communicate(timeout=CLI_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("drift sub did not receive its messages: " + "".join(self.stderr)) from None
        assert self.process.returncode == 0, self.stderr
        return [json.loads(line) for line in out.splitlines()]


def token(*grants: str) -> str:
    out = subprocess.run(
        [str(drift_binary()), "token", "--secret-file", str(SECRET), "--sub", "console-test", *grants],
        check=True,
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
    )
    return out.stdout.strip()


# ===== the tests =====


def test_a_message_published_with_curl_appears_live(browser, serve, transport):
    drift = serve(h2c=transport == "h2c")
    drift.publish("news", b"before the page")
    open_console(browser, drift)
    watch_topic(browser, "news")
    # The page, its list and its stream over the transport's protocol.
    seen = protocols(browser)
    want = {"tls": "h2", "h2c": "http/1.1"}[transport]
    for url in (f"{drift.url}/console", f"{drift.url}/console/console.js", f"{drift.url}/v1/topics"):
        assert seen.get(url) == want, (url, seen)

    id = curl_publish(drift, "news", "hello from curl")
    got = wait_event(browser, "message", "hello from curl")
    assert got["id"] == id
    # Not UTF-8: shown as the base64 it arrives as.
    drift.publish("news", b"\x00\xff")
    assert wait_event(browser, "base64", "AP8=")["text"] == "AP8="
    # The list counts the page's own subscription, and the messages.
    news = row(browser, "news")
    wait_text(browser, news + " td:nth-child(6)", "1")
    wait_text(browser, news + " td:nth-child(3)", "3")
    # The message published before the page opened is not in the live view.
    assert "before the page" not in browser.find_element(By.ID, "events").text
    browser.save_screenshot(str(artifacts() / f"console-{transport}.png"))
    no_csp_violations(browser)


def test_a_message_published_from_the_page_reaches_drift_sub(browser, serve, transport):
    drift = serve(h2c=transport == "h2c", args=("--max-message-bytes", "1024"))
    drift.publish("chat", b"first")
    sub = DriftSub(drift, "chat")
    open_console(browser, drift)
    watch_topic(browser, "chat")
    fill(browser, "#publish-body", "from the page")
    click(browser, "#publish")
    answered = wait_text(browser, "#publish-status", "published ")
    id = answered.removeprefix("published ")
    (message,) = sub.messages()
    assert (message["data"], message["id"]) == ("from the page", id)
    # The page's own stream shows it too.
    assert wait_event(browser, "message", "from the page")["id"] == id

    # A refused publish shows the server's status and reason.
    browser.execute_script("document.querySelector('#publish-body').value = 'x'.repeat(2000)")
    click(browser, "#publish")
    refused = wait_text(browser, "#publish-status", "413 ")
    status, _, reason = drift.request("POST", "/v1/t/chat", b"x" * 2000)
    assert status == 413
    assert refused == "413 " + reason.decode().strip()
    no_csp_violations(browser)


def test_a_history_overflow_shows_as_a_gap(browser, serve):
    drift = serve()
    open_console(browser, drift)
    fill(browser, "#create-name", "short")
    fill(browser, "#create-config", '{"historyLength": 2}')
    click(browser, "#create")
    wait_text(browser, "#create-status", "topic short created")
    watch_topic(browser, "short")
    first = drift.publish("short", b"one")
    assert wait_event(browser, "message", "one")["id"] == first

    # Not watching while three more arrive: history keeps the last two.
    click(browser, "#watch-stop")
    wait_text(browser, "#watch-status", "stopped")
    ids = [drift.publish("short", m) for m in (b"two", b"three", b"four")]

    click(browser, "#watch-resume")
    wait_text(browser, "#watch-status", f"watching after {first}")
    assert wait_event(browser, "gap", "messages 2–2")["text"] == "gap (expired): messages 2–2 not delivered"
    assert wait_event(browser, "message", "three")["id"] == ids[1]
    assert wait_event(browser, "message", "four")["id"] == ids[2]

    # From the start: everything this epoch retains, after what expired.
    click(browser, "#events-clear")
    click(browser, "#watch-history")
    wait_text(browser, "#watch-status", "watching from the start")
    assert wait_event(browser, "gap", "messages 1–2")["text"] == "gap (expired): messages 1–2 not delivered"
    wait_event(browser, "message", "four")
    kinds = browser.execute_script("return Array.from(document.querySelectorAll('#events li'), (li) => li.dataset.kind)")
    assert kinds == ["note", "gap", "message", "message"], kinds
    browser.save_screenshot(str(artifacts() / "console.png"))
    no_csp_violations(browser)


def test_create_and_delete_a_topic_from_the_page(browser, serve):
    drift = serve()
    open_console(browser, drift)
    # A configuration the server refuses: its reason, as it gives it.
    fill(browser, "#create-name", "made-here")
    fill(browser, "#create-config", '{"historyLenght": 5}')
    click(browser, "#create")
    refused = wait_text(browser, "#create-status", "400 ")
    status, _, reason = drift.request("PUT", "/v1/t/other", b'{"historyLenght": 5}')
    assert status == 400
    assert refused == "400 " + reason.decode().strip()
    assert not drift.exists("made-here")

    fill(browser, "#create-config", "")
    click(browser, "#create")
    wait_text(browser, "#create-status", "topic made-here created")
    assert drift.exists("made-here")
    watch_topic(browser, "made-here")

    click(browser, row(browser, "made-here") + " button.delete")
    alert = WebDriverWait(browser, 15).until(expected_conditions.alert_is_present())
    assert "Delete topic made-here" in alert.text
    alert.accept()
    # The open stream ends with `deleted` and is closed, so it does not
    # reconnect and re-create the topic.
    wait_event(browser, "end", "end: deleted")
    wait_text(browser, "#watch-status", "closed: deleted")
    wait_text(browser, "#topics-status", "deleted topic made-here")
    wait_until(
        browser,
        "return !document.querySelector('#topic-list tr[data-topic=\"made-here\"]')",
        what="the topic is gone from the list",
    )
    assert not drift.exists("made-here")
    no_csp_violations(browser)


def test_a_server_that_authenticates_takes_a_token(browser, serve):
    # Cleartext on 127.0.0.1: a secure context, where Chromium keeps the
    # Secure cookie.
    drift = serve(h2c=True, args=("--jwt-secret-file", str(SECRET)))
    # Cookies are per host, not per port: none left by another test's
    # server on 127.0.0.1 may sign this page in.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    for log in ("browser", "performance"):
        browser.get_log(log)
    browser.get(drift.url + "/console")
    wait_until(browser, "return !document.querySelector('#auth').hidden", what="the token field shown")
    wait_text(browser, "#topics-status", "401 ")

    fill(browser, "#token", "not-a-token")
    click(browser, "#sign-in")
    wait_text(browser, "#auth-status", "401 invalid token")

    fill(browser, "#token", token("--admin", "*", "--publish", "*", "--subscribe", "*"))
    click(browser, "#sign-in")
    wait_text(browser, "#auth-status", "signed in as console-test")
    wait_text(browser, "#server-status", "connected")
    fill(browser, "#create-name", "private")
    click(browser, "#create")
    wait_text(browser, "#create-status", "topic private created")
    watch_topic(browser, "private")
    fill(browser, "#publish-body", "signed")
    click(browser, "#publish")
    wait_text(browser, "#publish-status", "published ")
    wait_event(browser, "message", "signed")

    click(browser, "#sign-out")
    wait_text(browser, "#auth-status", "signed out")
    wait_text(browser, "#topics-status", "401 ")
    # A stream the server refuses: EventSource cannot say why, the page can.
    click(browser, "#watch-live")
    refused = wait_text(browser, "#watch-status", "401 ")
    assert refused == '401 subscribe to topic "private" needs a token (Authorization: Bearer, or the drift_token cookie)'
    no_csp_violations(browser)
