"""docs/plugins.md works as written: its plugin files load, its commands print what it says."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from kanjian.agent.config import load_settings
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.registry import load_tools
from kanjian.tui.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
EXAMPLE_SRC = ROOT / "examples" / "kanjian-plugin-example" / "src"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def _plugin_files() -> dict[str, str]:
    files = {}
    for block in _blocks("python"):
        first, _, rest = block.partition("\n")
        if first.startswith("# file: "):
            files[first.removeprefix("# file: ").strip()] = rest
    return files


@pytest.fixture
def doc_plugins(kanjian_home: Path) -> Path:
    folder = kanjian_home / "plugins"
    folder.mkdir()
    for name, source in _plugin_files().items():
        (folder / name).write_text(source, encoding="utf-8")
    return folder


@pytest.fixture
def kanjian_home() -> Path:
    import os

    return Path(os.environ["KANJIAN_HOME"])


async def test_every_plugin_file_in_the_guide_loads_and_works(
    doc_plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sorted(_plugin_files()) == ["image_tools.py", "lc_tools.py", "notes.py", "word_tools.py"]
    registry, problems = load_tools(load_settings())
    assert problems == []
    assert registry.names()[4:] == [
        "grayscale",
        "image_sizes",
        "multiply",
        "append_note",
        "word_count",
    ]
    ctx = SimpleToolContext({"image_1": Image.new("RGB", (40, 30), (200, 10, 10))})
    grey = await registry.get("grayscale").run({"image": "image_1"}, ctx)
    assert grey.images[0].image.getpixel((0, 0))[0] == grey.images[0].image.getpixel((0, 0))[2]
    sizes = await registry.get("image_sizes").run({}, ctx)
    assert sizes.text == "image_1: 40x30"
    assert registry.get("multiply").side_effects is True
    assert (await registry.get("multiply").run({"a": 6, "b": 7}, ctx)).text == "42"
    monkeypatch.setenv("KANJIAN_NOTES_DIR", str(tmp_path))
    note = registry.get("append_note")
    assert note.side_effects is True
    await note.run({"text": "first"}, ctx)
    text = await asyncio.to_thread((tmp_path / "notes.txt").read_text, encoding="utf-8")
    assert text == "first\n"


def test_the_tools_run_example_prints_what_the_guide_shows(doc_plugins: Path) -> None:
    console = next(b for b in _blocks("console") if "kanjian tools run word_count" in b)
    command, expected = console.strip().splitlines()
    argv = shlex.split(command.removeprefix("$ kanjian "))
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == expected


def test_config_examples_are_valid_settings(tmp_path: Path) -> None:
    tables = [b for b in _blocks("toml") if not b.startswith("[project")]
    assert len(tables) == 2
    config = tmp_path / "config.toml"
    config.write_text("\n".join(tables), encoding="utf-8")
    tomllib.loads(config.read_text(encoding="utf-8"))
    settings = load_settings(config_path=config)
    assert settings.tools.disabled == ["append_note", "mcp_*"]
    files, search = settings.tools.mcp["files"], settings.tools.mcp["search"]
    assert files.transport == "stdio" and files.env == ["NOTES_TOKEN"] and files.side_effects
    assert search.transport == "streamable_http" and not search.side_effects


def test_the_package_example_matches_the_example_package(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = next(b for b in _blocks("python") if b.startswith("def register"))
    source = (EXAMPLE_SRC / "kanjian_colors" / "__init__.py").read_text(encoding="utf-8")
    assert hook.strip() in source
    pyproject = (EXAMPLE_SRC.parent / "pyproject.toml").read_text(encoding="utf-8")
    entry = next(b for b in _blocks("toml") if b.startswith("[project"))
    assert entry.strip() in pyproject

    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    test_source = next(b for b in _blocks("python") if "async def test_dominant_colors" in b)
    from kanjian_colors import dominant_colors

    namespace: dict[str, object] = {"dominant_colors": dominant_colors}
    exec(compile(test_source, "docs/plugins.md", "exec"), namespace)
    asyncio.run(namespace["test_dominant_colors"]())  # type: ignore[operator]
    sys.modules.pop("kanjian_colors", None)
