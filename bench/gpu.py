"""``python -m bench.gpu``: the local backend on a GPU, beside bare transformers, in one run.

Random-weight models in the real shapes of InternVL3-1B (InternViT-300M + Qwen2.5-0.5B) and
InternVL-Chat-V1-5 (InternViT-6B + InternLM2-20B as a Llama decoder) are built directly on
the GPU (meta-device init, ``to_empty``, ``init_weights``: no download), with a byte-level
tokenizer padded to the real vocabulary. For one 3840x2160 image at max_num 40 and for a
one-tile image, greedy, the same request is answered three ways, interleaved:

* ``bare eager``: PIL + processor + ``model.generate`` (dynamic cache), as a script would;
* ``bare static``: the same with its own static cache (one per length, reused, of the bucket
  kanjian would pick), compiled (``reduce-overhead``: CUDA graphs; a CPU does not compile);
* ``kanjian``: ``LocalBackend.stream`` from the data URL (``decode=auto``: static +
  compiled on CUDA, dynamic elsewhere).

TTFT is the time of a whole 1-token answer (request to last event: prefill and the first
token), decode tok/s is (n - 1) tokens over the extra time an n-token answer takes. ``× limit`` is decode speed over the memory-bandwidth bound: 4.8 TB/s (an H200)
over the bytes the decoder reads per token (its weights). Then one constrained agent step
(the action protocol's json_schema, via xgrammar) beside the same step unconstrained.

``--shape tiny`` runs the same table with the tests' tiny model, on the CPU if there is no
GPU. Without CUDA any other shape exits with one sentence.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.gpu_model import SHAPES, build, decoder_bytes

BANDWIDTH = 4.8e12  # bytes/s: an H200's HBM3e
QUESTION = "Describe the image in detail."
IMAGES = (("3840x2160 @40", 3840, 2160, 40), ("1 tile 448x448", 448, 448, 1))
PATHS = ("bare eager", "bare static", "kanjian")


@dataclass
class Run:
    """One way's figures: TTFT is a 1-token answer's time; decode is the n-token one's extra."""

    ttft: float
    tokens: int
    decode_tok_s: float


def _differential(one: tuple[float, int], many: tuple[float, int]) -> Run:
    # Timing whole answers of 1 and of n tokens, and taking the difference, needs no
    # per-token clock inside either path, so streaming lag cannot flatter or hurt kanjian.
    (t1, k1), (tn, kn) = one, many
    rate = (kn - k1) / (tn - t1) if kn > k1 and tn > t1 else 0.0
    return Run(t1, kn, rate)


@dataclass
class Bench:
    device: str
    tokens: int
    rounds: int
    warmups: int  # untimed rounds first: compiling and recording CUDA graphs
    deadline: float
    failures: list[str] = field(default_factory=list)
    # One event loop for every kanjian call, as in an app (asyncio.run per call would charge
    # kanjian a new loop and a new thread pool each time).
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def time_left(self) -> float:
        return self.deadline - time.perf_counter()


# ---- the three ways to answer ----


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bare(
    model: Any, processor: Any, png: bytes, max_num: int, n: int, static: bool
) -> tuple[float, int]:
    """Seconds and tokens for an ``n``-token answer, as a script calling transformers would."""
    import torch
    from PIL import Image
    from transformers import CompileConfig

    from kanjian.vlm.local_decode import choose_decode

    start = time.perf_counter()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    inputs = processor(
        images=[image], text=prompt, return_tensors="pt", crop_to_patches=True, max_patches=max_num
    ).to(model.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    extra: dict[str, Any] = {}
    if static:
        length = int(inputs["input_ids"].shape[1])
        bucket = choose_decode("static", model.device.type, length, n, 1 << 20).cache_len
        extra = {"cache": _bare_cache(model, bucket)}
        if model.device.type == "cuda":
            extra["compile_config"] = CompileConfig(fullgraph=False, mode="reduce-overhead")
        else:
            extra["disable_compile"] = True
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False, **extra)
    tokens = int(out.shape[1] - inputs["input_ids"].shape[1])
    return time.perf_counter() - start, tokens


_BARE_CACHES: dict[tuple[int, int], Any] = {}


def _bare_cache(model: Any, length: int) -> Any:
    """The bare side's own static cache per length, reused as a careful script would (a new
    one per call would move the CUDA graphs' inputs and make them re-record every time)."""
    import torch
    from transformers import StaticCache

    key = (id(model), length)
    if key not in _BARE_CACHES:
        config = model.config.get_text_config(decoder=True)
        _BARE_CACHES[key] = StaticCache(config=config, max_cache_len=length)
    cache = _BARE_CACHES[key]
    with torch.inference_mode():  # where generate made its tensors
        cache.reset()
    return cache


