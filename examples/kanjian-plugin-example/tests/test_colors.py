"""The plugin's tools, called the way kanjian calls them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kanjian_colors import dominant_colors, register, save_note
from PIL import Image

from kanjian.tools.context import SimpleToolContext
from kanjian.tools.errors import ToolFailed, ToolInputError
from kanjian.tools.registry import ToolRegistry


def _flag() -> Image.Image:
    """Three quarters red, one quarter blue."""
    image = Image.new("RGB", (400, 200), (220, 20, 20))
    image.paste((20, 40, 200), (300, 0, 400, 200))
    return image


async def test_dominant_colors_finds_the_two_colours() -> None:
    ctx = SimpleToolContext({"image_1": _flag()})
    out = await dominant_colors.run({"image": "image_1", "k": 2}, ctx)
    colours = out.data["colors"]
    assert [c["rgb"] for c in colours] == [[220, 20, 20], [20, 40, 200]]
    assert [c["share"] for c in colours] == [0.75, 0.25]
    assert colours[0]["hex"] == "#dc1414"


async def test_dominant_colors_checks_its_arguments() -> None:
    ctx = SimpleToolContext({"image_1": _flag()})
    with pytest.raises(ToolInputError, match="'k'"):
        await dominant_colors.run({"image": "image_1", "k": 99}, ctx)
    with pytest.raises(ToolInputError, match="image_7"):
        await dominant_colors.run({"image": "image_7"}, ctx)


async def test_save_note_writes_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANJIAN_NOTES_DIR", str(tmp_path))
    assert save_note.side_effects is True
    first = await save_note.run({"text": "Buy milk", "title": "Shopping list"}, SimpleToolContext())
    second = await save_note.run(
        {"text": "And eggs", "title": "Shopping list"}, SimpleToolContext()
    )
    assert Path(first.data["path"]).name == "shopping-list.md"
    assert Path(second.data["path"]).name == "shopping-list-2.md"
    written = await asyncio.to_thread(Path(first.data["path"]).read_text, encoding="utf-8")
    assert written == "# Shopping list\n\nBuy milk\n"


async def test_save_note_needs_its_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANJIAN_NOTES_DIR", raising=False)
    with pytest.raises(ToolFailed, match="KANJIAN_NOTES_DIR"):
        await save_note.run({"text": "x"}, SimpleToolContext())


def test_register_adds_both_tools() -> None:
    registry = ToolRegistry()
    register(registry)
    assert registry.names() == ["dominant_colors", "save_note"]
