"""The batch runner's own guarantees, independent of the model: order, resume, failures."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from kanjian.agent.batch import BatchTask, completed_ids, read_tasks, run_batch
from kanjian.agent.errors import InputError


def tasks_file(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_tasks(n: int) -> list[BatchTask]:
    return [BatchTask(index=i, id=f"t{i}", question=f"q{i}") for i in range(n)]


async def answer_after(task: BatchTask) -> dict[str, Any]:
    # Later tasks finish first, so completion order differs from input order.
    await asyncio.sleep(0.001 * (20 - task.index))
    return {
        "id": task.id,
        "answer": task.question.upper(),
        "usage": {"prompt_tokens": 10, "cached_tokens": 4},
    }


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


async def test_ordered_output_follows_input_order() -> None:
    out = io.StringIO()
    summary = await run_batch(make_tasks(20), answer_after, out, concurrency=8, ordered=True)
    assert [r["id"] for r in lines(out)] == [f"t{i}" for i in range(20)]
    assert summary.done == 20 and summary.failed == 0
    assert summary.usage == {"prompt_tokens": 200, "completion_tokens": 0, "cached_tokens": 80}


async def test_completion_order_by_default_has_every_task_once() -> None:
    out = io.StringIO()
    await run_batch(make_tasks(20), answer_after, out, concurrency=20)
    ids = [r["id"] for r in lines(out)]
    assert sorted(ids) == sorted(f"t{i}" for i in range(20))
    assert ids != [f"t{i}" for i in range(20)]


async def test_a_failing_task_is_a_line_with_error_and_the_run_goes_on() -> None:
    async def flaky(task: BatchTask) -> dict[str, Any]:
        if task.id == "t3":
            raise RuntimeError("Cannot reach the model server.")
        return {"id": task.id, "answer": "ok"}

    out = io.StringIO()
    summary = await run_batch(make_tasks(6), flaky, out, concurrency=2, ordered=True)
    records = lines(out)
    assert records[3]["error"] == "Cannot reach the model server."
    assert records[3]["answer"] is None
    assert summary.failed == 1 and summary.done == 5


async def test_per_task_timeout() -> None:
    async def slow(task: BatchTask) -> dict[str, Any]:
        await asyncio.sleep(10 if task.id == "t1" else 0)
        return {"id": task.id, "answer": "ok"}

    out = io.StringIO()
    await run_batch(make_tasks(3), slow, out, concurrency=3, task_timeout=0.2, ordered=True)
    assert lines(out)[1]["error"] == "Task 't1' timed out after 0.2 s."


async def test_concurrency_is_bounded() -> None:
    running = peak = 0

    async def track(task: BatchTask) -> dict[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        return {"id": task.id}

    await run_batch(make_tasks(40), track, io.StringIO(), concurrency=4)
    assert peak == 4


def test_resume_skips_done_ids_and_repairs_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "t0", "answer": "a"}\n{"id": "t1", "answ', encoding="utf-8")
    assert completed_ids(out) == {"t0"}
    assert out.read_text(encoding="utf-8") == '{"id": "t0", "answer": "a"}\n'


def test_bad_task_lines_fail_fast_with_the_line_number(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"id": 1, "question": "hi"}\n{"id": 2}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"tasks.jsonl:2 has no \"question\""):
        read_tasks(path)
    path.write_text("not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"tasks.jsonl:1 is not valid JSON"):
        read_tasks(path)


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, [{"id": "a", "question": "x"}, {"id": "a", "question": "y"}])
    with pytest.raises(InputError, match="appears twice"):
        read_tasks(path)


def test_image_paths_resolve_against_the_task_file(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, [{"id": "a", "question": "x", "images": ["img/a.png"]}])
    assert read_tasks(path)[0].images == (str(tmp_path / "img" / "a.png"),)
