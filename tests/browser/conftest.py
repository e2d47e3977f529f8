"""Fixtures of the browser tests: one Chromium for the session (trusting
the certificate every TLS server of the session uses), a page server on an
origin of its own, and `serve`, which starts `drift serve` for one test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import chromium
from harness.drift import DriftServer, drift_binary
from harness.pages import PageServer


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the certificate that `drift serve` generated
    (a first server makes it; every later one reuses it)."""
    if not drift_binary().is_file():
        pytest.fail(f"no drift binary at {drift_binary()}: run `cargo build -p drift-cli` or set DRIFT_BIN")
    path = tmp_path_factory.mktemp("cert")
    DriftServer(path).start().stop()
    return path


@pytest.fixture(scope="session")
def browser(cert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[chromium.webdriver.Chrome]:
    driver = chromium.start(tmp_path_factory.mktemp("chromium"), [(cert_dir / "cert.pem").read_text()])
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def page(browser: chromium.webdriver.Chrome, pages: PageServer) -> chromium.webdriver.Chrome:
    """The browser on a blank page of the page server's origin, with the
    recorder loaded (a new page per test, so no stream outlives its test)."""
    browser.get(pages.origin + "/")
    for log in ("browser", "performance"):
        browser.get_log(log)  # what is logged from here on is this test's
    chromium.wait_until(browser, "return typeof recorder === 'object'", what="recorder.js loaded")
    return browser


@pytest.fixture
def serve(cert_dir: Path, pages: PageServer) -> Iterator[Callable[..., DriftServer]]:
    """Starts `drift serve` (TLS by default, `h2c=True` for cleartext),
    letting the page server's origin in unless `cors_origins` says
    otherwise; every server is stopped when the test ends."""
    started: list[DriftServer] = []

    def start(
        *, h2c: bool = False, cors_origins: tuple[str, ...] | None = None, args: tuple[str, ...] = ()
    ) -> DriftServer:
        origins = (pages.origin,) if cors_origins is None else cors_origins
        flags = tuple(a for origin in origins for a in ("--cors-origin", origin)) + args
        server = DriftServer(cert_dir, h2c=h2c, args=flags).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=["tls", "h2c"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both ways a browser reaches Drift: HTTPS (HTTP/2 by ALPN) with the
    self-signed certificate, and cleartext (`--h2c`, which a browser speaks
    HTTP/1.1 to, as behind a TLS-terminating proxy)."""
    return request.param
