"""SVG snapshots of the main screens at a fixed size, exported by the app itself.

Set ``UPDATE_SNAPSHOTS=1`` to rewrite the stored files after a deliberate change; the same
SVGs are copied to ``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kanjian.agent.config import Settings
from kanjian.agent.events import (
    AnswerDelta,
    AnswerDone,
    Event,
    ImageAdded,
    StepStarted,
    Thought,
    ToolCallEvent,
    ToolResultEvent,
)
from kanjian.tui.app import KanjianApp
from kanjian.tui.widgets.graphics import image_widget_class
from kanjian.tui.widgets.prompt import PromptInput
from tests.tui.conftest import ScriptedSource, make_app, started

STORED = Path(__file__).parent / "snapshots"
SIZE = (100, 30)


def conversation(image: Path) -> list[Event]:
    boxes = [{"label": "red square", "box": [16, 12, 40, 36], "box_norm": [250, 250, 625, 750]}]
    args = {"image": "image_1", "query": "the red square"}
    return [
        ImageAdded("image_1", "square.png", 64, 48, path=str(image)),
        StepStarted(1),
        Thought(1, "Find the square first, then answer."),
        ToolCallEvent(1, "c1", "ground", args),
        ToolResultEvent(1, "c1", "ground", args, {"boxes": boxes}, "1 box: red square", 0.42),
        StepStarted(2),
        AnswerDelta("The **red square** sits in the middle:\n\n"),
        AnswerDelta("```python\nbox = (16, 12, 40, 36)\n```\n"),
        AnswerDone(
            "The **red square** sits in the middle:\n\n```python\nbox = (16, 12, 40, 36)\n```\n"
        ),
    ]


def normalise(svg: str, tmp: Path) -> str:
    # Paths under tmp differ per run. So does Rich's id for the SVG's classes, a checksum of
    # the segments' reprs, which include the address of an image (a crop) drawn from memory.
    svg = re.sub(r"terminal-\d+", "terminal", svg)
    return re.sub(re.escape(str(tmp)) + r"[^\s<]*", "TMP", svg)


async def snapshot(app: KanjianApp) -> str:
    return app.export_screenshot(simplify=True)


def check(name: str, svg: str) -> None:
    path = STORED / f"{name}.svg"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        STORED.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        (docs / f"{name}.svg").write_text(svg, encoding="utf-8")
        pytest.skip(f"stored a new snapshot {path.name}; rerun to compare")
    assert svg == path.read_text(encoding="utf-8"), (
        f"{name} differs; UPDATE_SNAPSHOTS=1 if intended"
    )


async def test_snapshot_no_server(settings: Settings, tmp_path: Path) -> None:
    app = make_app(settings, ScriptedSource(), image_mode="none")
    async with app.run_test(size=SIZE) as pilot:
        app.query_one(PromptInput).cursor_blink = False
        await started(app)
        await pilot.pause()
        check("no-server", normalise(await snapshot(app), tmp_path))


async def test_snapshot_chat(settings: Settings, image_path: Path, tmp_path: Path) -> None:
    # textual-image loaded first (as the warm-up does), whichever test ran before.
    image_widget_class("halfcell")
    app = make_app(settings, ScriptedSource(conversation(image_path)), image_mode="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        app.query_one(PromptInput).cursor_blink = False
        await started(app)
        app.query_one("#banner").message = ""  # type: ignore[attr-defined]
        app.query_one(PromptInput).insert("Where is the red square?")
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        # The turn mounted the image view, whose worker loads textual-image and the picture.
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("ctrl+o")
        # The live tokens/s estimate depends on how fast this machine ran the deltas.
        app.status.tokens_per_s = 0.0
        await pilot.pause()
        check("chat", normalise(await snapshot(app), tmp_path))
