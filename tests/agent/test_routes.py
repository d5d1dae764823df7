"""Every route through the real built-in tools (RapidOCR, SymPy, the grounding parser, zoom).

The model is scripted (ScriptedServer over real HTTP through SGLangClient); the tools are
the ones users have. Each test checks what the model was shown after each tool ran.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from kanjian.agent.events import Event, ImageAdded, RunFinished, ToolResultEvent
from kanjian.agent.loop import Agent
from kanjian.tools.builtin import builtin_tools
from kanjian.vlm.client import SGLangClient
from kanjian.vlm.fake_server import ScriptedServer

from .helpers import answer, collect, texts, tool_call

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
GROUND_BOX = "<ref>the red square</ref><box>[[250, 250, 750, 750]]</box>"


def _text_png(
    lines: list[str], size: tuple[int, int] = (640, 240), at: tuple[int, int] = (30, 30)
) -> bytes:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 32) if Path(FONT).exists() else ImageFont.load_default(32)
    for i, line in enumerate(lines):
        draw.text((at[0], at[1] + i * 60), line, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _square_png() -> bytes:
    image = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(image).rectangle((100, 50, 300, 150), fill="red")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _script(*steps: str) -> Callable[[dict[str, Any]], str]:
    """Agent steps in order; grounding requests (they carry a regex) get a box."""
    queue = list(steps)

    def respond(request: dict[str, Any]) -> str:
        if "regex" in request:
            return GROUND_BOX
        return queue.pop(0)

    return respond


def _observations(server: ScriptedServer) -> list[list[str]]:
    """The texts of each observation message the model was sent, in order."""
    last = [r.json for r in server.chat_requests if "regex" not in r.json][-1]
    return [
        texts(m)
        for m in last["messages"]
        if m["role"] == "user" and texts(m)[0].startswith("Observation from")
    ]


def _results(events: list[Event]) -> list[ToolResultEvent]:
    return [e for e in events if isinstance(e, ToolResultEvent)]


def _final(events: list[Event]) -> RunFinished:
    assert isinstance(events[-1], RunFinished)
    return events[-1]


@pytest.fixture
def agent(client: SGLangClient) -> Agent:
    return Agent(client, builtin_tools())


async def test_ocr_route(server: ScriptedServer, agent: Agent) -> None:
    server.responder = _script(tool_call("ocr", image="image_1"), answer("It says Hello World."))
    events = await collect(
        agent.run("What does it say?", [_text_png(["Hello World", "Total 42.50"])])
    )
    [result] = _results(events)
    assert result.error is None
    assert [line["text"] for line in result.output["lines"]] == ["Hello World", "Total 42.50"]
    [observation] = _observations(server)
    assert observation[0].startswith("Observation from ocr:\n2 text lines in image_1")
    assert "Hello World" in observation[0] and "Total 42.50" in observation[0]
    final = _final(events)
    assert final.answer == "It says Hello World." and final.to_json()["steps"][0]["tool"] == "ocr"


async def test_grounding_route(server: ScriptedServer, agent: Agent) -> None:
    server.responder = _script(
        tool_call("ground", image="image_1", query="the red square"), answer("In the middle.")
    )
    events = await collect(agent.run("Where is the red square?", [_square_png()]))
    [result] = _results(events)
    assert result.error is None and result.images == ("image_2",)
    [box] = result.output["boxes"]
    assert box["box_norm"] == [250, 250, 750, 750]
    assert box["box"] == [100, 50, 300, 150]
    overlay = next(e for e in events if isinstance(e, ImageAdded) and e.image_id == "image_2")
    assert (overlay.parent, overlay.width, overlay.height) == ("image_1", 400, 200)
    assert overlay.path is not None and await asyncio.to_thread(os.path.isfile, overlay.path)
    grounding = next(r.json for r in server.chat_requests if "regex" in r.json)
    assert "<ref>the red square</ref>" in grounding["messages"][0]["content"][1]["text"]
    [observation] = _observations(server)
    assert observation[1:] == ["image_2:", "<img>"]
    assert "[250, 250, 750, 750]" in observation[0]


async def test_zoom_then_ocr_route(server: ScriptedServer, agent: Agent) -> None:
    # Small text in the bottom-right corner of a large image: zoom in, then read the crop.
    image = _text_png(["SN 7731-A"], size=(2400, 1600), at=(1900, 1450))
    server.responder = _script(
        tool_call("zoom", image="image_1", box=[750, 850, 1000, 1000]),
        tool_call("ocr", image="image_2"),
        answer("The serial number is SN 7731-A."),
    )
    events = await collect(agent.run("What is the serial number?", [image]))
    zoom, ocr = _results(events)
    assert (zoom.tool, zoom.images, zoom.error) == ("zoom", ("image_2",), None)
    crop = next(e for e in events if isinstance(e, ImageAdded) and e.image_id == "image_2")
    assert crop.parent == "image_1" and crop.width < 2400
    assert ocr.error is None and "SN 7731-A" in ocr.output["text"]
    first, second = _observations(server)
    assert first[0].startswith("Observation from zoom:") and first[1:] == ["image_2:", "<img>"]
    assert second[0].startswith("Observation from ocr:") and "SN 7731-A" in second[0]
    final = _final(events)
    assert [s["tool"] for s in final.to_json()["steps"]] == ["zoom", "ocr"]
    assert set(final.images) == {"image_1", "image_2"}


async def test_ocr_then_math_route(server: ScriptedServer, agent: Agent) -> None:
    server.responder = _script(
        tool_call("ocr", image="image_1"),
        tool_call("math", expression="42.50 + 3.40"),
        answer("The total with tax is 45.90."),
    )
    events = await collect(
        agent.run("Total with tax?", [_text_png(["Subtotal 42.50", "Tax 3.40"])])
    )
    ocr, math = _results(events)
    assert "42.50" in ocr.output["text"] and "3.40" in ocr.output["text"]
    assert math.error is None and (math.output["result"], math.output["numeric"]) == (
        "459/10",
        "45.9",
    )
    _, observation = _observations(server)
    assert observation[0] == "Observation from math:\n42.50 + 3.40 → 459/10 (≈ 45.9)"
    final = _final(events)
    assert final.answer == "The total with tax is 45.90."
    record = json.loads(json.dumps(final.to_json()))
    assert [s["tool"] for s in record["steps"]] == ["ocr", "math"]


async def test_math_error_is_an_observation(server: ScriptedServer, agent: Agent) -> None:
    server.responder = _script(
        tool_call("math", expression="__import__('os').system('touch x')"), answer("No.")
    )
    events = await collect(agent.run("Hack?"))
    [result] = _results(events)
    assert result.error
    [observation] = _observations(server)
    assert observation[0].startswith("Observation from math:\nError: ")
    assert _final(events).answer == "No."


async def test_ground_output_names_the_stored_overlay(server: ScriptedServer, agent: Agent) -> None:
    server.responder = _script(
        tool_call("ground", image="image_1", query="the red square"), answer("Here.")
    )
    events = await collect(agent.run("Where?", [_square_png()]))
    [result] = _results(events)
    overlay = next(e for e in events if isinstance(e, ImageAdded) and e.image_id == "image_2")
    assert overlay.path is not None and overlay.path.endswith(".png")
    assert result.output["overlay"] == overlay.path
    assert _final(events).to_json()["steps"][0]["output"]["overlay"] == overlay.path
