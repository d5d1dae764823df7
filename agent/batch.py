"""The batch runner behind ``kanjian batch``: JSONL tasks in, JSONL results out.

Design points, each for a reason:

* **Bounded concurrency with a fixed pool of workers** pulling from a queue, so 10,000 tasks
  do not become 10,000 pending coroutines and the server sees exactly ``concurrency``
  requests in flight.
* **Resumable**: ids already in the output file are skipped; a torn last line left by a
  killed process is cut off before appending, so every task ends up exactly once.
* **Every finished line is written and flushed at once** (completion order), or as soon as
  all earlier ones are done (``ordered``); Ctrl-C or a kill loses only tasks in flight.
* **A failed task is a line with ``error``** and the run goes on; a task that runs past its
  timeout fails the same way.
* **Pacing** (:mod:`kanjian.vlm.pacing`, when the caller passes an ``Admission``): one task at a
  time runs until its model request is ready to leave, ``-c`` bounds the requests in
  flight, and :func:`prepared_ahead` more tasks than that run, preparing their requests
  while the server works; so a finished request is at once replaced by a ready one.

With several worker processes (``kanjian batch -j``) the parent runs this same runner with a
``run_task`` that hands each task to a worker (:mod:`kanjian.tui.batch_worker`), and each worker calls
:func:`run_one` itself; so writing, order, progress and resume stay in one place.

The runner knows nothing about models: it calls ``run_task(task) -> dict`` (the
``ask --json`` record) supplied by the caller, which keeps it testable and reusable.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import io
import json
import os
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from kanjian.agent.errors import InputError

if TYPE_CHECKING:
    from kanjian.vlm.pacing import Admission, Ticket
    from kanjian.vlm.schema import AnswerSchema

__all__ = [
    "BatchProgress",
    "BatchSummary",
    "BatchTask",
    "completed_ids",
    "prepared_ahead",
    "read_tasks",
    "run_batch",
    "run_one",
]


@dataclass(frozen=True, slots=True)
class BatchTask:
    index: int
    id: str
    question: str
    images: tuple[str, ...] = ()
    # The task's "schema" (or ``batch --schema``'s), checked: the answer is then an object.
    schema: AnswerSchema | None = None


@dataclass(slots=True)
class BatchSummary:
    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
    )
    interrupted: bool = False
    # Seconds spent starting worker processes before the first task (not in ``seconds``).
    startup_seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def add_usage(self, usage: dict[str, Any] | None) -> None:
        for key in self.usage:
            self.usage[key] += int((usage or {}).get(key) or 0)


class BatchProgress(Protocol):
    def start(self, total: int, skipped: int) -> None: ...

    def advance(self, ok: bool) -> None: ...

    def stop(self) -> None: ...


RunTask = Callable[[BatchTask], Awaitable[dict[str, Any]]]


def prepared_ahead(concurrency: int) -> int:
    """Tasks run beyond ``concurrency`` requests in flight, preparing theirs meanwhile: a
    quarter more (at least one), enough to replace a group of requests that finish
    together, few enough that an interrupted batch has little started work to redo."""
    return max(1, concurrency // 4)


def read_tasks(
    path: Path, *, base_dir: Path | None = None, schema: AnswerSchema | None = None
) -> list[BatchTask]:
    """Parse and check every line before anything runs: bad input fails fast (exit 2).

    ``schema`` is for tasks without a ``"schema"`` of their own (``batch --schema``).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"Task file '{path}' does not exist; pass a JSONL file of tasks.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read task file '{path}': {exc}.") from exc
    tasks: list[BatchTask] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        task = _parse_task(line, number, path, base_dir or path.parent, len(tasks))
        if task.schema is None and schema is not None:
            task = replace(task, schema=schema)
        if task.id in seen:
            raise InputError(f"{path}:{number}: id {task.id!r} appears twice; ids must be unique.")
        seen.add(task.id)
        tasks.append(task)
    return tasks


def _parse_task(line: str, number: int, path: Path, base_dir: Path, index: int) -> BatchTask:
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} is not valid JSON ({exc.msg}); each line is one task object."
        ) from exc
    if not isinstance(data, dict):
        raise InputError(f'{where} is not a JSON object; write {{"id", "question", "images"}}.')
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError(f'{where} has no "question" string; every task needs one.')
    images = data.get("images", [])
    if isinstance(images, str):
        images = [images]
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise InputError(f'{where}: "images" must be a list of paths.')
    task_id = data.get("id", number)
    if not isinstance(task_id, str | int):
        raise InputError(f'{where}: "id" must be a string or a number.')
    resolved = tuple(str(_resolve(base_dir, image)) for image in images)
    schema = _task_schema(data.get("schema"), where, base_dir)
    return BatchTask(index, str(task_id), question, resolved, schema)


def _task_schema(raw: Any, where: str, base_dir: Path) -> AnswerSchema | None:
    """A task's ``"schema"``: a JSON Schema object, or a string as ``--schema`` takes it (a
    file relative to the task file, inline JSON, the concise form)."""
    if raw is None:
        return None
    from kanjian.vlm.schema import SchemaError, load_schema

    if isinstance(raw, str) and not raw.lstrip().startswith("{"):
        path = _resolve(base_dir, raw.strip())
        if path.suffix.lower() == ".json" or path.is_file():
            raw = path
    if not isinstance(raw, str | dict | Path):
        raise InputError(f'{where}: "schema" must be a JSON Schema object or a string.')
    try:
        return load_schema(raw)
    except SchemaError as exc:
        raise InputError(f"{where}: {exc}") from exc


