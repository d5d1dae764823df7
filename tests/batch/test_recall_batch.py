"""Recall in ``kanjian batch``: from memory as it was when the batch started.

Real SQLite, the real lexical index and chromadb (with the deterministic ``hash``
embedder), the real CLI; the model is the scripted server of ``conftest``. A past
conversation about a lease is stored before the batch; the tasks ask about it, about
something unrelated, and (twice) about a car insurance policy that only the batch itself
tells memory about.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kanjian.memory.core import MemoryCore
from kanjian.tui.cli import app
from kanjian.vlm.fake_server import ScriptedServer
from tests.batch.conftest import TaskWriter, question_of, read_lines

NOTES = "Notes from earlier conversations"
LEASE = "past-lease"
TASKS = [
    {"id": "policy", "question": "Summarise my car insurance policy: premium $640 due each March."},
    {"id": "premium", "question": "When is the premium due under my car insurance policy?"},
    {"id": "rent", "question": "When is the rent due under my apartment lease?"},
    {"id": "violin", "question": "What instrument is the man in this image playing?"},
]


@pytest.fixture(autouse=True)
def _hash_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANJIAN_EMBEDDER", "hash")


def _store_past(home: Path) -> None:
    core = MemoryCore(home / "memory", "hash")
    try:
        core.store.add_turn(
            LEASE,
            "Summarise my apartment lease: rent $1,850 due on the first of each month.",
            "Rent is $1,850, due on the first.",
            title="lease",
        )
    finally:
        core.close()


def _batch(tasks: Path, out: Path, url: str, *flags: str) -> dict[str, dict[str, Any]]:
    args = ["batch", str(tasks), "-o", str(out), "-c", "1", "--ordered", "--url", url, *flags]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return {line["id"]: line for line in read_lines(out)}


def _prompts(server: ScriptedServer) -> dict[str, str]:
    """The messages each task's request carried, by task question."""
    return {question_of(r.json): json.dumps(r.json["messages"]) for r in server.chat_requests}


def test_batch_recalls_past_conversations_but_never_its_own_tasks(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path, _hermetic_env: Path
) -> None:
    _store_past(_hermetic_env)
    # One at a time, in order: "premium" runs after "policy" is stored, and would recall it
    # from a live memory (see the last test).
    lines = _batch(write_tasks(TASKS), tmp_path / "out.jsonl", server.url, "--remember")
    recalled = {task: [r["session"] for r in line["recalled"]] for task, line in lines.items()}
    assert recalled == {"policy": [], "premium": [], "rent": [LEASE], "violin": []}
    assert lines["rent"]["recalled"][0]["turn"] == 1 and lines["rent"]["recalled"][0]["score"] > 0
    prompts = _prompts(server)
    assert NOTES in prompts[TASKS[2]["question"]] and LEASE in prompts[TASKS[2]["question"]]
    assert NOTES not in prompts[TASKS[1]["question"]]
    # --remember stored every task: the next run (a new snapshot) recalls "policy".
    core = MemoryCore(_hermetic_env / "memory", "hash")
    try:
        assert len(core.list_sessions()) == 1 + len(TASKS)
        hits = core.recall(TASKS[1]["question"])
        assert lines["policy"]["session"] in [h.session for h in hits]
    finally:
        core.close()


def test_what_is_recalled_does_not_depend_on_the_order_tasks_finish(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path, _hermetic_env: Path
) -> None:
    _store_past(_hermetic_env)
    pristine = tmp_path / "memory-before"
    shutil.copytree(_hermetic_env / "memory", pristine)
    forward = _batch(write_tasks(TASKS), tmp_path / "a.jsonl", server.url, "--remember")
    shutil.rmtree(_hermetic_env / "memory")
    shutil.copytree(pristine, _hermetic_env / "memory")
    backward = _batch(write_tasks(TASKS[::-1]), tmp_path / "b.jsonl", server.url, "--remember")
    # Scores included: the gate's statistics are the snapshot's, not grown by this run.
    assert {t: line["recalled"] for t, line in forward.items()} == {
        t: line["recalled"] for t, line in backward.items()
    }


def test_no_recall_and_recall_off_inject_nothing_and_still_remember(
    server: ScriptedServer,
    write_tasks: TaskWriter,
    tmp_path: Path,
    _hermetic_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _store_past(_hermetic_env)
    tasks = write_tasks(TASKS[2:3])
    flagged = _batch(tasks, tmp_path / "a.jsonl", server.url, "--no-recall", "--remember")
    monkeypatch.setenv("KANJIAN_RECALL", "off")  # memory.recall = "off"
    configured = _batch(tasks, tmp_path / "b.jsonl", server.url)
    assert flagged["rent"]["recalled"] == configured["rent"]["recalled"] == []
    assert all(NOTES not in json.dumps(r.json["messages"]) for r in server.chat_requests)
    core = MemoryCore(_hermetic_env / "memory", "hash")
    try:
        assert len(core.list_sessions()) == 2  # the lease, and the --remember task
    finally:
        core.close()


def test_without_remember_batch_recalls_and_stores_nothing(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path, _hermetic_env: Path
) -> None:
    _store_past(_hermetic_env)
    lines = _batch(write_tasks(TASKS[2:]), tmp_path / "out.jsonl", server.url)
    assert [r["session"] for r in lines["rent"]["recalled"]] == [LEASE]
    assert lines["violin"]["recalled"] == []
    core = MemoryCore(_hermetic_env / "memory", "hash")
    try:
        assert [s.id for s in core.list_sessions()] == [LEASE]
    finally:
        core.close()


def test_worker_processes_recall_from_the_same_snapshot(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path, _hermetic_env: Path
) -> None:
    _store_past(_hermetic_env)
    rows = [{**TASKS[2], "id": f"rent{n}"} for n in range(4)] + TASKS[:2]
    out = tmp_path / "out.jsonl"
    args = ["batch", str(write_tasks(rows)), "-o", str(out), "-c", "2", "-j", "2"]
    result = CliRunner().invoke(app, [*args, "--remember", "--url", server.url])
    assert result.exit_code == 0, result.stderr
    assert "2 worker processes ready" in result.stderr
    lines = {line["id"]: line for line in read_lines(out)}
    assert {json.dumps(lines[f"rent{n}"]["recalled"]) for n in range(4)} == {
        json.dumps([{**lines["rent0"]["recalled"][0], "session": LEASE}])
    }
    assert lines["premium"]["recalled"] == [] and lines["policy"]["recalled"] == []


def test_a_live_memory_would_have_recalled_the_batch_own_task(_hermetic_env: Path) -> None:
    """The premise of the tests above: without the snapshot, "premium" recalls "policy"."""
    core = MemoryCore(_hermetic_env / "memory", "hash")
    try:
        snapshot = core.snapshot()
        core.store.add_turn("policy-s", TASKS[0]["question"], "answer", title="policy")
        assert [h.session for h in core.recall(TASKS[1]["question"])] == ["policy-s"]
        assert core.recall(TASKS[1]["question"], as_of=snapshot) == []
    finally:
        core.close()