async def through_kanjian(
    backend: Any, data_url: str, n: int, response_format: Any = None
) -> tuple[float, int]:
    """Seconds and tokens for an ``n``-token answer streamed through ``LocalBackend``."""
    from kanjian.vlm.types import ChatRequest, SamplingParams, UsageReport, image_part, text_part

    request = ChatRequest(
        [{"role": "user", "content": [image_part(data_url), text_part(QUESTION)]}],
        SamplingParams(max_tokens=n, temperature=0),
        response_format=response_format,
    )
    start = time.perf_counter()
    tokens = 0
    async for event in backend.stream(request):
        if isinstance(event, UsageReport):
            tokens = event.usage.completion_tokens
    return time.perf_counter() - start, tokens


# ---- measuring ----


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.ttft for r in runs),
        int(statistics.median(r.tokens for r in runs)),
        statistics.median(r.decode_tok_s for r in runs),
    )


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_image(
    bench: Bench,
    label: str,
    model: Any,
    processor: Any,
    backend: Any,
    image: tuple[str, int, int, int],
) -> dict[str, Run]:
    """Each way's median figures; a way that fails is reported once and left out."""
    _, width, height, max_num = image
    failed: set[str] = set()
    png = _png(width, height)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    ways: dict[str, Callable[[int], tuple[float, int]]] = {
        "bare eager": lambda n: bare(model, processor, png, max_num, n, static=False),
        "bare static": lambda n: bare(model, processor, png, max_num, n, static=True),
        "kanjian": lambda n: bench.loop.run_until_complete(through_kanjian(backend, data_url, n)),
    }
    backend.max_num = max_num
    runs: dict[str, list[Run]] = {name: [] for name in ways}
    # Warm-up rounds compile; on a CPU only the cheap 1-tile image gets one (first calls).
    warmups = bench.warmups if max_num > 1 else max(bench.warmups, 1)
    for round_ in range(warmups + bench.rounds):
        for name, way in ways.items():
            if name in failed:
                continue
            _sync(bench.device)
            try:
                run = _differential(way(1), way(bench.tokens))
            except Exception as exc:  # one way failing (say, no compiler) leaves the others
                failed.add(name)
                _failed(bench, f"{label} {image[0]} {name}", exc)
                continue
            if round_ >= warmups:
                runs[name].append(run)
    return {name: _median(r) for name, r in runs.items() if r}


def _prompt_tokens(processor: Any, image: tuple[str, int, int, int]) -> int:
    from PIL import Image

    _, width, height, max_num = image
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    inputs = processor(
        images=[Image.new("RGB", (width, height))],
        text=prompt,
        return_tensors="pt",
        crop_to_patches=True,
        max_patches=max_num,
    )
    return int(inputs["input_ids"].shape[1])


def print_rows(
    label: str, image: str, prompt: int, results: dict[str, Run], limit_tok_s: float
) -> None:
    for name in PATHS:
        r = results.get(name)
        if r is None:
            print(f"{label:<20} {image:<15} {prompt:>6} {name:<12} {'failed (above)':>8}")
            continue
        print(
            f"{label:<20} {image:<15} {prompt:>6} {name:<12} {r.ttft:>8.3f} "
            f"{_rate(r.decode_tok_s):>9} {r.decode_tok_s / limit_tok_s:>8.1%} {r.tokens:>4}"
        )
    if any(name not in results for name in PATHS):
        return
    k, eager, static = results["kanjian"], results["bare eager"], results["bare static"]
    print(
        f"{'':<20} {'':<15} ratios: TTFT kanjian/bare static {k.ttft / static.ttft:.2f} "
        f"(/eager {k.ttft / eager.ttft:.2f}; goal <= 1.1), decode kanjian/bare static "
        f"{_ratio(k.decode_tok_s, static.decode_tok_s)} (goal >= 0.9), kanjian/bare eager "
        f"{_ratio(k.decode_tok_s, eager.decode_tok_s)} (goal >= 5 on 1B)"
    )


def _rate(tok_s: float) -> str:
    # Zero: the n-token answer was not slower than the 1-token one, i.e. noise (a busy CPU).
    return f"{tok_s:.1f}" if tok_s > 0 else "n/a"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a > 0 and b > 0 else "n/a"


# ---- the constrained step ----


@dataclass(frozen=True)
class _Tool:
    name: str
    description: str
    args_schema: dict[str, Any]


def _action_format() -> dict[str, Any]:
    from kanjian.vlm.action import action_schema

    box = {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4}
    tools = [
        _Tool("zoom", "Zoom into a box.", {"type": "object", "properties": {"box": box}}),
        _Tool("ocr", "Read text.", {"type": "object", "properties": {}}),
    ]
    schema = action_schema(tools)
    return {"type": "json_schema", "json_schema": {"name": "action", "schema": schema}}


