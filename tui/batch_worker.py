"""Worker processes for ``kanjian batch -j N``: both sides of the pipe.

Why processes: one task costs a few milliseconds of CPU in the agent graph, so one Python
process tops out near 150 one-step tasks per second, below what ``-c 32`` against a fast
server needs. Each worker has its own event loop, agent and connection pool, all talking to
the same server (the way kanjian scales on a many-core box in front of an ``sglang_router``).

The parent stays the only reader of the task file and the only writer of the output. It runs
the ordinary :func:`agent.batch.run_batch` with a ``run_task`` that hands each task to the
least busy worker (:meth:`WorkerPool.run_task`), so order, progress, resume and the summary
are exactly those of one process. Tasks are fed on demand, never sharded up front, so a slow
worker does not hold the tail. Each worker has its share of ``-c`` requests in flight and
runs :func:`agent.batch.prepared_ahead` tasks more, which prepare their requests meanwhile
(see :mod:`kanjian.vlm.pacing`, which paces the worker's tasks); so a finished request is replaced
at once, never after a round trip through the parent (result line out, the parent's write
and dispatch, task line in).

The protocol is one JSON object a line. Parent to worker (stdin): a task
``{"index", "id", "question", "images"}``; closing stdin means "no more tasks". Worker to
parent (stdout): ``{"ready": true}`` once its agent is built and the server reached, or
``{"fatal": sentence, "exit_code": n}`` if that failed; then ``{"index", "record"}`` per task,
in completion order. A worker ignores Ctrl-C (the parent decides when it stops), exits when
its stdin closes and its tasks are done, and exits at once when its stdout pipe breaks (the
parent was killed), so no worker outlives a batch.

    python -m tui.batch_worker CONFIG_JSON     # started by the parent, never by hand
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from kanjian.vlm.errors import KanjianError

if TYPE_CHECKING:
    from kanjian.agent.batch import BatchTask

__all__ = [
    "WorkerConfig",
    "WorkerExited",
    "WorkerPool",
    "WorkerSetupFailed",
    "WorkerUsageError",
    "main",
    "split_concurrency",
]

# Result lines carry whole answers; asyncio's 64 KiB default line limit is too small.
_LINE_LIMIT = 1 << 26
# Seconds a worker gets to exit after SIGTERM before it is killed.
_GRACE = 3.0


class WorkerExited(KanjianError):
    """A worker process ended with tasks unfinished (the task's line carries this)."""


class WorkerSetupFailed(KanjianError):
    """A worker could not build its agent or reach the server (exit 1, one sentence)."""

    exit_code = 1


class WorkerUsageError(WorkerSetupFailed):
    """A worker rejected a setting (exit 2, one sentence)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker needs to answer like the parent would: passed explicitly as JSON."""

    settings: dict[str, Any]
    use_tools: bool = True
    timeout: float | None = None
    remember: bool = False
    # Model requests this worker has in flight at most (its share of -c).
    capacity: int = 1

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        return cls(**json.loads(text))


def split_concurrency(concurrency: int, processes: int) -> list[int]:
    """``concurrency`` spread over ``processes`` workers, the remainder to the first ones."""
    base, extra = divmod(concurrency, processes)
    return [base + (n < extra) for n in range(processes)]


# -- the parent side ------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    """One worker process as the parent sees it: its pipes and the tasks it holds."""

    process: asyncio.subprocess.Process
    capacity: int
    ready: asyncio.Future[None]
    outstanding: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    exited: int | None = None
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    on_unsaved: Callable[[str], None] | None = None

    @property
    def alive(self) -> bool:
        return self.exited is None

    @property
    def load(self) -> float:
        return len(self.outstanding) / self.capacity

    @property
    def has_room(self) -> bool:
        from kanjian.agent.batch import prepared_ahead

        return len(self.outstanding) < self.capacity + prepared_ahead(self.capacity)

    def submit(self, task: BatchTask) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.outstanding[task.index] = future
        line = {"index": task.index, "id": task.id, "question": task.question}
        line["images"] = list(task.images)  # type: ignore[assignment]
        if task.schema is not None:
            line["schema"] = task.schema.key
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        return future

    def on_line(self, message: dict[str, Any]) -> None:
        if "index" in message:
            future = self.outstanding.pop(message["index"], None)
            if future is not None and not future.done():
                future.set_result(message["record"])
        elif "unsaved" in message:
            if self.on_unsaved is not None:
                self.on_unsaved(str(message["unsaved"]))
        elif message.get("ready") and not self.ready.done():
            self.ready.set_result(None)
        elif "fatal" in message and not self.ready.done():
            kind = WorkerUsageError if message.get("exit_code") == 2 else WorkerSetupFailed
            self.ready.set_exception(kind(message["fatal"]))

    def on_exit(self, code: int) -> None:
        """Fail whatever it still held: the pool re-queues those tasks once."""
        self.exited = code
        gone = WorkerExited(f"The worker process exited with code {code} before finishing.")
        if not self.ready.done():
            self.ready.set_exception(
                WorkerSetupFailed(
                    f"A worker process exited with code {code} before it was ready; "
                    "see its error above."
                )
            )
        for future in self.outstanding.values():
            if not future.done():
                future.set_exception(gone)
        self.outstanding.clear()


class WorkerPool:
    """``processes`` workers sharing ``concurrency``; use as an async context manager.

    ``run_task`` is a :data:`agent.batch.RunTask`: give it to ``run_batch`` with
    :attr:`slots` tasks in flight, what the workers run (timeouts are applied by the
    workers, where the task runs).
    """

    def __init__(
        self,
        processes: int,
        concurrency: int,
        config: WorkerConfig,
        err: IO[str],
        *,
        on_unsaved: Callable[[str], None] | None = None,
    ) -> None:
        self._capacities = split_concurrency(concurrency, max(1, min(processes, concurrency)))
        self._config = config
        self._err = err
        # A task whose session a worker could not save: the reason, for the run's warning.
        self._on_unsaved = on_unsaved
        self._workers: list[_Worker] = []

    async def __aenter__(self) -> WorkerPool:
        try:
            for capacity in self._capacities:
                self._workers.append(await self._spawn(capacity))
            await asyncio.gather(*(w.ready for w in self._workers))
        except BaseException:
            await self.aclose(graceful=False)
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        await self.aclose(graceful=kind is None)

    @property
    def processes(self) -> int:
        return len(self._capacities)

    @property
    def slots(self) -> int:
        """Tasks to keep handed out: each worker's requests in flight and tasks ahead."""
        from kanjian.agent.batch import prepared_ahead

        return sum(c + prepared_ahead(c) for c in self._capacities)

    async def run_task(self, task: BatchTask) -> dict[str, Any]:
        """Run ``task`` on the least busy worker; if that worker dies, once more elsewhere."""
        for attempt in range(2):
            live = [w for w in self._workers if w.alive]
            if not live:
                raise WorkerExited("Every worker process has exited; rerun the batch to resume.")
            # Least busy first; one with its queue full only if every worker is (a retry
            # after a worker died may find the rest full).
            worker = min(live, key=lambda w: (not w.has_room, w.load))
            try:
                return await worker.submit(task)
            except WorkerExited:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def aclose(self, *, graceful: bool) -> None:
        """End every worker: close stdin and let it finish, or terminate then kill."""
        for worker in self._workers:
            if worker.alive and graceful and worker.process.stdin is not None:
                worker.process.stdin.close()
            elif worker.alive:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.terminate()
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.process.wait(), _GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
            await asyncio.gather(*worker.pumps, return_exceptions=True)

    async def _spawn(self, capacity: int) -> _Worker:
        config = dataclasses.replace(self._config, capacity=capacity)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kanjian.tui.batch_worker",
            config.to_json(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        ready = asyncio.get_running_loop().create_future()
        worker = _Worker(process, capacity, ready, on_unsaved=self._on_unsaved)
        worker.ready.add_done_callback(_retrieve)  # a failure is raised by __aenter__
        worker.pumps = [
            asyncio.create_task(self._read_results(worker)),
            asyncio.create_task(self._forward_errors(worker)),
        ]
        return worker

    async def _read_results(self, worker: _Worker) -> None:
        assert worker.process.stdout is not None
        while line := await worker.process.stdout.readline():
            worker.on_line(json.loads(line))
        worker.on_exit(await worker.process.wait())

    async def _forward_errors(self, worker: _Worker) -> None:
        """A worker's stderr (its one-sentence errors, warnings) goes to the parent's."""
        assert worker.process.stderr is not None
        while line := await worker.process.stderr.readline():
            self._err.write(line.decode("utf-8", "replace"))
            self._err.flush()


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


# -- the worker side ------------------------------------------------------------------------


def main() -> None:
    """The worker process: answer tasks from stdin until it closes."""
    # Ctrl-C reaches the whole process group; the parent stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Results go to a private copy of stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    config = WorkerConfig.from_json(sys.argv[1])
    asyncio.run(_serve(config, out))


async def _serve(config: WorkerConfig, out: BinaryIO) -> None:
    from kanjian.agent.api import Kanjian
    from kanjian.agent.config import load_settings
    from kanjian.tui.commands.batch_cmd import prepare_agent
    from kanjian.tui.runner import error_exit_code

    try:
        settings = load_settings(config.settings)
    except Exception as exc:
        _emit(out, {"fatal": str(exc), "exit_code": error_exit_code(exc) or 1})
        return
    async with Kanjian(settings, use_tools=config.use_tools, remember=config.remember) as kanjian:
        try:
            await prepare_agent(kanjian)
        except Exception as exc:
            _emit(out, {"fatal": str(exc), "exit_code": error_exit_code(exc) or 1})
            return
        _freeze_heap()
        _emit(out, {"ready": True})
        await _answer_all(kanjian, config, out)


def _freeze_heap() -> None:
    """Move everything imported and built so far out of the garbage collector's sight, so a
    full collection never walks the large import-time heap. On ``bench.batch`` (2 shared
    cores) the CPU per task moved within noise (6.2-6.6 ms either way): kept as it is free."""
    import gc

    gc.collect()
    gc.freeze()


async def _answer_all(kanjian: Any, config: WorkerConfig, out: BinaryIO) -> None:
    from dataclasses import replace

    from kanjian.agent.batch import BatchTask, run_one
    from kanjian.tui.commands.batch_cmd import task_runner
    from kanjian.vlm.pacing import Admission
    from kanjian.vlm.schema import load_schema

    run_task = task_runner(kanjian, on_unsaved=lambda reason: _emit(out, {"unsaved": reason}))
    running: set[asyncio.Task[None]] = set()
    # The parent hands over a few more tasks than this worker's share of -c; all run,
    # paced, and the server never sees more than the share in flight.
    admission = Admission(requests=config.capacity)

    async def answer(task: BatchTask) -> None:
        record = await run_one(task, run_task, config.timeout, admission)
        _emit(out, {"index": task.index, "record": record})

    reader = await _stdin_reader()
    while line := await reader.readline():
        data = json.loads(line)
        task = BatchTask(data["index"], data["id"], data["question"], tuple(data["images"]))
        if "schema" in data:  # checked by the parent; compiled once here (cached)
            task = replace(task, schema=load_schema(json.loads(data["schema"])))
        job = asyncio.create_task(answer(task))
        running.add(job)
        job.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _emit(out: BinaryIO, message: dict[str, Any]) -> None:
    try:
        out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
        out.flush()
    except (BrokenPipeError, ValueError):
        # The parent is gone (killed): nobody will read this or any later result.
        os._exit(1)


if __name__ == "__main__":
    main()