def _resolve(base_dir: Path, image: str) -> Path:
    path = Path(image).expanduser()
    return path if path.is_absolute() else base_dir / path


def completed_ids(output: Path) -> set[str]:
    """Ids already written to ``output``; cuts off a torn last line a kill may have left."""
    if not output.exists():
        return set()
    raw = output.read_bytes()
    if raw and not raw.endswith(b"\n"):
        keep = raw.rfind(b"\n") + 1
        with output.open("r+b") as handle:
            handle.truncate(keep)
        raw = raw[:keep]
    ids: set[str] = set()
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "id" in record:
            ids.add(str(record["id"]))
    return ids


class _Writer:
    """Writes result lines, flushing each; in ``ordered`` mode holds back out-of-order ones."""

    def __init__(self, handle: IO[str], ordered: bool, pending: Iterable[int]) -> None:
        self._handle = handle
        self._ordered = ordered
        self._order = sorted(pending)
        self._next = 0
        self._held: list[tuple[int, str]] = []

    def write(self, index: int, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        if not self._ordered:
            self._emit(line)
            return
        heapq.heappush(self._held, (index, line))
        while (
            self._held
            and self._next < len(self._order)
            and self._held[0][0] == self._order[self._next]
        ):
            self._emit(heapq.heappop(self._held)[1])
            self._next += 1

    def flush_held(self) -> None:
        """On interruption in ordered mode, write what finished anyway (nothing is lost)."""
        while self._held:
            self._emit(heapq.heappop(self._held)[1])

    def _emit(self, line: str) -> None:
        self._handle.write(line)
        self._handle.flush()


async def run_batch(
    tasks: list[BatchTask],
    run_task: RunTask,
    output: IO[str],
    *,
    concurrency: int = 8,
    task_timeout: float | None = None,
    ordered: bool = False,
    skip: Collection[str] = (),
    progress: BatchProgress | None = None,
    admission: Admission | None = None,
) -> BatchSummary:
    """Run ``tasks`` not in ``skip`` with at most ``concurrency`` at once; write each result.

    ``admission`` paces tasks that run here (pass none when ``run_task`` only hands the
    task to another process, which paces its own).
    """
    if concurrency < 1:
        raise InputError(f"Concurrency {concurrency!r} must be at least 1.")
    todo = [task for task in tasks if task.id not in skip]
    summary = BatchSummary(total=len(tasks), skipped=len(tasks) - len(todo))
    writer = _Writer(output, ordered, (task.index for task in todo))
    queue: asyncio.Queue[BatchTask] = asyncio.Queue()
    for task in todo:
        queue.put_nowait(task)
    if progress:
        progress.start(len(todo), summary.skipped)
    start = time.perf_counter()

    async def worker() -> None:
        while not queue.empty():
            task = queue.get_nowait()
            record = await run_one(task, run_task, task_timeout, admission)
            ok = not record.get("error")
            summary.done += ok
            summary.failed += not ok
            summary.add_usage(record.get("usage"))
            writer.write(task.index, record)
            if progress:
                progress.advance(ok)

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(todo)) or 0)]
    try:
        await asyncio.gather(*workers)
    except asyncio.CancelledError:
        summary.interrupted = True
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        writer.flush_held()
        raise
    finally:
        summary.seconds = time.perf_counter() - start
        if progress:
            progress.stop()
        _sync_to_disk(output)
    return summary


def _sync_to_disk(handle: IO[str]) -> None:
    """fsync a real file (a kill after this loses nothing); streams like stdout are skipped."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        os.fsync(handle.fileno())


async def run_one(
    task: BatchTask,
    run_task: RunTask,
    task_timeout: float | None,
    admission: Admission | None = None,
) -> dict[str, Any]:
    """One task's record: ``run_task``'s, or a failure line on an error or a timeout.

    With ``admission`` the task first waits for its turn (see :mod:`kanjian.vlm.pacing`); its
    ``seconds`` and its timeout start once it is admitted, and the timeout stops while the
    task waits for a free request slot.
    """
    if admission is None:
        return await _run_timed(task, run_task, task_timeout, None)
    async with admission.admitted() as ticket:
        return await _run_timed(task, run_task, task_timeout, ticket)


async def _run_timed(
    task: BatchTask, run_task: RunTask, task_timeout: float | None, ticket: Ticket | None
) -> dict[str, Any]:
    start = time.perf_counter()
    deadline: asyncio.Timeout | None = None
    try:
        async with asyncio.timeout(task_timeout) as deadline:
            if ticket is not None:
                ticket.deadline = deadline
            record = await run_task(task)
    except TimeoutError as exc:
        if deadline is not None and deadline.expired():
            return _failure(task, f"Task {task.id!r} timed out after {task_timeout:g} s.", start)
        return _failure(task, str(exc) or type(exc).__name__, start)  # a timeout of its own
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a task's failure is its line, never the batch's end
        return _failure(task, str(exc) or type(exc).__name__, start)
    record["id"] = task.id
    return record


def _failure(task: BatchTask, message: str, start: float) -> dict[str, Any]:
    return {
        "id": task.id,
        "session": None,
        "answer": None,
        "steps": [],
        "images": {f"image_{n}": path for n, path in enumerate(task.images, start=1)},
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0},
        "seconds": round(time.perf_counter() - start, 3),
        "error": message,
    }
