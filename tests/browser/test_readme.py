"""The README's EventSource page, run as written in Chromium (only the
server's address differs: an ephemeral port), against `drift serve` with
its defaults (HTTPS, the generated certificate) and `--cors-origin` for the
page's origin. It must show messages, a base64 payload, the end and gap
around a restart, and close itself when the topic is deleted."""

from __future__ import annotations

import re

from harness.chromium import wait_until
from harness.drift import ROOT

README_SERVER = "https://localhost:5500"
LOG = "return Array.from(document.querySelectorAll('#log li'), (li) => li.textContent)"


def readme_page() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## In a browser\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```html\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README's browser section has one html block"
    assert blocks[0].count(README_SERVER) == 1, f"the page names {README_SERVER} once"
    return blocks[0]


def wait_for_line(page, line: str) -> list[str]:
    return wait_until(
        page,
        LOG + ".includes(arguments[0]) && " + LOG[len("return ") :],
        line,
        what=f"the page shows {line!r}",
    )


def test_readme_page_runs_as_written(browser, pages, serve):
    drift = serve()
    hello = drift.publish("news", b"hello")
    binary = drift.publish("news", b"\xff\xfe\xfd")
    url = pages.add("/news.html", readme_page().replace(README_SERVER, drift.url))

    browser.get_log("browser")  # the console from here on is this test's
    browser.get(url)
    wait_for_line(browser, f"{hello} hello")
    wait_for_line(browser, f"{binary} 3 bytes")

    # A restart ends the stream; EventSource reconnects with the last id,
    # which names the old epoch (history is in memory): an explicit gap.
    drift.restart()
    wait_for_line(browser, "ended: shutdown")
    wait_for_line(browser, "missed 0-0 (epoch)")
    after = drift.publish("news", b"after the restart")
    wait_for_line(browser, f"{after} after the restart")

    status, _, _ = drift.request("DELETE", "/v1/t/news")
    assert status == 200
    wait_for_line(browser, "ended: deleted")
    assert browser.execute_script("return es.readyState") == 2  # closed: no reconnect
    assert not drift.exists("news")
