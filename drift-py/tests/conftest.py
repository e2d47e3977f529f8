"""Shared fixtures: one in-process TLS server (with its generated
certificate) and one h2c server for the whole session, clients for each, and
unique topic names so that tests never see each other's messages."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

import drift

_topics = itertools.count()


@pytest.fixture(scope="session")
def server() -> Iterator[drift.Server]:
    """A TLS server with a self-signed certificate, on a free loopback port."""
    with drift.Server(heartbeat=1.0) as s:
        yield s


@pytest.fixture(scope="session")
def h2c_server() -> Iterator[drift.Server]:
    """A cleartext (h2c) server on a free loopback port."""
    with drift.Server(h2c=True) as s:
        yield s


@pytest.fixture(params=["tls", "h2c"])
def any_server(request: pytest.FixtureRequest) -> drift.Server:
    """Each test using it runs against both servers."""
    name = "server" if request.param == "tls" else "h2c_server"
    s: drift.Server = request.getfixturevalue(name)
    return s


def client_for(s: drift.Server, **kwargs: object) -> drift.Client:
    if s.ca_cert_path is not None:
        kwargs.setdefault("cafile", s.ca_cert_path)
    return drift.Client(s.url, timeout=10, **kwargs)  # type: ignore[arg-type]


def async_client_for(s: drift.Server, **kwargs: object) -> drift.AsyncClient:
    if s.ca_cert_path is not None:
        kwargs.setdefault("cafile", s.ca_cert_path)
    return drift.AsyncClient(s.url, timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(any_server: drift.Server) -> Iterator[drift.Client]:
    with client_for(any_server) as c:
        yield c


@pytest.fixture
def tls_client(server: drift.Server) -> Iterator[drift.Client]:
    with client_for(server) as c:
        yield c


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses."""
    return f"{request.node.name.split('[')[0]}-{os.getpid()}-{next(_topics)}"