def constrained_step(bench: Bench, backend: Any, label: str) -> None:
    from kanjian.vlm.local_constraints import available

    if not available():
        print(
            f"{label}: constrained step skipped: xgrammar is not installed (pip install xgrammar)"
        )
        return
    _, width, height, max_num = IMAGES[1]
    backend.max_num = max_num
    url = "data:image/png;base64," + base64.b64encode(_png(width, height)).decode()
    fmt = _action_format()
    free: list[Run] = []
    held: list[Run] = []
    warmups = max(bench.warmups, 1)  # the first constrained request compiles the grammar
    for round_ in range(warmups + bench.rounds):
        run = bench.loop.run_until_complete
        a = [run(through_kanjian(backend, url, n)) for n in (1, bench.tokens)]
        b = [run(through_kanjian(backend, url, n, fmt)) for n in (1, bench.tokens)]
        if round_ >= warmups:
            free.append(_differential(*a))
            held.append(_differential(*b))
    f, h = _median(free), _median(held)
    print(
        f"{label}: constrained action step (json_schema, xgrammar) {_rate(h.decode_tok_s)} tok/s "
        f"({h.tokens} tokens) vs unconstrained {_rate(f.decode_tok_s)} tok/s ({f.tokens} tokens): "
        f"ratio {_ratio(h.decode_tok_s, f.decode_tok_s)} (goal >= 0.8)"
    )


# ---- one shape ----


def run_shape(bench: Bench, name: str, decode: str) -> None:
    import torch

    from kanjian.vlm.local import LocalBackend

    shape = SHAPES.get(name)
    label = shape.label if shape else "tiny"
    start = time.perf_counter()
    if bench.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory(prefix="kanjian-bench-gpu-") as tmp:
        model, processor = build(shape, bench.device, Path(tmp))
    backend = LocalBackend.from_model(model, processor, name=label, decode=decode)
    weights = decoder_bytes(model)
    limit = BANDWIDTH / weights
    print(
        f"{label}: built in {time.perf_counter() - start:.1f} s on {bench.device}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:,.1f} M parameters, decoder reads "
        f"{weights / 1e6:,.1f} MB/token: bandwidth limit {limit:,.0f} tok/s at 4.8 TB/s"
    )
    try:
        for image in IMAGES:
            if bench.time_left() < 0:
                print(f"{label} {image[0]}: skipped, out of time")
                continue
            try:
                results = measure_image(bench, label, model, processor, backend, image)
            except Exception as exc:
                _failed(bench, f"{label} {image[0]}", exc)
                continue
            print_rows(label, image[0], _prompt_tokens(processor, image), results, limit)
        try:
            constrained_step(bench, backend, label)
        except Exception as exc:
            _failed(bench, f"{label} constrained step", exc)
        print(f"{label}: peak memory {_peak(bench.device)}, {time.perf_counter() - start:.0f} s")
    finally:
        del backend, model
        _BARE_CACHES.clear()
        gc.collect()
        if bench.device.startswith("cuda"):
            torch._dynamo.reset()
            torch.cuda.empty_cache()


def _failed(bench: Bench, what: str, exc: Exception) -> None:
    bench.failures.append(what)
    line = str(exc).strip().splitlines()
    print(f"{what} failed: {type(exc).__name__}: {line[0] if line else ''}")


def _peak(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB (GPU)"
    import resource

    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process RSS)"


# ---- entry point ----


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=["all", "1b", "v1.5", "tiny"], default="all")
    parser.add_argument("--tokens", type=int, help="new tokens per answer (64; tiny: 32)")
    parser.add_argument("--rounds", type=int, help="timed rounds (3; tiny: 1)")
    parser.add_argument("--decode", choices=["auto", "static", "dynamic"], default="auto")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds before skipping")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse([] if argv is None else argv)
    try:
        import torch
        import transformers
    except ImportError as exc:
        print(f"bench.gpu needs torch and transformers ({exc}); pip install 'kanjian[local]'.")
        return 2
    cuda = torch.cuda.is_available()
    if not cuda and args.shape != "tiny":
        print(
            f"bench.gpu --shape {args.shape} needs a CUDA GPU and torch.cuda.is_available() is "
            "false here; run `python -m bench.gpu --shape tiny` to check it on the CPU."
        )
        return 2
    device = "cuda" if cuda else "cpu"
    tiny = args.shape == "tiny"
    tokens = args.tokens or (32 if tiny else 64)
    rounds = args.rounds or (1 if tiny else 3)
    # One warm-up round where something compiles; a CPU compiles nothing worth waiting for.
    bench = Bench(device, tokens, rounds, int(cuda), time.perf_counter() + args.budget)
    names = ["1b", "v1.5"] if args.shape == "all" else [args.shape]
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, device "
        f"{torch.cuda.get_device_name() if cuda else 'cpu'}; {tokens} new tokens, greedy, "
        f"median of {rounds} round(s) after {bench.warmups} warm-up; kanjian decode={args.decode}"
    )
    print(
        f"{'shape':<20} {'image':<15} {'prompt':>6} {'path':<12} {'TTFT s':>8} {'decode/s':>9} "
        f"{'× limit':>8} {'toks':>4}"
    )
    for name in names:
        if bench.time_left() < 0:
            print(f"{name}: skipped, out of time (--budget {args.budget:.0f} s)")
            continue
        try:
            run_shape(bench, name, args.decode)
        except Exception as exc:
            _failed(bench, name, exc)
    bench.loop.close()
    if bench.failures:
        print(f"bench.gpu: {len(bench.failures)} part(s) failed: {', '.join(bench.failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
