"""Every script in ``examples/`` runs as a user would run it, against a scripted model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from kanjian.vlm.fake_server import ScriptedServer
from tests.api.conftest import ROOT, run_example, user_texts


def test_every_example_script_is_tested() -> None:
    scripts = {p.name for p in (ROOT / "examples").glob("*.py")}
    tested = {
        "ask_image.py",
        "stream_events.py",
        "custom_tool.py",
        "batch_from_python.py",
        "langgraph_create_agent.py",
    }
    assert scripts == tested | {"sync_api.py"}


def test_ask_image(server: ScriptedServer, image: Path) -> None:
    done = run_example("ask_image.py", str(image), "What colour is it?")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "answer: What colour is it? | images: image_1"
    assert lines[-1].startswith("session ") and "prompt tokens" in lines[-1]
    assert len(server.chat_requests) == 1


def test_ask_image_reports_a_missing_image(server: ScriptedServer, tmp_path: Path) -> None:
    done = run_example("ask_image.py", str(tmp_path / "none.png"), "What?")
    assert done.returncode == 2
    assert done.stderr.startswith("error: Cannot read image") and "none.png" in done.stderr


def test_stream_events_shows_the_run_and_continues_the_session(
    server: ScriptedServer, image: Path
) -> None:
    done = run_example("stream_events.py", str(image))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.index("[image] image_1 64x48") < out.index("[step 1]") < out.index("[thought] done")
    assert "answer: What is in this picture? | images: image_1\n" in out
    # The second turn still shows the model image_1 (from the session), not a new image.
    assert "answer: And its colour? | images: image_1\n" in out
    finished = [line for line in out.splitlines() if line.startswith("[finished]")]
    assert len(finished) == 2 and finished[0].split()[2] == finished[1].split()[2]


def test_custom_tool_is_called_by_the_agent(server: ScriptedServer, image: Path) -> None:
    server.responder = _size_then_answer
    done = run_example("custom_tool.py", str(image))
    assert done.returncode == 0, done.stderr
    first, answer = done.stdout.splitlines()
    assert first == "tool image_size {'image': 'image_1'} -> {'width': 64, 'height': 48}"
    assert answer == 'It is {"width": 64, "height": 48}.'


def _size_then_answer(request: dict[str, Any]) -> str:
    prefix = "Observation from image_size:"
    observed = [t for t in user_texts(request) if t.startswith(prefix)]
    if not observed:
        return json.dumps(
            {"thought": "measure", "tool": "image_size", "args": {"image": "image_1"}}
        )
    size = json.loads(observed[-1].removeprefix(prefix).strip())
    return json.dumps({"thought": "done", "answer": f"It is {json.dumps(size)}."})


def test_batch_from_python_answers_every_image_in_a_folder(
    server: ScriptedServer, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(5):
        Image.new("RGB", (32, 32), (n * 40, 0, 0)).save(folder / f"p{n}.png")
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    done = run_example("batch_from_python.py", str(folder), "Any text?")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["id"] for r in records) == [f"p{n}.png" for n in range(5)]
    assert all(r["answer"] == "answer: Any text? | images: image_1" for r in records)
    assert done.stderr.strip() == "5 ok, 0 failed"


def test_sync_api(server: ScriptedServer, image: Path) -> None:
    done = run_example("sync_api.py", str(image))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "answer: What does this diagram show? | images: image_1"
    assert lines[1] == "answer: Summarise it in five words. | images: image_1"
    assert lines[2].startswith("images in the conversation: {'image_1': ")


def test_langgraph_create_agent_drives_the_chat_model(server: ScriptedServer) -> None:
    server.responder = _multiply_then_answer
    done = run_example("langgraph_create_agent.py", "What is 17 * 23?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["tool multiply -> 391", "17 * 23 = 391."]
    # The tool went into the system prompt; its result came back as an observation.
    assert "- multiply: Multiply two integers exactly." in json.dumps(server.chat_requests[0].json)
    assert "Observation from multiply:\n391" in user_texts(server.chat_requests[1].json)


def _multiply_then_answer(request: dict[str, Any]) -> str:
    if not any(t.startswith("Observation from") for t in user_texts(request)):
        return json.dumps({"thought": "multiply", "tool": "multiply", "args": {"a": 17, "b": 23}})
    return json.dumps({"thought": "done", "answer": "17 * 23 = 391."})
