"""The README's signed-in EventSource page (section Authentication), run as
written in Chromium against `drift serve --jwt-secret-file`: from the page
server's origin (another site than Drift's), it trades a token for the
`drift_token` cookie with `POST /v1/auth/cookie` and subscribes
cross-origin with `withCredentials`, which only the cookie lets in. The
page and Drift are two origins of one site: browsers block third-party
cookies, which the README says."""

from __future__ import annotations

import re
import subprocess

from harness.chromium import wait_until
from harness.drift import ROOT, drift_binary

README_SERVER = "https://localhost:5500"
SECRET = ROOT / "drift-core" / "tests" / "data" / "jwt" / "secret"
LOG = "return Array.from(document.querySelectorAll('#log li'), (li) => li.textContent)"


def readme_auth_page() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Authentication\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```html\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README's Authentication section has one html block"
    assert blocks[0].count(README_SERVER) == 1 and blocks[0].count('"TOKEN"') == 1
    return blocks[0]


def token(*args: str) -> str:
    out = subprocess.run(
        [str(drift_binary()), "token", "--secret-file", str(SECRET), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=20,
    )
    return out.stdout.strip()


def wait_for_line(page, line: str) -> list[str]:
    return wait_until(
        page,
        LOG + ".includes(arguments[0]) && " + LOG[len("return ") :],
        line,
        what=f"the page shows {line!r}",
    )


def test_the_readme_page_subscribes_cross_origin_with_the_cookie(browser, pages, serve):
    # Cleartext, so that the page (http://127.0.0.1:P) and Drift
    # (http://127.0.0.1:Q) are two origins of one site, as app.example and
    # drift.example would be: Chromium keeps no third-party cookies, and an
    # https Drift would be another site than this http page.
    drift = serve(h2c=True, args=("--jwt-secret-file", str(SECRET)))
    publisher = {"Authorization": "Bearer " + token("--publish", "news.*")}
    status, headers, _ = drift.request("POST", "/v1/t/news.today", b"before the page", publisher)
    assert status == 200
    first = headers["drift-id"]
    # Without credentials the topic is closed to this page.
    status, _, _ = drift.request("GET", "/v1/t/news.today")
    assert status == 401

    reader = token("--subscribe", "news.*", "--ttl", "10m")
    html = readme_auth_page().replace(README_SERVER, drift.url).replace('"TOKEN"', f'"{reader}"')
    url = pages.add("/signed-in.html", html)
    browser.get(url)
    wait_for_line(browser, f"{first} before the page")
    status, headers, _ = drift.request("POST", "/v1/t/news.today", b"live", publisher)
    assert status == 200
    wait_for_line(browser, f"{headers['drift-id']} live")
    # The cookie is HttpOnly: the page's script cannot read the token back.
    assert reader not in browser.execute_script("return document.cookie")
    assert not any(reader in line for line in drift.log), "a token in the server's log"


def test_a_refused_token_sets_no_cookie_and_the_page_says_why(browser, pages, serve):
    drift = serve(args=("--jwt-secret-file", str(SECRET)))
    html = readme_auth_page().replace(README_SERVER, drift.url).replace('"TOKEN"', '"not-a-token"')
    browser.get(pages.add("/refused.html", html))
    lines = wait_until(
        browser,
        LOG + ".some((l) => l.startsWith('refused: ')) && " + LOG[len("return ") :],
        what="the page shows the refusal",
    )
    assert any("invalid token" in line for line in lines), lines
