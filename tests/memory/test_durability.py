"""Durability: a writer killed with SIGKILL, and two processes sharing one store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kanjian.memory.api import Memory

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import asyncio, sys
from pathlib import Path
from kanjian.memory.api import Memory

async def main(root, name, count):
    memory = Memory.at(Path(root), "hash")
    sid = await memory.new_session(name)
    for i in range(count):
        turn = await memory.add_turn(sid, f"{name} question {i} 发票 receipt", f"answer {i}")
        hits = await memory.search(f"{name} question {i}", k=3)
        assert hits, "a process must find what it just wrote"
        print(turn.seq, flush=True)
    memory.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def _writer(root: Path, name: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), name, str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip


def _check_consistent(root: Path) -> Memory:
    memory = Memory.at(root, "hash")
    store = memory.core.store
    assert store.integrity_check() == "ok"
    counts = store.counts()
    assert counts["turns"] == counts["turns_fts"]
    assert memory.core.index.count() == counts["turns"]  # caught up on open
    assert store.counts()["unindexed"] == 0
    return memory


@pytest.mark.slow
async def test_sigkill_mid_write_loses_at_most_the_turn_in_flight(tmp_path: Path) -> None:
    root = tmp_path / "memory"
    proc = _writer(root, "killed", 10_000)
    assert proc.stdout is not None
    committed = 0
    deadline = time.monotonic() + 60
    while committed < 12 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed = int(line)
    assert committed >= 12, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    memory = _check_consistent(root)
    stored = memory.core.store.counts()["turns"]
    assert committed <= stored <= committed + 1
    session = (await memory.list_sessions())[0]
    assert [t.seq for t in (await memory.get_session(session.id)).turns] == list(
        range(1, stored + 1)
    )
    hits = await memory.search("killed question 3", k=1)
    assert hits[0].turn == 4
    assert (await memory.search("发票", k=1, mode="vector"))[0].session == session.id
    memory.close()


@pytest.mark.slow
async def test_two_processes_share_one_store(tmp_path: Path) -> None:
    root = tmp_path / "memory"
    Memory.at(root, "hash").close()  # the schema exists before both start
    first, second = _writer(root, "alpha", 15), _writer(root, "beta", 15)
    for proc in (first, second):
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    memory = _check_consistent(root)
    assert memory.core.store.counts()["turns"] == 30
    for name in ("alpha", "beta"):
        hits = await memory.search(f"{name} question 7", k=1)
        assert hits[0].turn == 8 and hits[0].question.startswith(name)
    memory.close()


OPENER = """
import sys, time
from pathlib import Path
from kanjian.memory.store import Store

start = float(sys.argv[2])
for n, root in enumerate(sys.argv[3:]):
    time.sleep(max(0.0, start + 0.1 * n - time.time()))  # all openers at the same instant
    Store(Path(root) / "kanjian.db").close()
print("opened", flush=True)
"""


@pytest.mark.slow
def test_processes_opening_fresh_stores_at_the_same_instant_all_succeed(tmp_path: Path) -> None:
    """Two processes creating one new store race to switch it to WAL mode and migrate it;
    SQLite answers the loser "database is locked" without waiting, which once turned a
    batch worker's memory off (half of a ``batch -j 2 --remember`` run was not stored)."""
    roots = [str(tmp_path / f"store{n}") for n in range(12)]
    start = str(time.time() + 1.5)  # after every interpreter has started
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", OPENER, "x", start, *roots]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    openers = [subprocess.Popen(command, env=env, cwd=REPO, **pipes) for _ in range(4)]
    for proc in openers:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "opened", err[-2000:]
