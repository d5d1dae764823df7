"""Real MCP clients against a real ``kanjian mcp`` process, with a scripted model server.

The scripted model (:class:`kanjian.vlm.fake_server.ScriptedServer`) answers the grounding
prompt with one box, and agent steps in the action protocol: a question that says ``use
ground`` grounds image_1 first; a question with ``slow`` takes :data:`SLOW` seconds to answer
(to see calls overlap); one that starts ``schema:`` is answered with an object; any other
question is answered at once, naming the images it saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from PIL import Image, ImageDraw, ImageFont

from kanjian.vlm.fake_server import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
KANJIAN = [sys.executable, "-c", "from kanjian.tui.cli import main; main()"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOX = [250, 250, 750, 750]
SLOW = 1.0
GROUNDING = "Please provide the bounding box coordinate"


def _texts(request: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for message in request["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        for part in [content] if isinstance(content, str) else content:
            texts.append(part if isinstance(part, str) else part.get("text", ""))
    return texts


async def respond(request: dict[str, Any]) -> str:
    texts = _texts(request)
    if any(GROUNDING in t for t in texts):
        return f"<ref>the red square</ref><box>[{BOX}]</box>"
    question = [t for t in texts if t and not t.startswith("Observation from")]
    asked = [t for t in question if not re.fullmatch(r"image_\d+:", t)][-1]
    ids = [t[:-1] for t in texts if re.fullmatch(r"image_\d+:", t)]
    observed = [t for t in texts if t.startswith("Observation from")]
    if "slow" in asked:
        await asyncio.sleep(SLOW)
    # With a schema the question is followed by the schema's note: look at every user text.
    if any(t.startswith("schema:") for t in question):
        return json.dumps({"thought": "done", "answer": {"colour": "red", "sides": 4}})
    if "use ground" in asked and not observed:
        args = {"image": "image_1", "query": "the red square"}
        return json.dumps({"thought": "find it", "tool": "ground", "args": args})
    answer = f"answer: {asked} | images: {','.join(ids)} | steps: {len(observed)}"
    return json.dumps({"thought": "done", "answer": answer})


@pytest.fixture(scope="session")
def model() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=respond) as srv:
        yield srv


def write_home(home: Path, *, memory: bool = False) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    config = '[vlm]\nretries = 0\n\n[memory]\nenabled = {}\nembedder = "hash"\n'
    (home / "config.toml").write_text(config.format(str(memory).lower()), encoding="utf-8")
    return home


def server_env(home: Path, url: str) -> dict[str, str]:
    """The environment a client gives ``kanjian mcp``: this one, with home and model URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANJIAN_")}
    return env | {"KANJIAN_HOME": str(home), "KANJIAN_URL": url, "PYTHONPATH": str(REPO)}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return write_home(tmp_path / "home")


@asynccontextmanager
async def stdio_session(
    env: dict[str, str], *args: str, cwd: Path = REPO
) -> AsyncIterator[ClientSession]:
    """The official client, spawning ``kanjian mcp ARGS`` over stdio."""
    params = StdioServerParameters(
        command=KANJIAN[0], args=[*KANJIAN[1:], "mcp", *args], env=env, cwd=cwd
    )
    # The server's stderr (its logs) is not part of what these tests check.
    errlog = open(os.devnull, "w")  # noqa: ASYNC230, SIM115 - /dev/null does not block
    try:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
    finally:
        errlog.close()


class HttpServer:
    """``kanjian mcp --http 0 ARGS`` in a subprocess; ``url`` read from its stderr."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [*KANJIAN, "mcp", "--http", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.url = self._wait_url()

    def _wait_url(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            if found := re.search(r"serving (http://\S+/mcp)", line):
                return found.group(1)
        self.stop()
        raise RuntimeError(f"kanjian mcp --http did not start (exit {self.proc.returncode})")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def red_square(path: Path) -> Path:
    image = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(image).rectangle((100, 75, 300, 225), fill=(220, 20, 20))
    image.save(path, format="PNG")
    return path


def text_image(path: Path, lines: list[str]) -> Path:
    image = Image.new("RGB", (640, 200), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 32) if Path(FONT).exists() else ImageFont.load_default(32)
    for n, line in enumerate(lines):
        draw.text((30, 30 + n * 60), line, fill="black", font=font)
    image.save(path, format="PNG")
    return path


def http_status(exc: BaseException) -> int | None:
    """The HTTP status inside whatever the SDK and anyio wrapped around it."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    inner = [*getattr(exc, "exceptions", ()), exc.__cause__, exc.__context__]
    found = [http_status(e) for e in inner if e is not None]
    return next((s for s in found if s is not None), None)
