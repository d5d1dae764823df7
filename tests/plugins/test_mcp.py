"""MCP servers from config, over stdio and streamable HTTP, with a real FastMCP server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kanjian.agent.config import load_settings
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.errors import PluginLoadError, ToolFailed
from kanjian.tools.mcp import minimal_env
from kanjian.tools.registry import load_tools

SERVER = str(Path(__file__).with_name("mcp_server.py"))

pytestmark = pytest.mark.slow


def _stdio(env: list[str]) -> dict[str, object]:
    return {"command": sys.executable, "args": [SERVER], "env": env}


async def test_stdio_server_sees_a_secret_only_when_its_config_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KJ_TEST_SECRET", "s3cret")
    settings = load_settings({"tools.mcp": {"closed": _stdio([])}})
    registry, problems = load_tools(settings)
    assert problems == []
    assert registry.names()[4:] == ["read_env", "add", "fail"]
    read_env = registry.get("read_env")
    assert read_env.source == "mcp server closed" and read_env.side_effects is True
    ctx = SimpleToolContext()
    assert (await read_env.run({"name": "KJ_TEST_SECRET"}, ctx)).text == "<unset>"


async def test_a_named_variable_reaches_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KJ_TEST_SECRET", "s3cret")
    settings = load_settings({"tools.mcp": {"named": _stdio(["KJ_TEST_SECRET"])}})
    registry, problems = load_tools(settings)
    assert problems == []
    out = await registry.get("read_env").run({"name": "KJ_TEST_SECRET"}, SimpleToolContext())
    assert out.text == "s3cret"


def test_minimal_env_keeps_only_the_base_and_named() -> None:
    environ = {"PATH": "/bin", "HOME": "/h", "AWS_SECRET": "x", "MINE": "y", "LANG": "C"}
    assert minimal_env(["MINE"], environ) == {
        "PATH": "/bin",
        "HOME": "/h",
        "LANG": "C",
        "MINE": "y",
    }
    with pytest.raises(PluginLoadError, match="'MINE'"):
        minimal_env(["MINE"], {"MINE": "${AWS_SECRET}"})


def test_broken_servers_are_reported_not_fatal() -> None:
    settings = load_settings(
        {
            "tools.mcp": {
                "missing": {"command": "/nonexistent/kanjian-mcp"},
                "no_url": {"transport": "streamable_http"},
            }
        }
    )
    registry, problems = load_tools(settings)
    assert "ocr" in registry
    messages = {p.source: p.message for p in problems}
    assert "did not list its tools" in messages["mcp server missing"]
    assert "has no url" in messages["mcp server no_url"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def test_streamable_http_server(http_server: str) -> None:
    settings = load_settings(
        {
            "tools.mcp": {
                "web": {"url": http_server, "transport": "streamable_http", "side_effects": False}
            }
        }
    )
    registry, problems = load_tools(settings)
    assert problems == []
    add = registry.get("add")
    assert add.side_effects is False and add.source == "mcp server web"
    assert add.args_schema["required"] == ["a", "b"]
    assert (await add.run({"a": 1, "b": 2}, SimpleToolContext())).text == "3"
    with pytest.raises(ToolFailed, match="boom"):
        await registry.get("fail").run({"message": "boom"}, SimpleToolContext())
