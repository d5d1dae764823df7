"""The fast path's choices (static cache + compile on CUDA only) and its cheap streaming."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from transformers import AutoTokenizer, CompileConfig, StaticCache

from kanjian.vlm.errors import ConfigError
from kanjian.vlm.local import LocalBackend
from kanjian.vlm.local_decode import (
    BUCKETS,
    DECODE_ENV,
    DecodePlan,
    StaticCaches,
    choose_decode,
    decode_kwargs,
    decode_mode,
)
from kanjian.vlm.local_model import load_local_model
from kanjian.vlm.local_stream import Detokenizer, GenerationThread, TokenOutbox
from kanjian.vlm.types import ChatRequest, SamplingParams, image_part, text_part

from .conftest import png_data_url

pytestmark = pytest.mark.local

# ---- choosing the decode path ----


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_auto_on_cuda_is_a_compiled_static_cache(device: str) -> None:
    plan = choose_decode("auto", device, 7455, 64, 32768)
    assert plan == DecodePlan(static=True, cache_len=8192, compiled=True)


@pytest.mark.parametrize("device", ["cpu", "mps", "mps:0"])
def test_auto_elsewhere_keeps_the_dynamic_cache(device: str) -> None:
    assert choose_decode("auto", device, 7455, 64, 32768) == DecodePlan(static=False)


def test_static_off_cuda_is_static_but_not_compiled() -> None:
    assert choose_decode("static", "cpu", 10, 10, 32768) == DecodePlan(True, 1024, False)


def test_dynamic_is_dynamic_even_on_cuda() -> None:
    assert not choose_decode("dynamic", "cuda", 10, 10, 32768).static


@pytest.mark.parametrize(
    ("prompt", "new", "bucket"),
    [(1000, 24, 1024), (1000, 25, 2048), (300, 1024, 2048), (10_000, 1024, 16384)],
)
def test_cache_lengths_come_in_power_of_two_buckets(prompt: int, new: int, bucket: int) -> None:
    assert choose_decode("auto", "cuda", prompt, new, 1 << 20).cache_len == bucket


def test_a_bucket_never_exceeds_what_the_model_can_use() -> None:
    assert choose_decode("auto", "cuda", 20_000, 1024, 32768).cache_len == 32768
    assert choose_decode("auto", "cuda", 3000, 100, 4000).cache_len == 4000


def test_decode_mode_reads_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert decode_mode(None) == "auto"
    monkeypatch.setenv(DECODE_ENV, "Dynamic")
    assert decode_mode(None) == "dynamic"
    assert decode_mode("static") == "static"
    monkeypatch.setenv(DECODE_ENV, "turbo")
    with pytest.raises(ConfigError, match=rf"{DECODE_ENV} 'turbo' is not one of auto"):
        decode_mode(None)


def test_a_bad_decode_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Local decode 'fast' is not one of auto, static"):
        LocalBackend(decode="fast")


def test_static_plans_reuse_one_cache_per_bucket(tiny_checkpoint: Path) -> None:
    model = load_local_model(str(tiny_checkpoint), "cpu", "float32").model
    caches = StaticCaches()
    assert decode_kwargs(DecodePlan(static=False), model, caches) == {}
    first = decode_kwargs(DecodePlan(True, 1024, compiled=False), model, caches)
    assert isinstance(first["cache"], StaticCache) and first["disable_compile"] is True
    again = decode_kwargs(DecodePlan(True, 1024, compiled=True), model, caches)
    assert again["cache"] is first["cache"]  # the same tensors: recorded CUDA graphs replay
    assert again["compile_config"] == CompileConfig(mode="reduce-overhead")
    other = decode_kwargs(DecodePlan(True, 2048, compiled=False), model, caches)
    assert other["cache"] is not first["cache"]
    assert caches.buckets == [1024, 2048]


async def test_static_decode_answers_like_dynamic_decode(tiny_checkpoint: Path) -> None:
    content = [image_part(png_data_url(200, 120)), text_part("Describe the image in detail.")]
    request = ChatRequest(
        [{"role": "user", "content": content}], SamplingParams(max_tokens=24, temperature=0)
    )
    dynamic = await LocalBackend(tiny_checkpoint, decode="dynamic").complete(request)
    static = LocalBackend(tiny_checkpoint, decode="static")
    for _ in range(2):  # the second run reuses the first one's cache
        result = await static.complete(request)
        assert result.text == dynamic.text
        assert result.usage == dynamic.usage
    info = await static.model_info()
    assert info.extra["decode"] == "static"
    needed = dynamic.usage.prompt_tokens + 24
    assert info.extra["static_cache_buckets"] == [next(b for b in BUCKETS if b >= needed)]


# ---- streaming tokens to the event loop ----


async def test_outbox_batches_tokens_when_the_loop_is_busy() -> None:
    outbox = TokenOutbox(asyncio.get_running_loop(), hidden={7})
    total = 500

    def produce() -> None:
        outbox.put([[1, 2, 3]])  # the prompt: not part of the answer
        for i in range(total):
            outbox.put([[100 + i]])
            outbox.put([[7]])  # hidden
        outbox.close(result="done")

    worker = threading.Thread(target=produce)
    worker.start()
    worker.join()  # the loop was busy (blocked here) for the whole generation
    batches = [ids async for ids in outbox.batches()]
    assert [i for batch in batches for i in batch] == [100 + i for i in range(total)]
    assert len(batches) == 1 and outbox.wakeups == 2  # one for the tokens, one for the end
    assert outbox.result == "done"


async def test_outbox_streams_as_tokens_come_when_the_loop_keeps_up() -> None:
    outbox = TokenOutbox(asyncio.get_running_loop())
    taken = threading.Event()
    outbox.put([0])

    def produce() -> None:
        for i in range(3):
            taken.clear()
            outbox.put([i])
            taken.wait(5)
        outbox.close(result=None)

    worker = threading.Thread(target=produce)
    worker.start()
    seen = []
    async for ids in outbox.batches():
        seen.append(ids)
        taken.set()
    worker.join()
    assert seen == [[0], [1], [2]]


async def test_outbox_raises_the_workers_error_after_its_tokens() -> None:
    outbox = TokenOutbox(asyncio.get_running_loop())
    outbox.put([0])
    outbox.put([5])
    outbox.close(error=RuntimeError("out of memory"))
    seen = []
    with pytest.raises(RuntimeError, match="out of memory"):
        async for ids in outbox.batches():
            seen.append(ids)
    assert seen == [[5]]


@pytest.mark.parametrize("batch", [1, 3, 100])
def test_detokenizer_never_splits_a_character(tiny_checkpoint: Path, batch: int) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    text = "The sign says 看见 and 你好世界. A red car"
    ids = tokenizer.encode(text)
    assert len(ids) > len(text.split())  # byte-level pieces: characters span tokens
    detokenizer = Detokenizer(tokenizer)
    pieces = [detokenizer.feed(ids[i : i + batch]) for i in range(0, len(ids), batch)]
    pieces.append(detokenizer.flush())
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)


def test_detokenizer_flushes_a_stream_cut_mid_character(tiny_checkpoint: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    ids = tokenizer.encode("看")
    detokenizer = Detokenizer(tokenizer)
    held = detokenizer.feed(ids[:-1]) if len(ids) > 1 else ""
    assert held == "" or "\ufffd" not in held
    assert held + detokenizer.flush() == tokenizer.decode(ids[:-1])


def test_generation_thread_runs_every_call_on_one_thread() -> None:
    worker = GenerationThread()
    idents = [worker.submit(threading.get_ident).result(5) for _ in range(3)]
    assert len(set(idents)) == 1 and idents[0] != threading.get_ident()
    failed = worker.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed.result(5)
    assert worker.submit(lambda: "still serving").result(5) == "still serving"


# ---- warming a compiled bucket ----


def test_a_compiled_bucket_is_warmed_once(tiny_checkpoint: Path) -> None:
    from kanjian.vlm.local_model import ready_plan, wrap_model

    base = load_local_model(str(tiny_checkpoint), "cpu", "float32")
    local = wrap_model("warm-test", base.model, base.processor)  # its own caches
    plan = DecodePlan(static=True, cache_len=1024, compiled=True)
    # On a CPU transformers does not compile, but the warm-up runs all the same.
    assert ready_plan(local, plan) == plan
    assert local.caches.warmed == {1024} and local.caches.buckets == [1024]
    assert ready_plan(local, plan) == plan


def test_a_failed_compile_falls_back_to_uncompiled_decoding(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kanjian.vlm import local_model

    base = load_local_model(str(tiny_checkpoint), "cpu", "float32")
    local = local_model.wrap_model("no-compiler", base.model, base.processor)

    def no_compiler(*_: object) -> None:  # what inductor raises on a machine without gcc
        raise RuntimeError("Failed to find C compiler. Please specify via CC environment")

    monkeypatch.setattr(local_model, "warm", no_compiler)
    plan = DecodePlan(static=True, cache_len=2048, compiled=True)
    assert local_model.ready_plan(local, plan) == DecodePlan(True, 2048, compiled=False)
    assert "Failed to find C compiler" in caplog.text
    assert local.caches.compile_error is not None and not local.caches.warmed
    caplog.clear()
    assert local_model.ready_plan(local, plan) == DecodePlan(True, 2048, compiled=False)
    assert caplog.text == ""  # said once


async def test_a_backend_on_a_model_built_in_memory(tiny_checkpoint: Path) -> None:
    base = load_local_model(str(tiny_checkpoint), "cpu", "float32")
    backend = LocalBackend.from_model(base.model, base.processor, name="built", decode="static")
    result = await backend.complete(
        ChatRequest([{"role": "user", "content": "hi"}], SamplingParams(max_tokens=5))
    )
    assert result.usage.completion_tokens >= 1
    info = await backend.model_info()
    assert info.model == "built" and info.extra["device"] == "cpu"
    assert info.extra["static_cache_buckets"] == [1024]


def test_a_used_cache_can_be_taken_again_outside_inference_mode(tiny_checkpoint: Path) -> None:
    import torch

    model = load_local_model(str(tiny_checkpoint), "cpu", "float32").model
    caches = StaticCaches()
    cache = caches.take(model, 1024)
    ids = torch.tensor([[1, 2, 3]])
    with torch.inference_mode():  # as generate runs: the cache's tensors are inference tensors
        model.generate(input_ids=ids, max_new_tokens=2, cache=cache, disable_compile=True)
    assert caches.take(model, 1024) is cache  # reset without "Inplace update to inference tensor"
