"""``kanjian batch -j 2``: the same lines, order, resume and Ctrl-C through worker processes.

Real worker processes (``python -m tui.batch_worker``) talk to the scripted model server over
real HTTP; the tests check the output file and the exit code, as a user would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kanjian.tui.batch_worker import split_concurrency
from kanjian.tui.cli import app
from kanjian.tui.commands.batch_cmd import auto_processes
from kanjian.vlm.fake_server import ScriptedServer
from tests.batch.conftest import FAIL, TaskWriter, read_lines, spawn_batch

DESIGN_KEYS = [
    "id", "session", "answer", "steps", "images", "evidence", "recalled", "usage", "seconds", "error",
]  # fmt: skip


def batch(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["batch", *args])
    return result.exit_code, result.stdout, result.stderr


def test_concurrency_is_split_over_the_workers_and_auto_picks_few_processes() -> None:
    assert split_concurrency(32, 2) == [16, 16]
    assert split_concurrency(7, 3) == [3, 2, 2]
    assert auto_processes(32, 10_000) == 1  # -c 32: one process keeps up
    assert auto_processes(64, 63) == 1  # small batch: start-up would cost more
    assert auto_processes(64, 500) == min(os.cpu_count() or 1, 2)
    assert auto_processes(1000, 10_000) == os.cpu_count()


def test_a_bad_process_count_exits_2(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"question": "a"}\n', encoding="utf-8")
    code, _, stderr = batch(str(tasks), "-j", "zero")
    assert code == 2 and "-j 'zero'" in stderr and stderr.count("\n") == 1


def test_two_processes_write_every_task_once_with_the_design_shape_and_failures(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    rows = [{"id": f"t{n}", "question": f"what is {n}?"} for n in range(8)]
    rows[5] = {"id": "t5", "question": f"{FAIL} please"}
    tasks = write_tasks(rows)
    out = tmp_path / "out.jsonl"
    args = (str(tasks), "-o", str(out), "-c", "4", "-j", "2", "--url", server.url)
    code, stdout, stderr = batch(*args)
    assert code == 1, stderr
    assert stdout == ""
    records = {r["id"]: r for r in read_lines(out)}
    assert len(read_lines(out)) == 8 and sorted(records) == sorted(r["id"] for r in rows)
    for n in (0, 1, 2, 3, 4, 6, 7):
        assert list(records[f"t{n}"]) == DESIGN_KEYS
        assert records[f"t{n}"]["answer"] == f"answer: what is {n}?"
        assert records[f"t{n}"]["error"] is None
    assert records["t5"]["answer"] is None and "500" in records["t5"]["error"]
    assert "2 worker processes ready" in stderr
    cached = sum(r["usage"]["cached_tokens"] for r in records.values())
    summary = stderr.strip().splitlines()[-1]
    assert summary.startswith("kanjian: 7 ok, 1 failed, 0 skipped in ")
    assert cached > 0 and f"{cached} cached" in summary


def test_two_processes_ordered_write_input_order(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    tasks = write_tasks([{"id": f"s{n}", "question": f"slow{n}"} for n in range(6)])
    out = tmp_path / "out.jsonl"
    args = (str(tasks), "-o", str(out), "-c", "6", "-j", "2", "--ordered", "--url", server.url)
    code, _, stderr = batch(*args)
    assert code == 0, stderr
    assert [r["id"] for r in read_lines(out)] == [f"s{n}" for n in range(6)]


def test_a_worker_that_dies_hands_its_tasks_to_the_other_and_the_run_goes_on(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    count = 16
    tasks = write_tasks([{"id": f"d{n}", "question": f"q{n}"} for n in range(count)])
    out = tmp_path / "out.jsonl"
    server.latency = 0.3
    process = spawn_batch(str(tasks), "-o", str(out), "-c", "4", "-j", "2", "--url", server.url)
    try:
        _wait_for_lines(out, 2, process)
        os.kill(_children(process.pid)[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    ids = [r["id"] for r in read_lines(out)]
    assert sorted(ids) == sorted(f"d{n}" for n in range(count))
    assert all(r["error"] is None for r in read_lines(out))


def test_killed_midway_with_two_processes_workers_exit_and_resume_writes_each_once(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    # 25 s of work at -c 2: the run cannot finish before the kill lands, however it is timed.
    count = 100
    tasks = write_tasks([{"id": f"k{n}", "question": f"q{n}"} for n in range(count)])
    out = tmp_path / "out.jsonl"
    server.latency = 0.5
    process = spawn_batch(str(tasks), "-o", str(out), "-c", "2", "-j", "2", "--url", server.url)
    try:
        _wait_for_lines(out, 3, process)
        workers = _children(process.pid)
        process.kill()  # SIGKILL: the parent does no cleanup; the workers must notice
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(workers) == 2
    _wait_gone(workers)
    written_before = out.read_text(encoding="utf-8").count("\n")
    assert 3 <= written_before < count
    server.latency = 0.0
    code, _, stderr = batch(str(tasks), "-o", str(out), "-c", "4", "-j", "2", "--url", server.url)
    assert code == 0, stderr
    assert f"skipping {written_before} done" in stderr
    ids = [r["id"] for r in read_lines(out)]
    assert sorted(ids) == sorted(f"k{n}" for n in range(count))
    assert len(ids) == len(set(ids))


def test_ctrl_c_with_two_processes_exits_130_with_every_finished_line_written(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    # Enough tasks (15 s of work at -c 2) that the run cannot finish before the signal lands.
    tasks = write_tasks([{"id": f"c{n}", "question": f"q{n}"} for n in range(100)])
    out = tmp_path / "out.jsonl"
    server.latency = 0.3
    process = spawn_batch(str(tasks), "-o", str(out), "-c", "2", "-j", "2", "--url", server.url)
    try:
        _wait_for_lines(out, 2, process)
        workers = _children(process.pid)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    _wait_gone(workers)
    records = read_lines(out)
    assert 2 <= len(records) < 100
    assert all(r["error"] is None for r in records)
    ok = int(stderr.split("interrupted after ")[1].split(" ok")[0])
    assert ok == len(records)


@pytest.mark.slow
def test_remember_from_two_processes_stores_every_task(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from kanjian.agent.config import load_settings
    from kanjian.memory.api import Memory

    monkeypatch.setenv("KANJIAN_EMBEDDER", "hash")  # no model to load in a test
    tasks = write_tasks([{"id": f"m{n}", "question": f"what colour is {n}?"} for n in range(6)])
    out = tmp_path / "out.jsonl"
    args = (str(tasks), "-o", str(out), "-c", "4", "-j", "2", "--remember", "--url", server.url)
    code, _, stderr = batch(*args)
    assert code == 0, stderr
    sessions = {r["session"]: r for r in read_lines(out)}

    async def stored() -> dict[str, str]:
        memory = Memory.open(load_settings())
        try:
            listed = await memory.list_sessions()
            return {s.id: (await memory.get_session(s.id)).turns[0].question for s in listed}
        finally:
            memory.close()

    remembered = asyncio.run(stored())
    assert set(remembered) == set(sessions) and len(sessions) == 6, (stderr, out.read_text())
    for session, record in sessions.items():
        assert remembered[session] == f"what colour is {record['id'][1:]}?"


def _children(pid: int) -> list[int]:
    """The worker processes of a running batch (Linux: /proc's children list)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    return [int(child) for child in text.split()]


def _wait_gone(pids: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_running(pid) for pid in pids):
            return
        time.sleep(0.05)
    raise AssertionError(f"worker processes {pids} still run {timeout} s after the batch ended")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (its parent, killed, cannot reap it)


def _wait_for_lines(
    path: Path, lines: int, process: subprocess.Popen[str], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(encoding="utf-8").count("\n") >= lines:
            return
        if process.poll() is not None:
            raise AssertionError("kanjian batch ended before writing the lines")
        time.sleep(0.05)
    raise AssertionError(f"fewer than {lines} lines in {path} after {timeout} s")
