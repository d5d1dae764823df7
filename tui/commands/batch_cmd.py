"""``kanjian batch``: JSONL tasks in, one JSONL result line per task out.

Every task runs through one shared :class:`agent.api.Kanjian`, so the whole batch uses one
HTTP connection pool and one compiled agent graph. The task file is read and checked before
anything runs (a bad file exits 2 with one sentence); the agent is built (and the server
checked) before the first task, so a wrong URL is one sentence too, not a thousand error
lines. Then :func:`agent.batch.run_batch` keeps ``-c`` requests in flight (a few tasks
more prepare theirs meanwhile, paced by :mod:`kanjian.vlm.pacing`) and writes each result as it
finishes; with ``-o`` the output is appended to and ids already in it are skipped, so
rerunning the command resumes a killed batch.

With ``-j N`` (default ``auto``: several processes only for a big batch above ``-c 32``)
the tasks are spread over ``N`` worker processes (:mod:`kanjian.tui.batch_worker`), each
with its own agent and connection pool: one process's CPU tops out near 400 one-step tasks
per second. This process still reads the tasks and writes every line, so nothing else
changes.

Past conversations are recalled into each task's prompt as ``ask`` does, but from memory
as it was when the batch started (:func:`kanjian.agent.remember.snapshot_recall`): with
``--remember`` each task is stored as its own conversation, and none of those is recalled
into another task, whose answer so does not depend on which tasks finished first.
``--no-recall`` (or ``memory.recall = "off"``) recalls nothing; without ``--remember`` and
without a memory to recall from, memory is not opened at all. Side-effect tools default to
``--approve never``: nobody is at a terminal to ask.

Exit codes: 0 every task ok, 1 some task failed (its line has ``error``), 2 bad usage or
input, 130 interrupted (every finished line is written).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from kanjian.agent.api import Kanjian
    from kanjian.agent.batch import BatchSummary, BatchTask, RunTask
    from kanjian.vlm.pacing import Admission

__all__ = [
    "BatchOptions",
    "Unsaved",
    "auto_processes",
    "execute",
    "prepare_agent",
    "register",
    "task_runner",
]

Approve = Literal["never", "always"]


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """What one ``kanjian batch`` invocation asks for (the flags, checked)."""

    tasks_file: Path
    output: Path | None = None
    concurrency: int = 8
    remember: bool = False
    ordered: bool = False
    timeout: float | None = None
    url: str | None = None
    no_tools: bool = False
    approve: Approve = "never"
    max_steps: int | None = None
    # Worker processes; None: auto (see auto_processes).
    processes: int | None = None
    # None: a live bar when stderr is a terminal, plain lines otherwise.
    live_progress: bool | None = None
    # ``--schema``: the answer schema of tasks that give none of their own.
    schema: str | None = None
    no_recall: bool = False

    def settings_flags(self) -> dict[str, Any]:
        """The settings every process of the batch loads (see :func:`memory_flag`)."""
        flags = {
            "vlm.url": self.url,
            "agent.approve": self.approve,
            "agent.max_steps": self.max_steps,
            "memory.recall": "off" if self.no_recall else None,
            "memory.enabled": True if self.remember else None,
        }
        return flags | {"memory.enabled": memory_flag(self.remember, flags)}


def memory_flag(remember: bool, flags: dict[str, Any]) -> bool:
    """Whether the batch opens memory: to store (``--remember``), or only to recall from one
    that exists (a batch that remembers nothing never creates the memory folder)."""
    if remember:
        return True
    from kanjian.agent.config import load_settings

    settings = load_settings(flags)
    if not (settings.memory.enabled and settings.agent.recall):
        return False
    return settings.memory.recall == "auto" and (settings.memory_dir / "kanjian.db").exists()


def batch(
    tasks_file: Annotated[
        Path,
        typer.Argument(
            help='JSONL, one task a line: {"id", "question", "images": [paths]}.',
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Append results here (resumable); default: stdout."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("-c", "--concurrency", min=1, help="Model requests in flight at once.")
    ] = 8,
    remember: Annotated[
        bool, typer.Option("--remember", help="Store each task as a conversation in memory.")
    ] = False,
    ordered: Annotated[
        bool, typer.Option("--ordered", help="Write results in input order, not as they finish.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.001, help="Seconds before a task fails as timed out."),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Model server URL (default: KANJIAN_URL or config).")
    ] = None,
    processes: Annotated[
        str,
        typer.Option(
            "-j", "--processes", help="Worker processes: a number, or auto (by -c and size)."
        ),
    ] = "auto",
    no_tools: Annotated[
        bool, typer.Option("--no-tools", help="The model alone, no tools.")
    ] = False,
    approve: Annotated[
        str, typer.Option("--approve", help="Side-effect tools: never or always.")
    ] = "never",
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Most tool steps per answer.")
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            help='Answer as JSON matching a schema (file, inline JSON or "a, b float"); '
            'a task\'s own "schema" wins.',
        ),
    ] = None,
    no_recall: Annotated[
        bool,
        typer.Option(
            "--no-recall", help="Recall no past turns (--remember still stores the tasks)."
        ),
    ] = False,
) -> None:
    """Answer a JSONL file of questions about images, -c at a time, one JSON line each."""
    from kanjian.tui.runner import fail, run

    if approve not in ("never", "always"):
        fail(
            f"--approve {approve!r} is not valid for batch; use never or always "
            "(nobody is at a terminal to ask)."
        )
    workers = _parse_processes(processes)
    if output is not None and _same_file(output, tasks_file):
        fail(f"Output {str(output)!r} is the task file; write the results to another file.")
    options = BatchOptions(
        tasks_file=tasks_file,
        output=output,
        concurrency=concurrency,
        remember=remember,
        ordered=ordered,
        timeout=timeout,
        url=url,
        no_tools=no_tools,
        approve="always" if approve == "always" else "never",
        max_steps=max_steps,
        processes=workers,
        schema=schema,
        no_recall=no_recall,
    )
    summary = run(execute(options))
    raise typer.Exit(1 if summary.failed else 0)


def _parse_processes(value: str) -> int | None:
    from kanjian.tui.runner import fail

    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        fail(f"-j {value!r} is not a number of processes; pass a whole number >= 1 or auto.")
    return int(value)


# Requests in flight one process keeps up with: a one-step task costs it ~2.5 ms of CPU, so
# 32 in flight against a 200 ms model (160 tasks/s) keep it 40 % busy; a second process
# would cost more to start (~1 s of two cores) than it gives back.
PER_PROCESS = 32


def auto_processes(concurrency: int, tasks: int) -> int:
    """``-j auto``: one process for a small batch or up to ``-c 32`` (start-up would cost
    more than it saves), else one per 32 requests in flight, at most one per CPU core."""
    import math

    if tasks < 64 or concurrency <= PER_PROCESS:
        return 1
    return max(1, min(os.cpu_count() or 1, math.ceil(concurrency / PER_PROCESS)))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


async def execute(options: BatchOptions, *, err: IO[str] | None = None) -> BatchSummary:
    """The whole command (used by the CLI and ``bench.batch``): returns the summary.

    Raises kanjian errors for bad input or settings (the CLI prints them as one sentence);
    on cancellation (Ctrl-C) writes what finished, reports it and re-raises.
    """
    from kanjian.agent.api import Kanjian
    from kanjian.agent.batch import BatchSummary, completed_ids, prepared_ahead, read_tasks
    from kanjian.agent.config import load_settings
    from kanjian.tui.batch_progress import format_summary
    from kanjian.vlm.pacing import Admission
    from kanjian.vlm.schema import load_schema

    stream = err or sys.stderr
    unsaved = Unsaved()
    # Every schema is checked (and compiled, once each) before the first model call.
    default_schema = load_schema(options.schema) if options.schema is not None else None
    tasks = read_tasks(options.tasks_file, schema=default_schema)
    done = completed_ids(options.output) if options.output else set()
    skipped = sum(task.id in done for task in tasks)
    if skipped:
        _say(stream, f"kanjian: skipping {skipped} done (already in {options.output}).")
    todo = len(tasks) - skipped
    processes = options.processes or auto_processes(options.concurrency, todo)
    processes = min(processes, options.concurrency, todo or 1)
    if skipped == len(tasks):
        summary = BatchSummary(total=len(tasks), skipped=skipped)
    elif processes > 1:
        summary = await _run_in_processes(tasks, done, options, processes, stream, unsaved)
    else:
        settings = load_settings(options.settings_flags())
        kanjian = Kanjian(settings, use_tools=not options.no_tools, remember=options.remember)
        async with kanjian:
            await prepare_agent(kanjian)
            run_task = task_runner(kanjian, stream, unsaved.add)
            # -c requests in flight, and a few tasks more preparing theirs (vlm.pacing).
            concurrency = options.concurrency
            summary = await _run(
                tasks, done, options, stream, run_task,
                concurrency + prepared_ahead(concurrency), options.timeout,
                admission=Admission(requests=concurrency),
            )  # fmt: skip
    if warning := unsaved.warning():
        _say(stream, warning)
    _say(stream, format_summary(summary))
    return summary


async def prepare_agent(kanjian: Kanjian) -> None:
    """Build the agent and reach the server before the first task: a setup error (bad URL,
    broken plugin) is one sentence instead of a failed line per task, and the first tasks
    do not pay for imports or connecting. Recall, when on, reads memory as it is now."""
    import asyncio

    agent = await kanjian.agent()
    memory = await kanjian.memory()
    if agent.recall is not None and memory is not None:
        from kanjian.agent.remember import snapshot_recall

        budget = kanjian.settings.agent.recall_budget_tokens
        agent.recall = await snapshot_recall(memory, budget)
    # Reach the server once now: a wrong URL fails here, and the connection is warm.
    await agent.backend.model_info()
    await asyncio.to_thread(_import_image_codecs)


def _import_image_codecs() -> None:
    """Image loading and wire encoding, imported before the first task needs them."""
    import importlib

    from PIL import Image

    for name in ("kanjian.vlm.images", "kanjian.vlm.wire"):
        importlib.import_module(name)
    Image.init()


def task_runner(
    kanjian: Kanjian,
    err: IO[str] | None = None,
    on_unsaved: Callable[[str], None] | None = None,
) -> RunTask:
    """One task through the shared agent, as its ``ask --json`` record.

    A turn that ``--remember`` could not store is still answered (its line is the same),
    but the reason goes to ``err`` (stderr), once per distinct reason: a batch must not
    lose its memory silently. A task whose session file could not be written is answered
    too; ``on_unsaved`` gets the reason (the run reports them once, counted: see
    :class:`Unsaved`).
    """
    warned: set[str] = set()

    async def run_task(task: BatchTask) -> dict[str, Any]:
        finished = await kanjian.ask(task.question, task.images, run_id=task.id, schema=task.schema)
        note = finished.extra.get("memory_error")
        if note and note not in warned:
            warned.add(note)
            _say(err or sys.stderr, f"kanjian: warning: task {task.id!r}: {note}")
        if (unsaved := finished.extra.get("session_error")) and on_unsaved is not None:
            on_unsaved(unsaved)
        return finished.to_json()

    return run_task


class Unsaved:
    """Tasks answered whose session could not be saved: one warning per run, not per task
    (a read-only data folder would otherwise print a line per task)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None

    def add(self, reason: str) -> None:
        self.count += 1
        self.first = self.first or reason

    def warning(self) -> str | None:
        if not self.count:
            return None
        tasks = "1 task" if self.count == 1 else f"{self.count} tasks"
        return f"kanjian: warning: the conversations of {tasks} were not saved; the first: {self.first}"


