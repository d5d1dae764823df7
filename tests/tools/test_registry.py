"""ToolRegistry and load_tools: built-ins through the entry point, plugin files, problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanjian.agent.config import load_settings
from kanjian.tools.base import Tool, ToolOutput
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.decorator import tool
from kanjian.tools.errors import ToolDefinitionError, ToolInputError
from kanjian.tools.registry import ToolRegistry, load_tools


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def test_registry_is_ordered_and_rejects_clashes() -> None:
    registry = ToolRegistry([shout])
    registry.add(lambda_tool := tool(name="other")(shout.function))  # type: ignore[arg-type]
    assert registry.names() == ["shout", "other"]
    assert registry.get("other") is lambda_tool
    assert "shout" in registry and len(registry) == 2
    with pytest.raises(ToolDefinitionError, match="already taken"):
        registry.add(shout)
    with pytest.raises(ToolInputError, match=r"no tool 'nope'; the tools are: shout, other"):
        registry.get("nope")
    assert registry.filtered(["oth*"]).names() == ["shout"]


def test_registry_adds_plain_functions() -> None:
    def double(x: int) -> int:
        """Double a number."""
        return 2 * x

    registry = ToolRegistry(source="plugin file x.py")
    added = registry.add(double)
    assert added.name == "double" and added.source == "plugin file x.py"


def test_registry_rejects_bad_schema() -> None:
    async def run(args: dict[str, object], ctx: object) -> ToolOutput:
        return ToolOutput("")

    bad = Tool(name="bad", description="Bad.", args_schema={"type": "string"}, run=run)  # type: ignore[arg-type]
    with pytest.raises(ToolDefinitionError, match='"type": "object"'):
        ToolRegistry([bad])


def test_builtins_load_through_the_entry_point() -> None:
    registry, problems = load_tools(load_settings())
    assert problems == []
    assert registry.names()[:4] == ["ocr", "ground", "zoom", "math"]
    assert {t.source for t in registry.tools()[:4]} == {"builtin"}
    assert not any(t.side_effects for t in registry.tools()[:4])


def _write(folder: Path, name: str, source: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(source, encoding="utf-8")


async def test_plugin_folder_and_its_problems(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    _write(
        plugins,
        "good.py",
        "from kanjian.tools.decorator import tool\n"
        "from kanjian.tools.builtin.math import math  # imported, so not this file's tool\n"
        "@tool\n"
        "def reverse(text: str) -> str:\n"
        "    '''Reverse a text.'''\n"
        "    return text[::-1]\n",
    )
    _write(
        plugins,
        "hooked.py",
        "def register(registry):\n"
        "    def twice(text: str) -> str:\n"
        "        '''Repeat a text twice.'''\n"
        "        return text * 2\n"
        "    registry.add(twice)\n",
    )
    _write(plugins, "broken.py", "import not_a_module_anywhere\n")
    _write(plugins, "raises.py", "def register(registry):\n    raise RuntimeError('nope')\n")
    _write(
        plugins,
        "clash.py",
        "from kanjian.tools.decorator import tool\n@tool\ndef ocr(x: int) -> int:\n    '''Clash.'''\n    return x\n",
    )
    _write(plugins, "hangs.py", "import time\ntime.sleep(30)\n")
    _write(plugins, "empty.py", "X = 1\n")
    _write(plugins, "_private.py", "raise SystemExit('never imported')\n")
    settings = load_settings({"tools.plugin_dir": str(plugins), "tools.disabled": ["zoom"]})

    registry, problems = load_tools(settings, load_timeout=1.5)

    assert registry.names() == ["ocr", "ground", "math", "reverse", "twice"]
    assert registry.get("reverse").source == "plugin file good.py"
    by_source = {p.source: p.message for p in problems}
    assert set(by_source) == {
        "plugin file broken.py",
        "plugin file raises.py",
        "plugin file clash.py",
        "plugin file hangs.py",
        "plugin file empty.py",
    }
    assert "ModuleNotFoundError" in by_source["plugin file broken.py"]
    assert "RuntimeError: nope" in by_source["plugin file raises.py"]
    assert "already taken by builtin" in by_source["plugin file clash.py"]
    assert "within 1.5 s" in by_source["plugin file hangs.py"]
    assert "defines no tools" in by_source["plugin file empty.py"]
    out = await registry.get("twice").run({"text": "ab"}, SimpleToolContext())
    assert out.text == "abab"
