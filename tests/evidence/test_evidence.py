"""The answer's evidence end to end: cited, uncited, an image that does not exist, a zoom crop.

A scripted model cites; the real agent maps each citation to a pixel box of the original image
(``RunFinished.evidence``, ``ask --json``'s ``"evidence"``), and ``kanjian ask`` prints
``evidence: image_1 [x1,y1,x2,y2]`` lines on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kanjian.agent.api import Kanjian
from kanjian.agent.events import AnswerDone, Evidence
from kanjian.vlm.fake_server import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
W, H = 800, 400


def _observed(request: dict[str, Any]) -> bool:
    return any(
        isinstance(m["content"], list)
        and any(str(p.get("text", "")).startswith("Observation from") for p in m["content"])
        for m in request["messages"]
    )


def respond(request: dict[str, Any]) -> str:
    """The question says what to cite: ``cite <json evidence>``; ``zoom first`` zooms first."""
    first = next(m for m in request["messages"] if m["role"] == "user")
    question = first["content"][-1]["text"]
    if "zoom first" in question and not _observed(request):
        args = {"image": "image_1", "box": [500, 500, 1000, 1000]}
        return json.dumps({"thought": "closer", "tool": "zoom", "args": args})
    action: dict[str, Any] = {"thought": "seen", "answer": "The total is 42."}
    if "cite " in question:
        action["evidence"] = json.loads(question.split("cite ", 1)[1])
    return json.dumps(action)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=respond) as srv:
        yield srv


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (W, H), (200, 220, 240)).save(path)
    return path


@pytest.fixture(autouse=True)
def _config(_hermetic_env: Path) -> None:
    (_hermetic_env / "config.toml").write_text(
        "[vlm]\nretries = 0\n\n[memory]\nenabled = false\n", encoding="utf-8"
    )


async def _ask(server: ScriptedServer, question: str, photo: Path) -> Any:
    async with Kanjian(url=server.url) as kanjian:
        events = [e async for e in kanjian.stream(question, [photo])]
    return events


async def test_a_cited_box_becomes_pixels_of_the_image(server: ScriptedServer, photo: Path) -> None:
    cited = [{"image": "image_1", "box": [250, 500, 750, 1000], "step": 1}, {"image": "image_1"}]
    events = await _ask(server, f"What is the total? cite {json.dumps(cited)}", photo)
    done = next(e for e in events if isinstance(e, AnswerDone))
    finished = events[-1]
    assert (
        done.evidence
        == finished.evidence
        == (
            Evidence("image_1", (250, 500, 750, 1000), (200, 200, 600, 400), 1),
            Evidence("image_1"),
        )
    )
    assert finished.to_json()["evidence"] == [
        {"image": "image_1", "box": [200, 200, 600, 400]},
        {"image": "image_1", "box": None},
    ]
    assert finished.extra == {}


async def test_no_citation_shows_nothing(server: ScriptedServer, photo: Path) -> None:
    events = await _ask(server, "What is the total?", photo)
    assert events[-1].evidence == () and events[-1].to_json()["evidence"] == []
    assert "evidence_notes" not in events[-1].extra


async def test_a_citation_of_an_image_that_does_not_exist_is_dropped_with_a_note(
    server: ScriptedServer, photo: Path
) -> None:
    cited = [
        {"image": "image_9", "box": [0, 0, 10, 10]},
        {"image": "image_1", "box": [0, 0, 500, 500]},
    ]
    events = await _ask(server, f"Total? cite {json.dumps(cited)}", photo)
    finished = events[-1]
    assert finished.error is None and finished.answer == "The total is 42."
    assert [e.image for e in finished.evidence] == ["image_1"]
    (note,) = finished.extra["evidence_notes"]
    assert "'image_9'" in note and "dropped" in note


async def test_a_box_in_a_zoom_crop_maps_back_to_the_original(
    server: ScriptedServer, photo: Path
) -> None:
    # The zoom of [500, 500, 1000, 1000] is image_2; the model cites the crop's left half.
    cited = [{"image": "image_2", "box": [0, 0, 500, 1000], "step": 1}]
    events = await _ask(server, f"zoom first, then cite {json.dumps(cited)}", photo)
    finished = events[-1]
    crop = finished.steps[0].output["crop_px"]
    (evidence,) = finished.evidence
    assert evidence.image == "image_1" and evidence.step == 1
    x1, y1, x2, y2 = crop
    assert evidence.box_px == (x1, y1, round(x1 + (x2 - x1) / 2), y2)


def _kanjian(*args: str, url: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KANJIAN_URL": url, "KANJIAN_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", "from kanjian.tui.cli import main; main()", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
    )  # fmt: skip


def test_ask_prints_evidence_lines_and_notes_on_stderr(
    server: ScriptedServer, photo: Path, _hermetic_env: Path
) -> None:
    cited = [{"image": "image_1", "box": [250, 500, 750, 1000]}, {"image": "image_5"}]
    question = f"Total? cite {json.dumps(cited)}"
    result = _kanjian(
        "ask", question, "-i", str(photo), "--no-tools", url=server.url, home=_hermetic_env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The total is 42.\n"
    lines = result.stderr.splitlines()
    assert "evidence: image_1 [200,200,600,400]" in lines
    assert any(line.startswith("kanjian: note: The answer cited 'image_5'") for line in lines)
    as_json = _kanjian(
        "ask", question, "-i", str(photo), "--json", url=server.url, home=_hermetic_env
    )
    record = json.loads(as_json.stdout)
    assert record["evidence"] == [{"image": "image_1", "box": [200, 200, 600, 400]}]
