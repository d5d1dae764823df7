"""Fixtures for the client tests: a scripted server per test, and clients pointed at it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from kanjian.vlm.client import SGLangClient
from kanjian.vlm.fake_server import ScriptedServer

ClientFactory = Callable[..., SGLangClient]


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def server(_shared_server: ScriptedServer) -> ScriptedServer:
    """The session's scripted server, reset: empty queue, no records, original settings."""
    _shared_server.reset()
    return _shared_server


@pytest.fixture
async def make_client(server: ScriptedServer) -> AsyncIterator[ClientFactory]:
    """Clients for ``server`` (no backoff, so retries cost no time); all closed afterwards."""
    made: list[SGLangClient] = []

    def make(url: str | None = None, **options: Any) -> SGLangClient:
        options.setdefault("backoff", 0.0)
        client = SGLangClient(url or server.url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens: a port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
