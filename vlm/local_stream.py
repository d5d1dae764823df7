"""Tokens from the generating thread to the event loop, for the price of a list append each.

``model.generate`` runs in one long-lived worker thread per loaded model
(:class:`GenerationThread`: CUDA graphs and their memory pool are kept per thread, so the
graphs a first request records are replayed by the next ones only if the thread is the
same). Per token the worker only appends the new ids to a :class:`TokenOutbox`; it wakes the
event loop only when the loop has taken everything before, so a busy loop gets the tokens in
batches and the worker never waits on it. The loop turns ids into text with a
:class:`Detokenizer`. Nothing here imports torch: ``put`` takes anything with ``tolist()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Collection
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["Detokenizer", "GenerationThread", "TokenOutbox"]

T = TypeVar("T")


class TokenOutbox:
    """A transformers streamer (``put``/``end``) whose reader is an asyncio task.

    The worker calls :meth:`put` per step and :meth:`close` when done (with its result or its
    error); the event loop reads :meth:`batches`. ``wakeups`` counts the thread hops, so tests
    and benchmarks can see that they are fewer than the tokens.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, hidden: Collection[int] = ()) -> None:
        self._loop = loop
        self._hidden = frozenset(hidden)
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._woken = False
        self._closed = False
        self._ready = asyncio.Event()
        self._prompt_seen = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.wakeups = 0

    # ---- the worker's side ----

    def put(self, value: Any) -> None:
        """Take a step's new token ids; the first call (the prompt) is skipped."""
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        ids = [i for i in _flat_ids(value) if i not in self._hidden]
        if ids:
            with self._lock:
                self._ids.extend(ids)
                wake = not self._woken
                self._woken = True
            if wake:
                self._wake()

    def end(self) -> None:
        """transformers calls this when ``generate`` returns; :meth:`close` ends the stream."""

    def close(self, result: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            self.result, self.error, self._closed = result, error, True
        self._wake()

    def _wake(self) -> None:
        self.wakeups += 1
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody reads any more
            self._loop.call_soon_threadsafe(self._ready.set)

    # ---- the event loop's side ----

    async def batches(self) -> AsyncIterator[list[int]]:
        """Every id put, a list per wake-up, until closed; a worker's error is raised here."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            with self._lock:
                ids, self._ids, self._woken = self._ids, [], False
                closed = self._closed
            if ids:
                yield ids
            if closed:
                if self.error is not None:
                    raise self.error
                return


def _flat_ids(value: Any) -> list[int]:
    ids = value.tolist() if hasattr(value, "tolist") else value
    while ids and isinstance(ids[0], list):  # a (1, n) tensor from the streamer
        ids = [i for row in ids for i in row]
    return [int(i) for i in ids] if isinstance(ids, list) else [int(ids)]


class Detokenizer:
    """Token ids in, printable text out, one batch at a time.

    Decodes a short window (the last emitted token onwards) rather than everything, and
    holds back text that ends in an incomplete UTF-8 sequence (a byte-level token may carry
    half a character). Special tokens are kept: grounding markup (``<ref>``, ``<box>``) is
    registered as special tokens, and the outbox already dropped the ones to hide.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # the window's start: context so leading spaces decode right
        self._read = 0  # where the text already emitted ends

    def feed(self, ids: list[int]) -> str:
        self._ids.extend(ids)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before) :]

    def flush(self) -> str:
        """Whatever is still held back (a stream that ended mid-character)."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        text: str = self._tokenizer.decode(ids, skip_special_tokens=False)
        return text


class GenerationThread:
    """One daemon thread that runs submitted calls in order, for the life of a loaded model.

    A daemon thread, not an executor: quitting mid-generation must not wait for it.
    """

    def __init__(self, name: str = "kanjian-local-generate") -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._start_lock = threading.Lock()

    def submit(self, call: Callable[[], T]) -> Future[T]:
        with self._start_lock:
            if not self._thread.is_alive() and self._thread.ident is None:
                self._thread.start()
        future: Future[T] = Future()
        self._jobs.put((call, future))
        return future

    def _serve(self) -> None:
        while True:
            call, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)
