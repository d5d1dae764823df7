"""Fixtures for the Python API tests: a scripted model server and tiny images.

The scripted model answers ``answer: <question> | images: <ids it was shown>``, so a test can
see both what was asked and which images (by id) the request carried. A question that names a
tool (``use image_size``) makes it call that tool on image_1 first, then answer with what the
tool observed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kanjian.vlm.fake_server import ScriptedServer

ROOT = Path(__file__).resolve().parents[2]
TOOL_REQUEST = re.compile(r"\buse (\w+)")


def user_texts(request: dict[str, Any]) -> list[str]:
    texts = []
    for message in request["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        parts = [content] if isinstance(content, str) else content
        texts += [p if isinstance(p, str) else p.get("text", "") for p in parts]
    return texts


def respond(request: dict[str, Any]) -> str:
    texts = user_texts(request)
    question = [
        t
        for t in texts
        if t and not t.startswith("Observation from") and not re.fullmatch(r"image_\d+:", t)
    ][-1]
    ids = [t[:-1] for t in texts if re.fullmatch(r"image_\d+:", t)]
    observed = [t for t in texts if t.startswith("Observation from")]
    wanted = TOOL_REQUEST.search(question)
    if wanted and not observed:
        action = {"thought": "ask the tool", "tool": wanted.group(1), "args": {"image": "image_1"}}
        return json.dumps(action)
    seen = f" | observed: {observed[-1]}" if observed else ""
    answer = f"answer: {question} | images: {','.join(ids)}{seen}"
    return json.dumps({"thought": "done", "answer": answer}, ensure_ascii=False)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=respond) as srv:
        yield srv


@pytest.fixture
def server(shared_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    shared_server.reset()
    monkeypatch.setenv("KANJIAN_URL", shared_server.url)
    return shared_server


@pytest.fixture(autouse=True)
def _quick_config(_hermetic_env: Path) -> None:
    # No retries against a scripted 500; memory off unless a test turns it on (chromadb
    # and an embedder load in seconds, which the tests that need memory pay for themselves).
    (_hermetic_env / "config.toml").write_text(
        '[vlm]\nretries = 0\n\n[memory]\nenabled = false\nembedder = "hash"\n',
        encoding="utf-8",
    )


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, format="PNG")
    return path


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python examples/NAME ARGS`` as a user runs it (KANJIAN_URL set by ``server``)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        cwd=ROOT,
    )
