"""The official MCP Python client over streamable HTTP against ``kanjian mcp --http 0``."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from PIL import Image

from kanjian.vlm.fake_server import ScriptedServer

from .conftest import BOX, SLOW, HttpServer, http_status, red_square, server_env, write_home

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def http_server(
    model: ScriptedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    home = write_home(tmp_path_factory.mktemp("mcp-http") / "home")
    env = server_env(home, model.url) | {"KANJIAN_MCP_TOKEN": TOKEN}
    server = HttpServer(env, "--concurrency", "20")
    yield server
    server.stop()


@asynccontextmanager
async def http_session(url: str, token: str | None = TOKEN) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_the_token_is_required(http_server: HttpServer) -> None:
    async with httpx.AsyncClient() as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        missing = await http.post(http_server.url, json=body)
        wrong = await http.post(
            http_server.url, json=body, headers={"Authorization": "Bearer nope"}
        )
        elsewhere = await http.get(http_server.url.removesuffix("/mcp") + "/other")
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "bearer token" in response.json()["error"]
    assert elsewhere.status_code == 404
    with pytest.raises(Exception) as caught:
        async with http_session(http_server.url, token="nope"):
            pass
    assert http_status(caught.value) == 401
    async with http_session(http_server.url) as client:
        assert (await client.send_ping()) is not None


async def test_tools_over_http(http_server: HttpServer, tmp_path: Path) -> None:
    picture = red_square(tmp_path / "red.png")
    async with http_session(http_server.url) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        math = await client.call_tool("math", {"expression": "x**2 - 4 = 0"})
        ground = await client.call_tool("ground", {"image": str(picture), "query": "red"})
        missing = await client.call_tool("zoom", {"image": str(tmp_path / "no.png"), "box": BOX})
        ask = await client.call_tool("ask", {"question": "what?", "images": [str(picture)]})
        follow = await client.call_tool(
            "ask", {"question": "and now?", "session": (ask.structuredContent or {})["session"]}
        )
    assert names == ["ask", "ocr", "ground", "zoom", "math"]
    assert math.structuredContent is not None and math.structuredContent["result"] == "[-2, 2]"
    assert ground.structuredContent is not None
    assert ground.structuredContent["boxes"][0]["box"] == [100, 75, 300, 225]
    overlay = ground.content[-1]
    assert isinstance(overlay, types.ImageContent)
    assert Image.open(io.BytesIO(base64.b64decode(overlay.data))).size == (400, 300)
    assert missing.isError and "no such file" in str(missing.content[0])
    assert follow.structuredContent is not None
    # The follow-up still sees the first question's image as image_1.
    assert follow.structuredContent["answer"] == "answer: and now? | images: image_1 | steps: 0"


async def test_twenty_concurrent_calls_over_http(http_server: HttpServer) -> None:
    async with http_session(http_server.url) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.call_tool("ask", {"question": f"slow {n}"}) for n in range(20))
        )
        wall = time.perf_counter() - started
    assert not any(r.isError for r in results)
    assert wall < 10 * SLOW, f"20 calls took {wall:.2f} s; one after another: {20 * SLOW} s"
