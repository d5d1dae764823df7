"""The local backend: an InternVL ``-hf`` checkpoint run in-process with transformers.

:class:`LocalBackend` is a :class:`vlm.types.ChatBackend` like the HTTP client, so the agent
does not know which one it talks to. It is the fallback where no SGLang server answers: slower,
but it needs nothing beyond ``pip install 'kanjian[local]'`` and a checkpoint.

The model loads on the first request, once, in a worker thread (torch itself is imported only
then: see :mod:`kanjian.vlm.local_model`). Generation runs on the model's own long-lived
thread; its token ids reach the event loop in batches (:mod:`kanjian.vlm.local_stream`: a list
append per token, a thread hop only when the loop has caught up) and are decoded to text here.
On CUDA the decode uses a static, compiled KV cache (:mod:`kanjian.vlm.local_decode`). Stop
strings are cut on the text stream, so the answer excludes them as OpenAI servers' do, and
closing the stream (or cancelling the task reading it) sets a flag that ``generate`` checks
after every token, so work stops promptly.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

from kanjian.vlm import local_constraints
from kanjian.vlm.errors import BackendError, ConfigError, VLMError
from kanjian.vlm.local_decode import decode_mode
from kanjian.vlm.local_stream import Detokenizer, TokenOutbox
from kanjian.vlm.pacing import request_slot
from kanjian.vlm.types import (
    ChatRequest,
    ChatResult,
    Finished,
    ModelInfo,
    StreamEvent,
    TextDelta,
    Usage,
    UsageReport,
)

if TYPE_CHECKING:
    from kanjian.vlm.local_model import LocalModel

__all__ = ["DEFAULT_LOCAL_MODEL", "LocalBackend", "StopScanner"]

DEFAULT_LOCAL_MODEL = "OpenGVLab/InternVL3-1B-hf"


def _import_runtime() -> ModuleType:
    try:
        return importlib.import_module("kanjian.vlm.local_model")
    except ImportError as exc:
        raise BackendError(
            f"The local backend needs torch and transformers, but importing them failed ({exc}); "
            "install them with pip install 'kanjian[local]'."
        ) from exc


class StopScanner:
    """Cuts a text stream at the first stop string, holding back what might start one."""

    def __init__(self, stops: list[str] | None) -> None:
        self.stops = [s for s in (stops or []) if s]
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """The part of ``text`` that is safe to emit now."""
        if self.stopped:
            return ""
        self.pending += text
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.pending = self.pending[:cut], ""
            return out
        keep = self._partial_suffix()
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(self.pending) - keep :]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return "" if self.stopped else out

    def _partial_suffix(self) -> int:
        # The longest tail of the pending text that is a proper prefix of some stop string.
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), longest, -1):
                if self.pending.endswith(stop[:size]):
                    longest = size
                    break
        return longest


class LocalBackend:
    """A :class:`vlm.types.ChatBackend` running an InternVL ``-hf`` checkpoint in-process."""

    def __init__(
        self,
        model: str | Path = DEFAULT_LOCAL_MODEL,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_num: int = 12,
        decode: str | None = None,
    ) -> None:
        if max_num < 1:
            raise ConfigError(
                f"Local max_num {max_num!r} must be at least 1; use 12 (InternVL's default) "
                "or up to 40 for 4K images."
            )
        self.model_name = str(model)
        self.device = device
        self.dtype = dtype
        self.max_num = max_num
        # auto: a static, compiled KV cache on CUDA; see kanjian.vlm.local_decode.
        self.decode = decode_mode(decode)
        self._loaded: LocalModel | None = None
        self._load_lock = asyncio.Lock()
        # One generation at a time: a second would only halve the speed of both.
        self._generate_lock = asyncio.Lock()

    @classmethod
    def from_model(
        cls,
        model: Any,
        processor: Any,
        *,
        name: str = "in-memory",
        max_num: int = 12,
        decode: str | None = None,
    ) -> LocalBackend:
        """A backend on an ``InternVLForConditionalGeneration`` already in memory.

        For benchmarks and plugin authors who build or adapt a model themselves; ``processor``
        is an InternVL processor (:class:`~kanjian.vlm.local_model.ImageOnlyInternVLProcessor`).
        """
        local: LocalModel = _import_runtime().wrap_model(name, model, processor)
        backend = cls(name, device=local.device, max_num=max_num, decode=decode)
        backend._loaded = local
        return backend

    # ---- ChatBackend ----

    async def complete(self, request: ChatRequest) -> ChatResult:
        pieces: list[str] = []
        reason: str | None = None
        usage = Usage()
        async for event in self.stream(request):
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            elif isinstance(event, Finished):
                reason = event.reason
            else:
                usage = event.usage
        return ChatResult("".join(pieces), reason, usage, self.model_name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        # In a batch: the next task may prepare while this one waits for the model.
        async with request_slot():
            async for event in self._generate(request):
                yield event

    async def _generate(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        local = await self._ensure_loaded()
        runtime = _import_runtime()
        async with self._generate_lock:
            inputs = await self._inputs(runtime, local, request)
            prompt_tokens = int(inputs["input_ids"].shape[1])
            stop = threading.Event()
            outbox = TokenOutbox(asyncio.get_running_loop(), local.hidden_ids)
            text = Detokenizer(local.processor.tokenizer)
            scanner = StopScanner(request.params.stop)
            job = local.worker.submit(
                partial(self._work, runtime, local, inputs, request, outbox, stop)
            )
            try:
                async for ids in self._batches(outbox):
                    emitted = scanner.feed(text.feed(ids))
                    if emitted:
                        yield TextDelta(emitted)
                    if scanner.stopped:
                        stop.set()
                tail = scanner.feed(text.flush()) + scanner.flush()
                if tail:
                    yield TextDelta(tail)
            finally:
                # Closed early or cancelled: stop generating, and let the worker finish
                # before the lock is released so runs never overlap.
                stop.set()
                await asyncio.wrap_future(job)
        outcome = outbox.result
        if outcome is None:  # the worker ended without a result or an error: cannot happen
            raise BackendError(f"The local model {self.model_name!r} ended without an answer.")
        yield Finished("stop" if scanner.stopped else outcome.finish_reason)
        yield UsageReport(Usage(prompt_tokens, outcome.completion_tokens))

    async def model_info(self) -> ModelInfo:
        extra: dict[str, Any] = {
            "backend": "local",
            "device": self.device,
            "dtype": self.dtype,
            "max_num": self.max_num,
            "decode": self.decode,
            "loaded": self._loaded is not None,
        }
        if self._loaded is not None:
            extra.update(device=self._loaded.device, dtype=str(self._loaded.dtype))
            extra["static_cache_buckets"] = self._loaded.caches.buckets
        return ModelInfo(
            self.model_name,
            tile_rule="official",
            supports_constraints=local_constraints.available(),
            extra=extra,
        )

    async def aclose(self) -> None:
        async with self._generate_lock:
            self._loaded = None

    # ---- loading ----

    async def _ensure_loaded(self) -> LocalModel:
        async with self._load_lock:
            if self._loaded is None:
                self._loaded = await self._load()
            return self._loaded

    async def _load(self) -> LocalModel:
        runtime = _import_runtime()
        loaded: LocalModel = await asyncio.to_thread(
            runtime.load_local_model, self.model_name, self.device, self.dtype
        )
        return loaded

    async def _inputs(self, runtime: ModuleType, local: LocalModel, request: ChatRequest) -> Any:
        try:
            return await asyncio.to_thread(
                runtime.build_inputs, local, request.messages, self.max_num
            )
        except Exception as exc:
            self._raise(exc)

    # ---- the worker thread ----

    def _work(
        self,
        runtime: ModuleType,
        local: LocalModel,
        inputs: Any,
        request: ChatRequest,
        outbox: TokenOutbox,
        stop: threading.Event,
    ) -> None:
        """Runs on the model's generation thread; the outcome or error goes to ``outbox``."""
        if stop.is_set():  # given up while queued behind another backend's generation
            outbox.close(result=runtime.Outcome(0, "stop"))
            return
        try:
            outcome = runtime.generate(local, inputs, request, outbox, stop, self.decode)
        except BaseException as exc:  # handed to the event loop, re-raised there
            outbox.close(error=exc)
        else:
            outbox.close(result=outcome)

    async def _batches(self, outbox: TokenOutbox) -> AsyncIterator[list[int]]:
        try:
            async for ids in outbox.batches():
                yield ids
        except Exception as exc:
            self._raise(exc)

    def _raise(self, exc: BaseException) -> NoReturn:
        """Re-raise a worker's error, translating third-party ones into one sentence."""
        if isinstance(exc, VLMError) or not isinstance(exc, Exception):
            raise exc
        raise BackendError(
            f"The local model {self.model_name!r} failed while generating ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no message'}); "
            "try a smaller max_num or max_tokens, or another device."
        ) from exc
