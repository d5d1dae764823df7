"""Fixtures for agent tests: a real scripted model server reached through SGLangClient."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from kanjian.vlm.client import SGLangClient
from kanjian.vlm.fake_server import ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
async def client(server: ScriptedServer) -> AsyncIterator[SGLangClient]:
    backend = SGLangClient(server.url, retries=0)
    yield backend
    await backend.aclose()
