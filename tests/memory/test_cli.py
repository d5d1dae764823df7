"""``kanjian memory ...`` end to end through the real CLI app (hash embedder, embedded Chroma)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kanjian.memory.api import Memory
from kanjian.memory.records import StoredImageRef
from kanjian.tui.cli import app


@pytest.fixture
async def stored(
    _hermetic_env: Path, monkeypatch: pytest.MonkeyPatch, png: Callable[..., bytes]
) -> dict[str, str]:
    monkeypatch.setenv("KANJIAN_EMBEDDER", "hash")
    memory = Memory.at(_hermetic_env / "memory", "hash")
    receipt = await memory.new_session("receipt")
    sha = await memory.put_image(png())
    await memory.add_turn(
        receipt,
        "这张收据的总金额是多少？",
        "总金额是 ¥42.00。",
        images=[StoredImageRef(sha, "image_1")],
    )
    chart = await memory.new_session("chart")
    await memory.add_turn(chart, "Which month sold most?", "March, with 340 units.")
    memory.close()
    return {"receipt": receipt, "chart": chart, "sha": sha}


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["memory", *args])
    return result.exit_code, result.stdout, result.stderr


def test_search_json_has_the_contract_shape(stored: dict[str, str]) -> None:
    code, out, _ = _run("search", "receipt total", "--json", "-k", "1")
    assert code == 0
    data = json.loads(out)
    assert data["query"] == "receipt total" and len(data["hits"]) == 1
    hit = data["hits"][0]
    assert hit["session"] == stored["receipt"] and hit["turn"] == 1
    assert hit["text"] == "Q: 这张收据的总金额是多少？\nA: 总金额是 ¥42.00。"
    assert hit["images"][0].endswith(f"{stored['sha']}.png")


def test_list_show_forget(stored: dict[str, str]) -> None:
    code, out, _ = _run("list")
    assert code == 0 and stored["receipt"] in out and stored["chart"] in out
    code, out, _ = _run("show", stored["chart"])
    assert code == 0 and "March, with 340 units." in out
    code, out, _ = _run("forget", stored["receipt"])
    assert code == 0 and "1 image files removed" in out
    code, _, err = _run("show", stored["receipt"])
    assert code == 2 and err.startswith("kanjian: No stored session") and err.count("\n") == 1


def test_export_markdown_and_json_with_images(stored: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = _run("export", stored["receipt"], "-o", str(tmp_path / "md"))
    assert code == 0
    md = (tmp_path / "md" / f"{stored['receipt']}.md").read_text(encoding="utf-8")
    assert f"](images/{stored['sha']}.png)" in md and "总金额是 ¥42.00。" in md
    assert (tmp_path / "md" / "images" / f"{stored['sha']}.png").is_file()
    code, out, _ = _run("export", "--format", "json", "-o", str(tmp_path / "js"))
    assert code == 0 and len(out.splitlines()) == 2
    data = json.loads((tmp_path / "js" / f"{stored['receipt']}.json").read_text(encoding="utf-8"))
    assert data["turns"][0]["images"][0]["path"] == f"images/{stored['sha']}.png"


def test_reindex_and_bad_input(stored: dict[str, str]) -> None:
    code, out, _ = _run("reindex")
    assert code == 0 and out.strip() == "Indexed 2 turns into turns__hash__256."
    code, _, err = _run("search", "x", "--since", "yesterday")
    assert code == 2 and "'yesterday' is not a date" in err
    code, _, err = _run("export", "-f", "pdf", "-o", "out")
    assert code == 2 and "'pdf'" in err
