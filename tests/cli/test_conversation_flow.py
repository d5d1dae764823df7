"""A conversation across processes: ask, continue with --session, find it, forget it.

Real ``kanjian`` subprocesses, a real HTTP server on 127.0.0.1, real SQLite and chromadb
under the test's KANJIAN_HOME (with the fast hashing embedder so the test stays quick).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from kanjian.vlm.fake_server import ScriptedServer
from tests.cli.conftest import KanjianRunner

ENV = {"KANJIAN_EMBEDDER": "hash"}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def receipt(tmp_path: Path) -> Path:
    image = Image.new("RGB", (320, 120), "white")
    ImageDraw.Draw(image).text((10, 40), "TOTAL 42.50", fill="black")
    path = tmp_path / "receipt.png"
    image.save(path)
    return path


def answer(text: str) -> str:
    return json.dumps({"thought": "", "answer": text})


def test_ask_continue_search_forget(
    kanjian: KanjianRunner, server: ScriptedServer, receipt: Path, _hermetic_env: Path
) -> None:
    server.enqueue(answer("A receipt for 42.50."), answer("Yes, the same receipt."))
    first = kanjian(
        "ask", "What is this?", "-i", str(receipt), "--url", server.url, "--json", env=ENV
    )
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    session = record["session"]
    assert record["answer"] == "A receipt for 42.50."
    assert record["images"] == {"image_1": str(receipt)}

    second = kanjian(
        "ask", "Is it still the same?", "--session", session, "--url", server.url, "--json", env=ENV
    )
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["session"] == session
    first_body, second_body = (json.dumps(r.json["messages"]) for r in server.chat_requests)
    # The continued conversation re-sends the first turn byte for byte (prefix cache).
    assert second_body.startswith(first_body[: first_body.rindex("]")])
    assert "image_1" in second_body

    found = kanjian("memory", "search", "receipt 42.50", "--json", env=ENV)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert {h["session"] for h in hits} == {session}
    assert len(hits) == 2

    gone = kanjian("memory", "forget", session, env=ENV)
    assert gone.returncode == 0, gone.stderr
    assert not (_hermetic_env / "sessions" / f"{session}.json").exists()
    again = kanjian("ask", "Still there?", "--session", session, "--url", server.url, env=ENV)
    assert again.returncode == 2
    assert again.stderr.startswith(f"kanjian: There is no session '{session}'")


def test_broken_memory_never_costs_the_answer(
    kanjian: KanjianRunner, server: ScriptedServer, _hermetic_env: Path
) -> None:
    (_hermetic_env / "memory").write_text("not a folder")  # the store cannot open here
    server.enqueue(answer("Still answered."))
    result = kanjian("ask", "Hello?", "--url", server.url, "--json", env=ENV)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "Still answered."
    assert result.stderr.startswith("kanjian: warning: Memory is off: it could not be opened")
    assert "Traceback" not in result.stderr
