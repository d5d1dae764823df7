"""The example plugin package is found through real entry-point discovery.

Installing it with pip would take a build; instead the test writes the ``.dist-info`` that
``pip install`` would (METADATA and entry_points.txt) into a folder on ``sys.path``, next to
the package's source. ``importlib.metadata`` then discovers it exactly as it would after an
install: nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from kanjian.agent.config import load_settings
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.registry import load_tools

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kanjian-plugin-example"


def _fake_install(site: Path) -> None:
    """What pip would write for the example, read from its own pyproject.toml."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8",
    )
    lines = ["[kanjian.tools]"]
    lines += [f"{k} = {v}" for k, v in project["entry-points"]["kanjian.tools"].items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    site = tmp_path / "site"
    _fake_install(site)
    path = os.pathsep.join([str(site), str(EXAMPLE / "src")])
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.syspath_prepend(str(site))
    return path


async def test_load_tools_finds_the_installed_plugin(
    installed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, problems = load_tools(load_settings())
    assert problems == []
    assert registry.names() == ["ocr", "ground", "zoom", "math", "dominant_colors", "save_note"]
    colours = registry.get("dominant_colors")
    assert colours.source == "entry point colors (kanjian-colors)"
    assert registry.get("save_note").side_effects is True
    ctx = SimpleToolContext({"image_1": Image.new("RGB", (50, 50), (0, 128, 255))})
    out = await colours.run({"image": "image_1", "k": 1}, ctx)
    assert out.data == {"colors": [{"hex": "#0080ff", "rgb": [0, 128, 255], "share": 1.0}]}


def test_kanjian_tools_list_shows_it(installed: str) -> None:
    env = dict(os.environ, PYTHONPATH=installed)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from kanjian.tui.cli import main; main()",
            "tools",
            "list",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = {t["name"]: t for t in json.loads(done.stdout)["tools"]}
    assert listed["save_note"]["side_effects"] is True
    assert listed["dominant_colors"]["source"] == "entry point colors (kanjian-colors)"


def test_the_example_s_own_tests_pass() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
