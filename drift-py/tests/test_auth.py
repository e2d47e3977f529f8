"""Authentication from Python (issue 22): drift.Server(jwt_secret_file=...,
anonymous=...), Client(token=...) and AsyncClient(token=...), and the
refusals as exceptions. Tokens are made here with the standard library
(HS256 is an HMAC over two base64url JSON objects), as another program's
tokens would be."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator

import pytest

import drift

SECRET_FILE = os.path.join(
    os.path.dirname(__file__), "..", "..", "drift-core", "tests", "data", "jwt", "secret"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(publish: list[str], subscribe: list[str], ttl: int = 600) -> str:
    with open(SECRET_FILE, "rb") as f:
        secret = f.read().rstrip(b"\r\n")
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {
        "sub": "py",
        "exp": int(time.time()) + ttl,
        "drift": {"publish": publish, "subscribe": subscribe},
    }
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[drift.Server]:
    with drift.Server(h2c=True, jwt_secret_file=SECRET_FILE, anonymous=["public.*"]) as s:
        yield s


def test_the_options_are_server_keywords() -> None:
    defaults = drift.Server.defaults()
    for name in ("jwt_secret_file", "jwt_public_key", "jwt_issuer", "jwt_audience",
                 "jwt_allow_no_exp", "anonymous", "allow_query_token"):
        assert name in defaults, name
    assert defaults["anonymous"] == []


def test_a_token_publishes_and_subscribes(auth_server: drift.Server) -> None:
    token = make_token(["news"], ["news"])
    with drift.Client(auth_server.url, token=token, timeout=10) as c:
        with c.subscribe("news") as sub:
            c.publish("news", "hello")
            got = next(sub)
            assert isinstance(got, drift.Message) and got.data == b"hello"


def test_refusals_are_unauthorized_and_forbidden(auth_server: drift.Server) -> None:
    with drift.Client(auth_server.url, timeout=10) as anonymous:
        with pytest.raises(drift.Unauthorized, match="needs a token"):
            anonymous.publish("news", "x")
    with drift.Client(auth_server.url, token="not.a.token", timeout=10) as bad:
        with pytest.raises(drift.Unauthorized, match="invalid token"):
            bad.publish("news", "x")
    with drift.Client(auth_server.url, token=make_token([], ["*"]), timeout=10) as reader:
        with pytest.raises(drift.Forbidden, match='publish to topic "news"'):
            reader.publish("news", "x")


def test_anonymous_callers_read_public_topics(auth_server: drift.Server) -> None:
    with drift.Client(auth_server.url, timeout=10) as anonymous:
        with anonymous.subscribe("public.x") as sub:
            with drift.Client(auth_server.url, token=make_token(["*"], []), timeout=10) as w:
                w.publish("public.x", "for all")
            got = next(sub)
            assert isinstance(got, drift.Message) and got.data == b"for all"


async def test_the_async_client_sends_its_token(auth_server: drift.Server) -> None:
    token = make_token(["a"], ["a"])
    async with drift.AsyncClient(auth_server.url, token=token, timeout=10) as c:
        await c.publish("a", "hi")
    async with drift.AsyncClient(auth_server.url, timeout=10) as c:
        with pytest.raises(drift.Unauthorized):
            await c.publish("a", "hi")
