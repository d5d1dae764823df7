"""How the local backend decodes: a static KV cache and compiled CUDA-graph steps on CUDA.

Eager decoding launches a few hundred small kernels per token from Python, so on a GPU a
small model runs at a fraction of what its memory bandwidth allows. On CUDA the backend
instead hands ``generate`` a *static* KV cache, which lets transformers compile the decode
step with ``torch.compile(mode="reduce-overhead")`` (CUDA graphs: one launch per token).

Shapes are bucketed: the cache is sized to the next power of two (from 1,024 tokens) above
prompt plus ``max_tokens``, and one cache per bucket is kept and reused for the life of the
model, so the graphs recorded by the first request in a bucket replay for every later one
(a new cache would move the graphs' inputs and make them re-record). The first request in
a bucket pays for compiling and recording (tens of seconds); later ones do not.

Each bucket is warmed before its first real request (a few tokens on a dummy prompt), so a
failure to compile (no C compiler or Triton on the machine) shows there: the backend then logs
it once and decodes with the static cache uncompiled, rather than failing the request.

CPU and MPS keep transformers' dynamic cache, as before (``decode="auto"``). ``"static"``
forces the static cache anywhere (compiled only on CUDA), ``"dynamic"`` turns it off; the
``KANJIAN_LOCAL_DECODE`` environment variable sets the default.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Literal

from kanjian.vlm.errors import ConfigError

__all__ = [
    "BUCKETS",
    "DECODE_ENV",
    "DECODE_MODES",
    "DecodeMode",
    "DecodePlan",
    "StaticCaches",
    "choose_decode",
    "decode_kwargs",
    "decode_mode",
]

DecodeMode = Literal["auto", "static", "dynamic"]
DECODE_MODES: tuple[DecodeMode, ...] = ("auto", "static", "dynamic")
DECODE_ENV = "KANJIAN_LOCAL_DECODE"
BUCKETS = tuple(1024 << i for i in range(8))  # 1k .. 128k tokens


@dataclass(frozen=True, slots=True)
class DecodePlan:
    """One generation's decoding: dynamic (eager) or a static cache of ``cache_len`` tokens."""

    static: bool
    cache_len: int = 0
    compiled: bool = False


def decode_mode(requested: str | None) -> DecodeMode:
    """``requested``, else ``$KANJIAN_LOCAL_DECODE``, else ``auto``; checked."""
    value = requested if requested is not None else os.environ.get(DECODE_ENV, "auto")
    mode = value.strip().lower()
    if mode not in DECODE_MODES:
        source = "Local decode" if requested is not None else DECODE_ENV
        raise ConfigError(
            f"{source} {value!r} is not one of auto, static or dynamic; use auto (a static, "
            "compiled cache on CUDA, dynamic elsewhere)."
        )
    return mode


def choose_decode(
    mode: DecodeMode, device: str, prompt_tokens: int, max_new_tokens: int, max_positions: int
) -> DecodePlan:
    """The plan for one generation on ``device`` (``cuda``, ``cuda:1``, ``mps``, ``cpu``)."""
    cuda = device.startswith("cuda")
    if mode == "dynamic" or (mode == "auto" and not cuda):
        return DecodePlan(static=False)
    needed = prompt_tokens + max_new_tokens
    bucket = next((b for b in BUCKETS if b >= needed), needed)
    if needed <= max_positions:
        bucket = min(bucket, max_positions)  # a bigger cache than the model can use is waste
    return DecodePlan(static=True, cache_len=bucket, compiled=cuda)


class StaticCaches:
    """One static KV cache per bucket, kept for the life of the model and reused.

    Memory: each bucket used holds ``2 × layers × kv_heads × head_dim × cache_len`` values
    (InternVL3-1B at 16k: 0.2 GB; a 20B InternLM2-shaped decoder at 16k: 3.2 GB).
    """

    def __init__(self) -> None:
        self._caches: dict[int, Any] = {}
        self._lock = threading.Lock()
        # Buckets whose compiled step has been warmed (compiled, CUDA graphs recorded).
        self.warmed: set[int] = set()
        # Why compiling failed, once it has (no C compiler, no Triton...): decode uncompiled.
        self.compile_error: str | None = None

    def take(self, model: Any, cache_len: int) -> Any:
        """The bucket's cache, emptied, ready for a new generation."""
        import torch
        from transformers import StaticCache

        with self._lock:
            cache = self._caches.get(cache_len)
            if cache is None:
                text_config = model.config.get_text_config(decoder=True)
                cache = StaticCache(config=text_config, max_cache_len=cache_len)
                self._caches[cache_len] = cache
            else:
                # Its tensors were made under inference mode (generate runs there) and may
                # only be written there.
                with torch.inference_mode():
                    cache.reset()
            return cache

    @property
    def buckets(self) -> list[int]:
        return sorted(self._caches)


def _compile_config() -> Any:
    from transformers import CompileConfig

    # transformers' defaults (inductor, reduce-overhead = CUDA graphs), said out loud;
    # fullgraph stays off because InternVL's forward branches on whether images came.
    return CompileConfig(fullgraph=False, mode="reduce-overhead")


def decode_kwargs(plan: DecodePlan, model: Any, caches: StaticCaches) -> dict[str, Any]:
    """``generate`` keyword arguments that carry out ``plan``."""
    if not plan.static:
        return {}
    kwargs: dict[str, Any] = {"cache": caches.take(model, plan.cache_len)}
    if plan.compiled:
        kwargs["compile_config"] = _compile_config()
    else:
        kwargs["disable_compile"] = True
    return kwargs
