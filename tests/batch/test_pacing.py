"""Pacing (:mod:`kanjian.vlm.pacing`): one task at a time prepares, ``-c`` requests in flight.

The unit tests drive :class:`Admission` with plain coroutines; the end-to-end ones count
the requests a real scripted server has in flight while ``kanjian batch`` runs against it,
in one process and through worker processes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kanjian.agent.batch import BatchTask, run_one
from kanjian.tui.cli import app
from kanjian.vlm.fake_server import ScriptedServer
from kanjian.vlm.pacing import Admission, request_slot
from tests.batch.conftest import TaskWriter, question_of, read_lines


async def _task(
    admission: Admission, name: str, log: list[str], *, prepare: float = 0.0, model: float = 0.05
) -> None:
    async with admission.admitted():
        log.append(f"{name} starts")
        await asyncio.sleep(prepare)
        async with request_slot():
            log.append(f"{name} sends")
            await asyncio.sleep(model)
        log.append(f"{name} done")


async def test_one_task_at_a_time_prepares_until_its_request_leaves() -> None:
    admission, log = Admission(), []
    await asyncio.gather(*(_task(admission, n, log, prepare=0.01) for n in "abc"))
    starts = [entry for entry in log if not entry.endswith("done")]
    # Each task starts only once the one before it has sent its request.
    assert starts == ["a starts", "a sends", "b starts", "b sends", "c starts", "c sends"]
    # And the requests overlap: b sent before a's answer came back.
    assert log.index("b sends") < log.index("a done")


async def test_request_slots_bound_the_requests_in_flight() -> None:
    admission = Admission(requests=2)
    in_flight, peak = 0, 0

    async def task() -> None:
        nonlocal in_flight, peak
        async with admission.admitted(), request_slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(task() for _ in range(7)))
    assert peak == 2 and in_flight == 0


async def test_a_task_that_never_sends_lets_the_next_in_after_max_hold() -> None:
    admission, log = Admission(max_hold=0.05), []
    slow = asyncio.create_task(_task(admission, "slow", log, prepare=1.0))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _task(admission, "quick", log)
    assert loop.time() - started < 0.5  # not the slow task's whole second
    assert log[:3] == ["slow starts", "quick starts", "quick sends"]
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow


async def test_heavy_preparations_overlap_after_max_hold() -> None:
    """Two tasks with 0.3 s of preparation each (12-megapixel photos): the second starts
    after the first has held its turn for max_hold, not after its whole preparation."""
    admission, log = Admission(max_hold=0.05), []
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(_task(admission, n, log, prepare=0.3, model=0.01) for n in "ab"))
    assert log.index("b starts") < log.index("a sends")
    assert loop.time() - started < 0.5  # not 0.6 s, one after the other


async def test_a_task_that_fails_before_its_request_admits_the_next() -> None:
    admission, log = Admission(), []

    async def failing() -> None:
        async with admission.admitted():
            raise ValueError("the image is corrupt")

    results = await asyncio.gather(failing(), _task(admission, "next", log), return_exceptions=True)
    assert isinstance(results[0], ValueError) and log == ["next starts", "next sends", "next done"]


async def test_the_ticket_reaches_requests_made_in_child_tasks() -> None:
    """LangGraph runs the model node in a task of its own: the request is made there."""
    admission, log = Admission(), []

    async def via_child(name: str) -> None:
        async with admission.admitted():
            log.append(f"{name} starts")

            async def node() -> None:
                async with request_slot():
                    log.append(f"{name} sends")
                    await asyncio.sleep(0.01)

            await asyncio.create_task(node())

    await asyncio.gather(via_child("a"), via_child("b"))
    assert log.index("b starts") > log.index("a sends")
    assert log.index("b sends") == log.index("b starts") + 1


async def test_outside_a_batch_a_request_slot_does_nothing() -> None:
    async with request_slot():
        pass
    with pytest.raises(ValueError, match="at least 1"):
        Admission(requests=0)


async def test_the_time_limit_stops_while_a_task_waits_for_a_slot() -> None:
    """Two tasks, one slot, 0.15 s of model each, a 0.2 s limit: the second task waits
    0.15 s for the slot, which must not count, so both finish."""
    admission = Admission(requests=1)

    async def model_call(task: BatchTask) -> dict[str, Any]:
        async with request_slot():
            await asyncio.sleep(0.15)
        return {"answer": task.id}

    tasks = [BatchTask(n, f"t{n}", "q") for n in range(2)]
    records = await asyncio.gather(*(run_one(t, model_call, 0.2, admission) for t in tasks))
    assert [r.get("error") for r in records] == [None, None]
    assert [r["answer"] for r in records] == ["t0", "t1"]


async def test_a_task_past_its_own_time_limit_still_times_out() -> None:
    admission = Admission(requests=1)

    async def too_slow(task: BatchTask) -> dict[str, Any]:
        async with request_slot():
            await asyncio.sleep(1.0)
        return {"answer": task.id}

    record = await run_one(BatchTask(0, "t0", "q"), too_slow, 0.05, admission)
    assert record["error"] == "Task 't0' timed out after 0.05 s." and record["answer"] is None


async def test_a_timeout_raised_inside_the_task_is_its_own_error() -> None:
    async def fails(task: BatchTask) -> dict[str, Any]:
        raise TimeoutError("the OCR engine gave up")

    for admission in (None, Admission()):
        record = await run_one(BatchTask(0, "t0", "q"), fails, None, admission)
        assert record["error"] == "the OCR engine gave up"


# -- end to end: the server's view ----------------------------------------------------------


class _Counting:
    """A scripted model that holds each request briefly and counts those in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.calls = 0

    async def __call__(self, request: dict[str, Any]) -> str:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.03)
        finally:
            self.in_flight -= 1
        return json.dumps({"thought": "done", "answer": f"answer: {question_of(request)}"})


@pytest.mark.parametrize(
    ("concurrency", "processes"), [("3", "1"), ("4", "2")], ids=["one-process", "two-workers"]
)
def test_the_server_never_sees_more_than_c_requests(
    write_tasks: TaskWriter, tmp_path: Path, concurrency: str, processes: str
) -> None:
    model = _Counting()
    tasks = write_tasks([{"id": f"p{n}", "question": f"what is {n}?"} for n in range(24)])
    out = tmp_path / "out.jsonl"
    with ScriptedServer(responder=model) as server:
        args = ["batch", str(tasks), "-o", str(out), "-c", concurrency, "-j", processes]
        result = CliRunner().invoke(app, [*args, "--url", server.url])
    assert result.exit_code == 0, result.stderr
    records = read_lines(out)
    assert sorted(r["id"] for r in records) == sorted(f"p{n}" for n in range(24))
    assert all(r["answer"] == f"answer: what is {r['id'][1:]}?" for r in records)
    assert model.peak == int(concurrency)  # -c requests in flight, and no more
