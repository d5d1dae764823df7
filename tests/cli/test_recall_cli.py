"""Recall across ``kanjian ask`` processes: shown in --json, turned off by --no-recall."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kanjian.vlm.fake_server import ScriptedServer
from tests.cli.conftest import KanjianRunner

ENV = {"KANJIAN_EMBEDDER": "hash"}
NOTES = "Notes from earlier conversations"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def _answer(text: str) -> str:
    return json.dumps({"thought": "", "answer": text})


def test_recalled_in_ask_json_and_no_recall(
    kanjian: KanjianRunner, server: ScriptedServer, _hermetic_env: Path
) -> None:
    server.enqueue(*[_answer(a) for a in ("Rent is $1,850, due on the first.", "The first.", "The first.", "A violin.")])  # fmt: skip
    ask = ["ask", "--url", server.url, "--json"]
    first = kanjian(*ask, "Summarise my apartment lease: rent $1,850 due on the first of each month.", env=ENV)  # fmt: skip
    assert first.returncode == 0, first.stderr
    past = json.loads(first.stdout)["session"]

    related = kanjian(*ask, "When is the rent due under my apartment lease?", env=ENV)
    assert related.returncode == 0, related.stderr
    recalled = json.loads(related.stdout)["recalled"]
    assert recalled and recalled[0]["session"] == past and recalled[0]["turn"] == 1
    assert NOTES in json.dumps(server.chat_requests[1].json["messages"])

    off = kanjian(*ask, "When is the rent due under my apartment lease?", "--no-recall", env=ENV)
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["recalled"] == []
    assert NOTES not in json.dumps(server.chat_requests[2].json["messages"])

    unrelated = kanjian(*ask, "What instrument is the man in this image playing?", env=ENV)
    assert json.loads(unrelated.stdout)["recalled"] == []
    # --no-recall still remembered its turn: the store has all four conversations.
    listed = kanjian("memory", "list", "--json", env=ENV)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["sessions"]) == 4


def test_a_turn_remembered_by_ask_is_recalled_by_the_next_ask_and_found_by_search(
    kanjian: KanjianRunner, server: ScriptedServer, _hermetic_env: Path
) -> None:
    # The default embedder where the embed extra is installed (MiniLM), as `make chat` has it.
    server.enqueue(_answer("Your Costco receipt shows $7.42 of sales tax."), _answer("$7.42."))
    ask = ["ask", "--url", server.url, "--json"]
    first = kanjian(*ask, "How much sales tax is on this Costco receipt: total 98.20, tax 7.42?")
    assert first.returncode == 0, first.stderr
    past = json.loads(first.stdout)["session"]
    chroma = _hermetic_env / "memory" / "chroma"
    # Remembering wrote SQLite only: the ask path never opened chromadb.
    assert (_hermetic_env / "memory" / "kanjian.db").exists() and not chroma.exists()

    second = kanjian(*ask, "What was the sales tax on my Costco receipt?")
    assert second.returncode == 0, second.stderr
    assert [r["session"] for r in json.loads(second.stdout)["recalled"]] == [past]
    assert not chroma.exists()

    found = kanjian("memory", "search", "Costco sales tax", "--json")
    assert found.returncode == 0, found.stderr
    assert past in {h["session"] for h in json.loads(found.stdout)["hits"]}
    assert not chroma.exists()  # a small store is searched through the vector mirror

    # The mirror knows times, not images: an image filter goes to chromadb, which is caught
    # up from the stored vectors first, and finds the same turn.
    text_only = kanjian("memory", "search", "Costco sales tax", "--no-image", "--json")
    assert text_only.returncode == 0, text_only.stderr
    assert past in {h["session"] for h in json.loads(text_only.stdout)["hits"]}
    assert chroma.exists()
