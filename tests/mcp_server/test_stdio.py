"""The official MCP Python client over stdio, spawning ``kanjian mcp`` as a client would."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from pathlib import Path

from mcp import types
from PIL import Image

from kanjian.vlm.fake_server import ScriptedServer

from .conftest import BOX, SLOW, red_square, server_env, stdio_session, text_image


def _image(content: types.ContentBlock) -> Image.Image:
    assert isinstance(content, types.ImageContent)
    assert content.mimeType == "image/png"
    return Image.open(io.BytesIO(base64.b64decode(content.data)))


def _text(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


async def test_lists_the_tools_and_calls_each(
    model: ScriptedServer, home: Path, tmp_path: Path
) -> None:
    picture = red_square(tmp_path / "red.png")
    receipt = text_image(tmp_path / "receipt.png", ["Hello World", "Total 42.50"])
    async with stdio_session(server_env(home, model.url)) as client:
        listed = await client.list_tools()
        names = [t.name for t in listed.tools]
        assert names == ["ask", "ocr", "ground", "zoom", "math"]
        ocr_schema = next(t for t in listed.tools if t.name == "ocr").inputSchema
        assert "file path" in ocr_schema["properties"]["image"]["description"]

        math = await client.call_tool("math", {"expression": "integrate(x**2, (x, 0, 3))"})
        assert not math.isError and math.structuredContent is not None
        assert math.structuredContent["result"] == "9"

        ocr = await client.call_tool("ocr", {"image": str(receipt)})
        assert not ocr.isError and ocr.structuredContent is not None
        assert "Hello World" in ocr.structuredContent["text"]
        assert ocr.structuredContent["image"] == str(receipt)

        ground = await client.call_tool("ground", {"image": str(picture), "query": "red square"})
        assert not ground.isError and ground.structuredContent is not None
        assert ground.structuredContent["boxes"][0]["box_norm"] == BOX
        assert ground.structuredContent["boxes"][0]["box"] == [100, 75, 300, 225]
        overlay = _image(ground.content[-1])
        assert overlay.size == (400, 300)

        zoom = await client.call_tool("zoom", {"image": str(picture), "box": BOX})
        assert not zoom.isError and zoom.structuredContent is not None
        # The text names the image the way the client did, not as the model's image_1.
        assert _text(zoom).startswith(f"Cropped {str(picture)!r} at")
        crop = _image(zoom.content[-1])
        assert crop.size == (zoom.structuredContent["width"], zoom.structuredContent["height"])
        assert crop.getpixel((crop.width // 2, crop.height // 2)) == (220, 20, 20)

        ask = await client.call_tool("ask", {"question": "use ground", "images": [str(picture)]})
        assert not ask.isError and ask.structuredContent is not None
        record = json.loads(_text(ask))
        assert record == ask.structuredContent
        # The overlay ground made is image_2 for the model.
        assert record["answer"] == "answer: use ground | images: image_1,image_2 | steps: 1"
        assert [s["tool"] for s in record["steps"]] == ["ground"]
        # The overlay the run made comes back as an image too.
        assert len(ask.content) == 2 and _image(ask.content[1]).size == (400, 300)
        assert (ask.content[1].meta or {})["kanjian/image"] == "image_2"
        assert record["session"]


async def test_images_as_base64_and_data_urls(
    model: ScriptedServer, home: Path, tmp_path: Path
) -> None:
    raw = base64.b64encode(red_square(tmp_path / "red.png").read_bytes()).decode()
    async with stdio_session(server_env(home, model.url)) as client:
        plain = await client.call_tool("zoom", {"image": raw, "box": BOX})
        url = await client.call_tool("zoom", {"image": f"data:image/png;base64,{raw}", "box": BOX})
        ask = await client.call_tool("ask", {"question": "what?", "images": [raw, raw]})
    for result in (plain, url):
        assert not result.isError and result.structuredContent is not None
        assert result.structuredContent["image"] == "<base64 image>"
        assert _text(result).startswith("Cropped the image at")
        assert _image(result.content[-1]).size == (220, 166)  # the box, 5 % margin each side
    assert not ask.isError and ask.structuredContent is not None
    assert ask.structuredContent["answer"].endswith("images: image_1,image_2 | steps: 0")


async def test_errors_are_tool_errors_and_the_server_lives_on(home: Path, tmp_path: Path) -> None:
    picture = red_square(tmp_path / "red.png")
    # Nothing listens on port 9: the model server is down.
    async with stdio_session(server_env(home, "http://127.0.0.1:9")) as client:
        missing = await client.call_tool("ocr", {"image": str(tmp_path / "nope.png")})
        stdin = await client.call_tool("zoom", {"image": "-", "box": BOX})
        bad_box = await client.call_tool("zoom", {"image": str(picture), "box": [1, 2, 3]})
        down = await client.call_tool("ground", {"image": str(picture), "query": "x"})
        ask_down = await client.call_tool("ask", {"question": "hi?"})
        unknown = await client.call_tool("nope", {})
        no_session = await client.call_tool("ask", {"question": "and?", "session": "nope"})
        bad_args = await client.call_tool("math", {"expr": "1"})
        bad_ask = await client.call_tool("ask", {"question": 5})
        still = await client.call_tool("math", {"expression": "1/3 + 1/6"})
    assert missing.isError and "no such file" in _text(missing)
    assert stdin.isError and "standard input" in _text(stdin)
    assert bad_box.isError
    for result in (down, ask_down):
        assert result.isError and "Cannot reach the model server" in _text(result)
        assert _text(result).count(". ") <= 2 and "Traceback" not in _text(result)
    assert unknown.isError and "There is no tool 'nope'" in _text(unknown)
    assert no_session.isError and "'nope'" in _text(no_session)
    assert bad_args.isError
    assert _text(bad_args) == "Tool 'math' has no argument 'expr'; its arguments are: expression."
    assert bad_ask.isError and _text(bad_ask).startswith(
        "Tool 'ask' cannot take argument 'question': 5 is not of type 'string'."
    )
    assert not still.isError and still.structuredContent is not None
    assert still.structuredContent["result"] == "1/2"


async def test_twenty_concurrent_calls_overlap(model: ScriptedServer, home: Path) -> None:
    async with stdio_session(server_env(home, model.url), "--concurrency", "20") as client:
        one = time.perf_counter()
        first = await client.call_tool("ask", {"question": "slow 0"})
        one = time.perf_counter() - one
        wall = time.perf_counter()
        results = await asyncio.gather(
            *(client.call_tool("ask", {"question": f"slow {n}"}) for n in range(1, 21))
        )
        wall = time.perf_counter() - wall
    assert not first.isError
    answers = [r.structuredContent["answer"] for r in results if r.structuredContent]
    assert answers == [f"answer: slow {n} | images:  | steps: 0" for n in range(1, 21)]
    # Served one after another they would take 20 × SLOW = 10 s.
    assert wall < 10 * SLOW, f"20 calls took {wall:.2f} s (one: {one:.2f} s)"


async def test_concurrency_is_bounded(model: ScriptedServer, home: Path) -> None:
    async with stdio_session(server_env(home, model.url), "--concurrency", "2") as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.call_tool("ask", {"question": f"slow {n}"}) for n in range(4))
        )
        wall = time.perf_counter() - started
    assert not any(r.isError for r in results)
    assert wall >= 2 * SLOW * 0.95  # two at a time: at least two rounds


NOISY_PLUGIN = '''
import os
import subprocess

from kanjian.tools import tool

print("hello from import")


@tool
def shout(text: str) -> str:
    """Say it loudly.

    Args:
        text: What to say.
    """
    print("hello from a call")
    os.write(1, b"hello from file descriptor 1\\n")
    # A child inherits the standard streams: it writes to fd 1 and reads fd 0 to the end.
    subprocess.run(["sh", "-c", "echo hello from a child; cat"], timeout=10, check=True)
    return text.upper()


@tool(side_effects=True)
def send(text: str) -> str:
    """Send a message somewhere.

    Args:
        text: The message.
    """
    return "sent"
'''


async def test_a_printing_plugin_cannot_corrupt_stdio(
    model: ScriptedServer, home: Path, tmp_path: Path
) -> None:
    plugins = home / "plugins"
    plugins.mkdir()
    (plugins / "noisy.py").write_text(NOISY_PLUGIN, encoding="utf-8")
    env = server_env(home, model.url)
    async with stdio_session(env) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        shout = await client.call_tool("shout", {"text": "hi"})
    assert "shout" in names and "send" not in names  # side effects need --allow-effects
    assert not shout.isError and _text(shout) == "HI"
    async with stdio_session(env, "--builtin-only") as client:
        names = [t.name for t in (await client.list_tools()).tools]
    assert names == ["ask", "ocr", "ground", "zoom", "math"]
    async with stdio_session(env, "--allow-effects") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        sent = await client.call_tool("send", {"text": "x"})
    assert tools["send"].annotations is not None and tools["send"].annotations.destructiveHint
    assert not sent.isError and _text(sent) == "sent"


async def test_ask_reports_progress_when_asked(
    model: ScriptedServer, home: Path, tmp_path: Path
) -> None:
    picture = red_square(tmp_path / "red.png")
    seen: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, message))

    async with stdio_session(server_env(home, model.url)) as client:
        result = await client.call_tool(
            "ask",
            {"question": "use ground", "images": [str(picture)]},
            progress_callback=on_progress,
        )
    assert not result.isError
    assert len(seen) == 1
    assert seen[0][0] == 1 and (seen[0][1] or "").startswith("step 1: ground (")