async def _run_in_processes(
    tasks: list[BatchTask],
    done: set[str],
    options: BatchOptions,
    processes: int,
    stream: IO[str],
    unsaved: Unsaved,
) -> BatchSummary:
    """Probe the server here once (a wrong URL is one sentence), start the workers (each
    builds its agent before its first task), then run the same runner through them."""
    import time

    from kanjian.agent.api import Kanjian
    from kanjian.agent.config import load_settings
    from kanjian.tui.batch_worker import WorkerConfig, WorkerPool

    flags = options.settings_flags()
    async with Kanjian(load_settings(flags), use_tools=False) as probe:
        await (await probe.backend()).model_info()
    config = WorkerConfig(
        flags, use_tools=not options.no_tools, timeout=options.timeout, remember=options.remember
    )
    start = time.perf_counter()
    pool = WorkerPool(processes, options.concurrency, config, stream, on_unsaved=unsaved.add)
    async with pool:
        startup = time.perf_counter() - start
        _say(stream, f"kanjian: {pool.processes} worker processes ready in {startup:.1f} s.")
        # Timeouts apply in the workers, where the task runs; here it only waits. The
        # workers have -c requests in flight and a few tasks more preparing (pool.slots).
        summary = await _run(tasks, done, options, stream, pool.run_task, pool.slots, None)
    summary.startup_seconds = startup
    return summary


