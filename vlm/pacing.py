"""Pacing a batch: one task at a time prepares its request, and ``-c`` requests in flight.

A batch starts tasks in bursts: at its start, and whenever the server answers a group of
requests together (a fixed-latency server answers them as bunched as they were sent). Each
task has a few milliseconds of CPU work before its request leaves (load and encode the
image, the agent graph's bookkeeping, encode the body). asyncio runs ready tasks
round-robin, so sixteen such tasks advance in lockstep and all their requests leave
together at the end of the burst: every task pays for the whole burst, and the answers
come back as bunched as before. Two rules undo that:

* **Admission**: one task at a time runs until its request is ready to leave, then the
  next is admitted. The first request leaves after one task's work instead of sixteen,
  and the answers come back spread out.
* **Request slots**: ``-c`` bounds the *requests* in flight, not the tasks. A few more
  tasks than ``-c`` run, and the extra ones prepare their requests while the server is busy
  with the others', so a finished request is replaced at once by one that is ready,
  instead of by a task that starts its preparation then.

On ``bench.batch`` (``-c 32``, a 200 ms model, 2 cores) the 90th-percentile task went from
about 250 ms to 215 ms and throughput from 0.87 to over 0.90 of ideal.

The batch runner wraps each task in :meth:`Admission.admitted`; a model backend wraps each
request in :func:`request_slot`. The ticket travels in a context variable, so the call can
come from deep inside the agent graph (LangGraph runs its nodes in tasks that copy the
caller's context); outside a batch, :func:`request_slot` does nothing. A task that ends
before any request, or holds its turn longer than ``max_hold`` (50 ms: a 12-megapixel
photo, a slow disk), lets the next one in anyway: admission orders work, it never stalls
it, and heavy preparations still overlap on every core (image decoding runs in threads,
outside the GIL). With a strict one-at-a-time rule, 12-megapixel photos at ``-c 8`` went at
8 tasks/s instead of 12; light tasks (a few ms each) are still prepared one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

__all__ = ["Admission", "Ticket", "request_slot"]


class Ticket:
    """One task's place in its batch: the admission it holds (released once, by whoever
    gets there first), the request slots it takes turns of, and its time limit, which is
    paused while it waits for a slot (a task is not late because others hold the slots)."""

    __slots__ = ("_lock", "_timer", "deadline", "slots")

    def __init__(self, lock: asyncio.Lock, slots: asyncio.Semaphore | None, hold: float) -> None:
        self._lock: asyncio.Lock | None = lock
        self.slots = slots
        # The task's ``asyncio.timeout``, if it has one (set by whoever runs the task).
        self.deadline: asyncio.Timeout | None = None
        self._timer = asyncio.get_running_loop().call_later(hold, self.release)

    def release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            self._timer.cancel()
            lock.release()

    async def take_slot(self) -> None:
        """Take one of the request slots, with the time limit stopped while waiting."""
        assert self.slots is not None
        deadline = self.deadline
        when = deadline.when() if deadline is not None else None
        if deadline is None or when is None:
            await self.slots.acquire()
            return
        loop = asyncio.get_running_loop()
        remaining = when - loop.time()
        deadline.reschedule(None)
        try:
            await self.slots.acquire()
        finally:
            deadline.reschedule(loop.time() + remaining)


# The ticket of the batch task running in this context, if any.
_ticket: ContextVar[Ticket | None] = ContextVar("kanjian_batch_ticket", default=None)


class Admission:
    """Paces the tasks of one process (see the module doc).

    ``requests``: the most model requests in flight at once (``None``: no bound here).
    """

    def __init__(self, *, requests: int | None = None, max_hold: float = 0.05) -> None:
        if requests is not None and requests < 1:
            raise ValueError(f"requests must be at least 1, not {requests!r}.")
        self.max_hold = max_hold
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(requests) if requests is not None else None

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[Ticket]:
        """Wait for this task's turn; the body runs as the admitted task."""
        await self._lock.acquire()
        ticket = Ticket(self._lock, self._slots, self.max_hold)
        token = _ticket.set(ticket)
        try:
            yield ticket
        finally:
            ticket.release()
            _ticket.reset(token)


@asynccontextmanager
async def request_slot() -> AsyncIterator[None]:
    """Around one model request: admit the next task, then wait for a free request slot."""
    ticket = _ticket.get()
    if ticket is not None:
        ticket.release()
    if ticket is None or ticket.slots is None:
        yield
        return
    await ticket.take_slot()
    try:
        yield
    finally:
        ticket.slots.release()
