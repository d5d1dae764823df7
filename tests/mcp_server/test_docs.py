"""docs/mcp.md works as written: every client config in it connects, and its snippets run.

Each config (Claude Desktop and Claude Code JSON, ``claude mcp add`` lines, Codex CLI and gptme
TOML) is read from the page and turned into a connection for the official MCP client: a stdio
server is started exactly as the config says (``kanjian`` found on ``PATH``), an HTTP one is
reached at its URL with its headers. The LangChain snippet runs as a script, as a user would
run it, and prints what the page says it prints.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from kanjian.vlm.fake_server import ScriptedServer

from .conftest import KANJIAN, REPO, HttpServer, red_square, server_env, text_image, write_home

DOC = (REPO / "docs" / "mcp.md").read_text(encoding="utf-8")
DOC_MODEL_URL = "http://127.0.0.1:30000"
DOC_MCP_URL = "http://127.0.0.1:8765/mcp"
TOKEN = "docs-token"

pytestmark = pytest.mark.slow


@dataclass
class Connection:
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def _entry(entry: dict[str, Any]) -> Connection:
    if "url" in entry:
        headers = dict(entry.get("headers", {}))
        if name := entry.get("bearer_token_env_var"):  # Codex
            headers["Authorization"] = f"Bearer ${{{name}}}"
        return Connection(url=entry["url"], headers=headers)
    return Connection(entry["command"], list(entry.get("args", [])), dict(entry.get("env", {})))


def _claude_mcp_add(line: str) -> Connection:
    words = shlex.split(line)[3:]
    if "--" in words:
        options, command = words[: words.index("--")], words[words.index("--") + 1 :]
        env = dict(w.split("=", 1) for w in options[options.index("--env") + 1 :][:1])
        return Connection(command[0], command[1:], env)
    header = words[words.index("--header") + 1]
    name, _, value = header.partition(": ")
    return Connection(url=words[3], headers={name: value})


def doc_connections() -> dict[str, Connection]:
    found: dict[str, Connection] = {}
    for n, block in enumerate(_blocks("json")):
        for name, entry in json.loads(block)["mcpServers"].items():
            found[f"json {n} {name}"] = _entry(entry)
    for n, block in enumerate(_blocks("toml")):
        data = tomllib.loads(block)
        for name, entry in data.get("mcp_servers", {}).items():
            found[f"codex {n} {name}"] = _entry(entry)
        for entry in data.get("mcp", {}).get("servers", []):
            found[f"gptme {n} {entry['name']}"] = _entry(entry)
    for block in _blocks("bash"):
        for n, line in enumerate(block.splitlines()):
            if line.startswith("claude mcp add"):
                found[f"claude mcp add {n}"] = _claude_mcp_add(line)
    return found


CONNECTIONS = doc_connections()


def test_the_page_has_every_config() -> None:
    assert sorted(CONNECTIONS) == [
        "claude mcp add 0",
        "claude mcp add 1",
        "codex 0 kanjian",
        "codex 1 kanjian",
        "gptme 2 kanjian",
        "json 0 kanjian",
        "json 1 kanjian",
        "json 2 kanjian",
    ]


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user whose PATH has ``kanjian`` and whose HOME holds its config (no KANJIAN_HOME)."""
    home = tmp_path / "user"
    write_home(home / ".local" / "share" / "kanjian", memory=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "kanjian"
    shim.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(REPO))} exec {shlex.quote(KANJIAN[0])} -c "
        f'{shlex.quote(KANJIAN[2])} "$@"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    monkeypatch.delenv("KANJIAN_HOME")
    monkeypatch.delenv("KANJIAN_URL")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KANJIAN_MCP_TOKEN", TOKEN)
    return home


@pytest.fixture(scope="module")
def doc_http_server(
    model: ScriptedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    home = write_home(tmp_path_factory.mktemp("mcp-docs") / "home", memory=True)
    server = HttpServer(server_env(home, model.url), "--token", TOKEN)
    yield server
    server.stop()


def _expand(value: str) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: os.environ[m.group(1)], value)


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
async def test_each_config_connects_and_grounds(
    name: str, user: Path, model: ScriptedServer, doc_http_server: HttpServer, tmp_path: Path
) -> None:
    config = CONNECTIONS[name]
    picture = red_square(tmp_path / "red.png")
    if config.url is not None:
        assert config.url == DOC_MCP_URL
        headers = {k: _expand(v) for k, v in config.headers.items()}
        async with (
            create_mcp_http_client(headers=headers) as http,
            streamable_http_client(doc_http_server.url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            tools, ground = await _list_and_ground(session, picture)
    else:
        assert config.env == {"KANJIAN_URL": DOC_MODEL_URL}
        env = {"KANJIAN_URL": model.url}
        params = StdioServerParameters(command=config.command or "", args=config.args, env=env)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            tools, ground = await _list_and_ground(session, picture)
    assert tools == ["ask", "ocr", "ground", "zoom", "math", "memory_search"]
    assert ground.structuredContent is not None, ground.content
    assert ground.structuredContent["boxes"][0]["box"] == [100, 75, 300, 225]


async def _list_and_ground(session: ClientSession, picture: Path) -> tuple[list[str], Any]:
    await session.initialize()
    tools = [t.name for t in (await session.list_tools()).tools]
    ground = await session.call_tool("ground", {"image": str(picture), "query": "the square"})
    return tools, ground


def test_the_langchain_snippet_prints_what_the_page_says(user: Path, tmp_path: Path) -> None:
    snippet = next(b for b in _blocks("python") if "MultiServerMCPClient" in b)
    shown = DOC.split(snippet)[1].split("```text\n")[1].split("```")[0]
    text_image(tmp_path / "receipt.png", ["Hello World", "Total 42.50"])
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]},
    )
    assert done.returncode == 0, done.stderr
    printed, expected = done.stdout.splitlines(), shown.splitlines()
    assert printed[:3] == expected[:3]
    # OCR boxes may move by a pixel with another onnxruntime build; the text may not.
    assert [line.split("] ")[-1] for line in printed[3:]] == ["Hello World", "Total 42.50"]
    assert [line.split("] ")[-1] for line in expected[3:]] == ["Hello World", "Total 42.50"]
    # The README shows the same output.
    assert shown in (REPO / "README.md").read_text(encoding="utf-8")


async def test_the_python_client_example_runs(
    user: Path, model: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = next(b for b in _blocks("python") if "StdioServerParameters" in b)
    head, _, body = example.partition("\n\n")
    red_square(tmp_path / "shot.png")
    monkeypatch.chdir(tmp_path)
    # The example leaves the model URL to kanjian's config, as a user's setup would.
    config = user / ".local" / "share" / "kanjian" / "config.toml"
    config.write_text(f'[vlm]\nurl = "{model.url}"\nretries = 0\n', encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(head + "\n\nasync def main():\n" + textwrap.indent(body, "    "), namespace)
    await namespace["main"]()
