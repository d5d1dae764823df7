"""Fixtures for the ``kanjian batch`` tests: a scripted model server, task files, images.

The model is scripted (a real OpenAI-compatible HTTP server on 127.0.0.1); everything else is
real: the CLI, the agent graph, image loading and wire encoding, the built-in tools, files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kanjian.vlm.fake_server import Reply, ScriptedServer

KANJIAN = [sys.executable, "-c", "from kanjian.tui.cli import main; main()"]

# Questions that steer the scripted model (see ``respond``).
FAIL = "FAIL"  # the server answers 500 for this task
ZOOM = "ZOOM"  # the model zooms into image_1 first, then answers


def question_of(request: dict[str, Any]) -> str:
    """The text of the task's question: the last text part of the first user message."""
    first = next(m for m in request["messages"] if m["role"] == "user")
    content = first["content"]
    if isinstance(content, str):
        return content
    return str([p["text"] for p in content if p["type"] == "text"][-1])


def respond(request: dict[str, Any]) -> Reply | str:
    """The scripted model: answers ``answer: <question>``; see FAIL and ZOOM."""
    question = question_of(request)
    observed = any(
        "Observation from" in json.dumps(m["content"], ensure_ascii=False)
        for m in request["messages"]
        if m["role"] == "user"
    )
    if FAIL in question:
        return Reply.http_error(500, "The scripted model failed on purpose.")
    if ZOOM in question and not observed:
        args = {"image": "image_1", "box": [0, 0, 500, 500]}
        return json.dumps({"thought": "look closer", "tool": "zoom", "args": args})
    # None: the server's own latency (a test sets ``server.latency``); a number overrides it.
    delay = None
    if question.startswith("slow"):  # "slowN": later tasks answer sooner (see --ordered)
        delay = 0.04 * (10 - int(question[4:]))
    return Reply(text=json.dumps({"thought": "done", "answer": f"answer: {question}"}), delay=delay)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=respond) as srv:
        yield srv


@pytest.fixture
def server(shared_server: ScriptedServer) -> ScriptedServer:
    shared_server.reset()
    return shared_server


@pytest.fixture(autouse=True)
def _no_retries(_hermetic_env: Path) -> None:
    # A scripted 500 is final: the client's retries (with backoff) would only slow tests.
    (_hermetic_env / "config.toml").write_text("[vlm]\nretries = 0\n", encoding="utf-8")


def png(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    Image.new("RGB", (64, 48), colour).save(path, format="PNG")
    return path


TaskWriter = Callable[..., Path]


@pytest.fixture
def write_tasks(tmp_path: Path) -> TaskWriter:
    """``write_tasks(rows)`` -> a task file; ``images=N`` gives each row its own tiny PNG."""

    def write(rows: list[dict[str, Any]], *, images: bool = True) -> Path:
        lines = []
        for n, row in enumerate(rows):
            if images and "images" not in row:
                name = f"img{n}.png"
                png(tmp_path / name, ((n * 23) % 256, 90, 160))
                row = {**row, "images": [name]}
            lines.append(json.dumps(row, ensure_ascii=False))
        path = tmp_path / "tasks.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def spawn_batch(*args: str) -> subprocess.Popen[str]:
    """``kanjian batch ARGS`` in its own process, as a user would start it."""
    return subprocess.Popen(
        [*KANJIAN, "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
