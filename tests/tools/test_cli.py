"""The tools' command line: ``kanjian tools list|run``, ``kanjian ocr|ground|math``.

A few checks run the real ``kanjian`` command in a subprocess; the rest go through typer's
CliRunner in-process (the OCR engine then loads once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from kanjian.tui.cli import app
from kanjian.vlm.fake_server import ScriptedServer
from kanjian.vlm.grounding import grounding_regex
from tests.tools.conftest import text_image

runner = CliRunner()
KANJIAN = [sys.executable, "-c", "from kanjian.tui.cli import main; main()"]


def kanjian(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KANJIAN, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )


@pytest.fixture
def receipt(tmp_path: Path) -> Path:
    path = tmp_path / "receipt.png"
    text_image(["Hello World", "Total 42.50"]).save(path)
    return path


def test_tools_list_shows_builtins_and_problems(kanjian_home: Path) -> None:
    plugins = kanjian_home / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text("raise RuntimeError('bad plugin')\n")
    result = runner.invoke(app, ["tools", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "EFFECTS", "DESCRIPTION"]
    assert [line.split()[0] for line in lines[1:5]] == ["ocr", "ground", "zoom", "math"]
    assert lines[1].split()[1:3] == ["builtin", "no"]
    assert "plugin file broken.py" in result.stdout and "bad plugin" in result.stdout

    listed = json.loads(runner.invoke(app, ["tools", "list", "--json"]).stdout)
    assert [t["name"] for t in listed["tools"]] == ["ocr", "ground", "zoom", "math"]
    assert listed["problems"][0]["source"] == "plugin file broken.py"


def test_tools_run_with_images_and_out(receipt: Path, tmp_path: Path) -> None:
    args = '{"image": "image_1", "box": [0, 0, 500, 500]}'
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["tools", "run", "zoom", "--args", args, "-i", str(receipt), "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["tool"] == "zoom" and record["output"]["crop_px"] == [0, 0, 336, 126]
    (saved,) = record["images"]
    assert Image.open(saved).size == (336, 126)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tools", "run", "math", "--args", "{oops"], "not valid JSON"),
        (["tools", "run", "math", "--args", "[1]"], "must be a JSON object"),
        (["tools", "run", "nope"], "no tool 'nope'"),
        (["tools", "run", "math", "--args", '{"expr": "1"}'], "has no argument 'expr'"),
        (
            ["tools", "run", "ocr", "--args", '{"image": "image_2"}'],
            "'image_2' given to tool 'ocr' does not exist",
        ),
        (["ocr", "missing.png"], "missing.png"),
        (["ocr", "x.png", "--region", "1,2,3"], "not a box"),
    ],
)
def test_bad_input_exits_2_with_one_sentence(argv: list[str], message: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stderr.startswith("kanjian: ") and result.stderr.count("\n") == 1


def test_ocr_json_runs_as_the_real_command(receipt: Path) -> None:
    done = kanjian("ocr", str(receipt), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert list(data) == ["image", "width", "height", "lines", "blocks", "text", "seconds"]
    assert [(b["kind"], b["lines"]) for b in data["blocks"]] == [("paragraph", [[0], [1]])]
    assert data["image"] == str(receipt)
    assert data["text"] == "Hello World\nTotal 42.50"
    assert list(data["lines"][0]) == ["text", "confidence", "box", "box_norm"]


def test_ocr_plain_and_region(receipt: Path) -> None:
    result = runner.invoke(app, ["ocr", str(receipt)])
    assert result.stdout == "Hello World\nTotal 42.50\n"
    result = runner.invoke(app, ["ocr", str(receipt), "--region", "0,330,1000,1000", "--json"])
    assert json.loads(result.stdout)["text"] == "Total 42.50"


def test_ground_with_a_scripted_model_draws_the_overlay(receipt: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "boxes.png"
    with ScriptedServer() as server:
        server.enqueue("<ref>total</ref><box>[[40, 500, 400, 650]]</box>")
        done = kanjian(
            "ground", str(receipt), "total", "--json", "--draw", str(overlay), "--url", server.url
        )
        (request,) = server.chat_requests
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert list(data) == ["image", "query", "boxes", "overlay", "seconds"]
    assert data["boxes"] == [
        {"label": "total", "box": [26, 120, 256, 156], "box_norm": [40, 500, 400, 650]}
    ]
    assert data["overlay"] == str(overlay) and Image.open(overlay).size == (640, 240)
    assert request.json["regex"] == grounding_regex("total")
    parts = request.json["messages"][0]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/")


def test_ground_without_a_server_exits_1(receipt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANJIAN_BACKEND", "sglang")
    monkeypatch.setenv("KANJIAN_VLM__RETRIES", "0")
    result = runner.invoke(app, ["ground", str(receipt), "cat"])
    assert result.exit_code == 1
    assert "Cannot reach the model server" in result.stderr


def test_math_json_and_hostile_input() -> None:
    result = runner.invoke(app, ["math", "1/2 + 13", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["input", "result", "numeric", "latex", "seconds"]
    assert data["result"] == "27/2"
    done = kanjian("math", "__import__('os').system('touch pwned')")
    assert done.returncode == 2 and done.stderr.startswith("kanjian: ")
    assert not Path("pwned").exists()
