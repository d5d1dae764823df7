"""How image arguments from clients are read, and how tool schemas are shown to them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from kanjian.tools.builtin import builtin_tools
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.errors import ToolInputError
from kanjian.tui.mcp_server.inputs import bind_images, image_source, mcp_schema
from kanjian.vlm.errors import ImageError

from .conftest import red_square


def test_paths_base64_and_data_urls(tmp_path: Path) -> None:
    path = red_square(tmp_path / "red.png")
    data = path.read_bytes()
    encoded = base64.b64encode(data).decode()
    assert image_source(str(path), "image") == str(path)
    assert image_source(f"  {path}\n", "image") == str(path)
    assert image_source(encoded, "image") == data
    # Wrapped base64 (as some clients send it) is fine too.
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert image_source(wrapped, "image") == data
    assert image_source(f"data:image/png;base64,{encoded}", "image") == data
    # A missing file stays a path, so loading it says "no such file".
    assert image_source("receipt.png", "image") == "receipt.png"


def test_a_file_named_like_base64_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "A" * 40
    (tmp_path / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert image_source(name, "image") == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "is empty"),
        ("-", "standard input"),
        ("data:image/png,abc", "not base64"),
        ("data:image/png;base64,@@@@", "not base64"),
    ],
)
def test_bad_values_are_one_sentence(value: str, message: str) -> None:
    with pytest.raises(ToolInputError, match=message):
        image_source(value, "images[0]")


def test_image_ids_become_images_in_the_schema() -> None:
    tools = {t.name: t for t in builtin_tools()}
    shown = mcp_schema(tools["ocr"].args_schema)
    assert "file path" in shown["properties"]["image"]["description"]
    assert shown["properties"]["region"] == tools["ocr"].args_schema["properties"]["region"]
    # The tool's own schema is untouched.
    assert tools["ocr"].args_schema["properties"]["image"]["description"].startswith("Image id")
    assert mcp_schema(tools["math"].args_schema) == tools["math"].args_schema


async def test_bind_images_registers_each_as_an_id(tmp_path: Path) -> None:
    path = red_square(tmp_path / "red.png")
    ctx = SimpleToolContext()
    schema = next(t for t in builtin_tools() if t.name == "zoom").args_schema
    bound, shown = await bind_images(schema, {"image": str(path), "box": [0, 0, 10, 10]}, ctx)
    assert bound == {"image": "image_1", "box": [0, 0, 10, 10]}
    assert shown == {"image_1": str(path)}
    assert ctx.image("image_1").size == (400, 300)
    encoded = base64.b64encode(path.read_bytes()).decode()
    _, shown = await bind_images(schema, {"image": encoded}, ctx)
    assert shown == {"image_2": "<base64 image>"}
    with pytest.raises(ImageError, match="no such file"):
        await bind_images(schema, {"image": str(tmp_path / "no.png")}, SimpleToolContext())


@pytest.mark.parametrize("builtin_only", [True, False])
async def test_disabled_tools_are_not_served(builtin_only: bool) -> None:
    from kanjian.agent.config import load_settings
    from kanjian.tui.mcp_server.toolset import exposed_tools

    settings = load_settings({"tools.disabled": ["zoom", "memory_*"], "memory.enabled": True})
    tools, problems = await exposed_tools(
        settings, _no_kanjian, builtin_only=builtin_only, allow_effects=False
    )
    assert [t.name for t in tools] == ["ocr", "ground", "math"]
    assert problems == []
    settings = load_settings({"memory.enabled": True})
    tools, _ = await exposed_tools(settings, _no_kanjian, builtin_only=True, allow_effects=False)
    assert [t.name for t in tools] == ["ocr", "ground", "zoom", "math", "memory_search"]


def _no_kanjian() -> Any:
    raise AssertionError("memory_search was run; listing the tools must not open memory")


def test_arguments_of_plain_tools_are_checked_with_one_sentence() -> None:
    from kanjian.tui.mcp_server.ask import ASK_TOOL
    from kanjian.tui.mcp_server.inputs import check_arguments

    check_arguments("ask", ASK_TOOL.inputSchema, {"question": "hi", "images": ["a.png"]})
    with pytest.raises(ToolInputError) as missing:
        check_arguments("ask", ASK_TOOL.inputSchema, {"images": []})
    assert str(missing.value) == (
        "Tool 'ask' cannot take these arguments: 'question' is a required property. "
        "Its arguments are: question, images, schema, session."
    )
    with pytest.raises(ToolInputError, match=r"argument 'images': 'a\.png' is not of type 'array'"):
        check_arguments("ask", ASK_TOOL.inputSchema, {"question": "hi", "images": "a.png"})
