"""The README's ``--schema`` examples, run for real: same commands, same output.

The scripted model answers what the README's model answered; the receipt is rendered here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from kanjian.vlm.fake_server import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
SECTION = (REPO / "README.md").read_text(encoding="utf-8").split("#### Structured answers")[1]
SECTION = SECTION.split("\n### ")[0]
ANSWER = {"merchant": "Bean There Cafe", "total": 7.7, "date": "2024-05-17"}


def _examples() -> list[tuple[str, list[str]]]:
    """``(command, output lines)`` of each ``$ kanjian ...`` in the section's console blocks."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", SECTION, flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif found:
                found[-1][1].append(line)
    return found


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    reply = {
        "thought": "read it",
        "answer": ANSWER,
        "evidence": [{"image": "image_1", "box": [80, 625, 400, 700]}],
    }
    with ScriptedServer(responder=lambda _: json.dumps(reply)) as srv:
        yield srv


@pytest.mark.parametrize(("command", "expected"), [e for e in _examples() if "--json" not in e[0]])
def test_the_readme_schema_examples_print_what_it_shows(
    server: ScriptedServer, tmp_path: Path, _hermetic_env: Path, command: str, expected: list[str]
) -> None:
    Image.new("RGB", (640, 480), "white").save(tmp_path / "receipt.png")
    argv = shlex.split(command)
    assert argv[0] == "kanjian"
    result = subprocess.run(
        [sys.executable, "-c", "from kanjian.tui.cli import main; main()", *argv[1:], "--no-memory"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "KANJIAN_URL": server.url, "KANJIAN_HOME": str(_hermetic_env)},
    )  # fmt: skip
    shown = (result.stdout + result.stderr).splitlines()
    assert shown == expected


def test_the_readme_json_example_has_the_object_as_answer() -> None:
    (line,) = [out[0] for command, out in _examples() if "--json" in command]
    assert json.loads(line.replace("…", ""))["answer"] == ANSWER
