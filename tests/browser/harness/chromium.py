"""The one place that starts Chromium: Debian's `chromium`, headless, driven
by Debian's `chromedriver` of the same build (so Selenium never downloads a
driver or a browser)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = os.environ.get("DRIFT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DRIFT_CHROMEDRIVER", "/usr/bin/chromedriver")

# How long a test waits for the page to reach a state before it fails.
WAIT_SECONDS = 15.0


def spki_hash(cert_pem: str) -> str:
    """The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, the form
    `--ignore-certificate-errors-spki-list` takes."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem)
    # Certificate ::= SEQUENCE { tbsCertificate, … } and
    # tbsCertificate ::= SEQUENCE { [0] version (optional), serialNumber,
    # signature, issuer, validity, subject, subjectPublicKeyInfo, … }
    certificate = _elements(_elements(der)[0][1])[0][1]
    tbs = _elements(certificate)
    if tbs[0][0] != 0xA0:  # a v1 certificate has no version field
        tbs.insert(0, (0xA0, b"", b""))
    return base64.b64encode(hashlib.sha256(tbs[6][2]).digest()).decode()


def _elements(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """The DER elements one after another in `data`: (tag, contents, the
    whole element)."""
    out = []
    offset = 0
    while offset < len(data):
        start = offset
        tag, length = data[offset], data[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        out.append((tag, data[offset : offset + length], data[start : offset + length]))
        offset += length
    return out


def start(profile: Path, trusted_certs: Iterable[str] = ()) -> webdriver.Chrome:
    """A headless Chromium with its profile in `profile` that trusts the
    given PEM certificates (by their public keys) as a real user's browser
    would trust a CA-issued one."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in [
        "--headless=new",
        # Root in containers and CI: Chromium's sandbox needs user namespaces.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        # The SPKI list is honoured only with a profile of one's own.
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(arg)
    hashes = [spki_hash(pem) for pem in trusted_certs]
    if hashes:
        options.add_argument("--ignore-certificate-errors-spki-list=" + ",".join(hashes))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver


def wait_until(driver: webdriver.Chrome, script: str, *args: Any, what: str) -> Any:
    """Polls `script` (a function body, `return …`) in the page until it
    returns something truthy, and returns that; fails after WAIT_SECONDS
    saying what did not happen and what the page logged."""
    try:
        return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(
            lambda d: d.execute_script(script, *args)
        )
    except TimeoutException:
        console = "\n".join(entry["message"] for entry in driver.get_log("browser"))
        raise AssertionError(
            f"the page did not reach: {what} (within {WAIT_SECONDS} s)\npage console:\n{console}"
        ) from None


def protocol_of(driver: webdriver.Chrome, url: str) -> str:
    """The protocol ("h2", "http/1.1") Chromium received `url`'s response
    over, from its performance log (a page's own timing API hides it for
    another origin). Reads the log since the last call."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived" and message["params"]["response"]["url"] == url:
            return message["params"]["response"].get("protocol", "")
    raise AssertionError(f"Chromium logged no response for {url}")