async def _run(
    tasks: list[BatchTask],
    done: set[str],
    options: BatchOptions,
    stream: IO[str],
    run_task: RunTask,
    concurrency: int,
    task_timeout: float | None,
    *,
    admission: Admission | None = None,
) -> BatchSummary:
    import asyncio

    from kanjian.agent.batch import run_batch
    from kanjian.tui.batch_progress import format_interrupted, make_progress

    progress = make_progress(stream, live=options.live_progress)
    with _open_output(options.output) as out:
        try:
            return await run_batch(
                tasks,
                run_task,
                out,
                concurrency=concurrency,
                task_timeout=task_timeout,
                ordered=options.ordered,
                skip=done,
                progress=progress,
                admission=admission,
            )
        except asyncio.CancelledError:
            _say(stream, format_interrupted(progress, resumable=options.output is not None))
            raise


@contextmanager
def _open_output(path: Path | None) -> Iterator[IO[str]]:
    """The output file opened for appending, or stdout (left open) when there is none."""
    if path is None:
        yield _Stdout()  # type: ignore[misc]  # a TextIOBase is a text stream at run time
        return
    from kanjian.agent.errors import InputError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"Cannot write results to {str(path)!r} ({exc.strerror or exc}); "
            "pass -o a writable file."
        ) from exc
    with handle:
        yield handle


class _Stdout(io.TextIOBase):
    """Writes to whatever ``sys.stdout`` is now: while the live bar runs, rich swaps in a
    proxy that prints lines above the bar, and result lines must go through it too."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _say(stream: IO[str], line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


def register(app: typer.Typer) -> None:
    app.command()(batch)
