"""langchain-mcp-adapters' MultiServerMCPClient against ``kanjian mcp``, stdio and HTTP.

The adapter opens a fresh session (a fresh ``kanjian mcp`` process over stdio) for every call,
so the stdio test keeps to a few calls; the concurrent ones go over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from PIL import Image

from kanjian.vlm.fake_server import ScriptedServer

from .conftest import (
    BOX,
    KANJIAN,
    SLOW,
    HttpServer,
    http_status,
    red_square,
    server_env,
    write_home,
)

TOKEN = "lc-token"


@pytest.fixture(scope="module")
def http_server(
    model: ScriptedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    home = write_home(tmp_path_factory.mktemp("mcp-lc") / "home")
    env = server_env(home, model.url)
    server = HttpServer(env, "--token", TOKEN, "--concurrency", "20")
    yield server
    server.stop()


async def _call(tool: Any, args: dict[str, Any]) -> ToolMessage:
    """Invoke as an agent does (a tool call), to get the message with its content blocks."""
    call = {"type": "tool_call", "id": "call-1", "name": tool.name, "args": args}
    message = await tool.ainvoke(call)
    assert isinstance(message, ToolMessage)
    return message


def _blocks(message: ToolMessage, kind: str) -> list[dict[str, Any]]:
    assert isinstance(message.content, list)
    return [b for b in message.content if isinstance(b, dict) and b.get("type") == kind]


async def test_stdio(model: ScriptedServer, home: Path, tmp_path: Path) -> None:
    picture = red_square(tmp_path / "red.png")
    client = MultiServerMCPClient(
        {
            "kanjian": {
                "transport": "stdio",
                "command": KANJIAN[0],
                "args": [*KANJIAN[1:], "mcp"],
                "env": server_env(home, model.url),
            }
        }
    )
    tools = {t.name: t for t in await client.get_tools()}
    assert sorted(tools) == ["ask", "ground", "math", "ocr", "zoom"]
    zoom = await _call(tools["zoom"], {"image": str(picture), "box": BOX})
    [crop] = _blocks(zoom, "image")
    assert crop["mime_type"] == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(crop["base64"]))).size == (220, 166)
    assert zoom.artifact["structured_content"]["crop_px"] == [90, 67, 310, 233]
    # A tool error reaches the agent as an error message it can react to.
    missing = await _call(tools["ocr"], {"image": str(tmp_path / "missing.png")})
    assert missing.status == "error" and "no such file" in str(missing.content)


async def test_http_with_token(http_server: HttpServer, tmp_path: Path) -> None:
    picture = red_square(tmp_path / "red.png")
    client = MultiServerMCPClient(
        {
            "kanjian": {
                "transport": "streamable_http",
                "url": http_server.url,
                "headers": {"Authorization": f"Bearer {TOKEN}"},
            }
        }
    )
    tools = {t.name: t for t in await client.get_tools()}
    ground = await _call(tools["ground"], {"image": str(picture), "query": "the red square"})
    assert len(_blocks(ground, "image")) == 1
    assert ground.artifact["structured_content"]["boxes"][0]["box"] == [100, 75, 300, 225]
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(tools["ask"].ainvoke({"question": f"slow {n}"}) for n in range(20))
    )
    wall = time.perf_counter() - started
    assert all(f"slow {n} |" in str(a) for n, a in enumerate(answers))
    # One after another: 20 × SLOW. The adapter opens a session per call, which costs CPU
    # on both sides, so the bound is looser than for one client session (test_http).
    assert wall < 20 * SLOW, f"20 calls took {wall:.2f} s"


async def test_http_without_token_is_refused(http_server: HttpServer) -> None:
    client = MultiServerMCPClient(
        {"kanjian": {"transport": "streamable_http", "url": http_server.url}}
    )
    with pytest.raises(Exception) as caught:
        await client.get_tools()
    assert http_status(caught.value) == 401
