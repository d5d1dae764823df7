"""LangChain tools mounted as they are: directly, from a plugin file, with images."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from langchain_core.tools import StructuredTool
from langchain_core.tools import tool as lc_tool
from PIL import Image

from kanjian.agent.config import load_settings
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.errors import ToolFailed, ToolInputError
from kanjian.tools.langchain_tools import from_langchain
from kanjian.tools.registry import ToolRegistry, load_tools


@lc_tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    More detail that stays out of the prompt.
    """
    return a * b


async def test_a_langchain_tool_runs_as_a_kanjian_tool() -> None:
    mounted = from_langchain(multiply)
    assert mounted.name == "multiply"
    assert mounted.description == "Multiply two integers."
    assert mounted.side_effects is True  # LangChain cannot say, so approval is required
    assert mounted.args_schema["required"] == ["a", "b"]
    assert mounted.args_schema["properties"]["a"] == {"type": "integer"}
    out = await mounted.run({"a": 6, "b": 7}, SimpleToolContext())
    assert out.text == "42" and out.data == {"result": "42"}
    with pytest.raises(ToolInputError, match="'a'"):
        await mounted.run({"a": "six", "b": 7}, SimpleToolContext())


async def test_errors_and_image_content() -> None:
    def explode() -> str:
        """Explode."""
        raise RuntimeError("kaboom")

    def picture() -> list[dict[str, str]]:
        """A red square."""
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
        data = base64.b64encode(buffer.getvalue()).decode()
        return [
            {"type": "text", "text": "a square"},
            {"type": "image", "base64": data, "mime_type": "image/png"},
        ]

    with pytest.raises(ToolFailed, match="kaboom"):
        await from_langchain(StructuredTool.from_function(explode)).run({}, SimpleToolContext())
    out = await from_langchain(StructuredTool.from_function(picture)).run({}, SimpleToolContext())
    assert out.text == "a square"
    assert out.images[0].image.getpixel((1, 1)) == (255, 0, 0)


def test_registry_add_mounts_langchain_tools() -> None:
    registry = ToolRegistry(source="plugin file lc.py")
    assert registry.add(multiply).source == "plugin file lc.py"


def test_plugin_file_with_a_langchain_tool(tmp_path: Path) -> None:
    (tmp_path / "lc.py").write_text(
        "from langchain_core.tools import tool\n"
        "@tool\n"
        "def upper(text: str) -> str:\n"
        "    '''Upper-case a text.'''\n"
        "    return text.upper()\n",
        encoding="utf-8",
    )
    registry, problems = load_tools(load_settings({"tools.plugin_dir": str(tmp_path)}))
    assert problems == []
    assert registry.get("upper").source == "plugin file lc.py"
