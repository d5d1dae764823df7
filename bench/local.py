"""The local backend's overhead over calling transformers directly, side by side in one run.

On a tiny random InternVL checkpoint (built offline into a temp folder), the same request —
one 1344x896 image (a 3x2 grid plus thumbnail, 1792 image tokens) and a question — is
answered greedily two ways, interleaved, several times:

* baseline: the processor and ``model.generate`` called directly, no streamer;
* kanjian: ``LocalBackend.stream`` (data-URL decoding, chat template, worker thread, token
  streamer, asyncio bridge, stop-string scanner).

Random weights may stop at different lengths, so the ratio compares seconds per generated
token as well as seconds per request. Run: ``python -m bench.local``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gpu import QUESTION, through_kanjian

ROUNDS = 5
MAX_TOKENS = 64


def _data_url(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_mandelbrot((width, height), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(
        buffer, format="PNG"
    )
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _baseline(local: Any, data_url: str) -> tuple[float, int]:
    import torch

    from kanjian.vlm.images import load_image
    from kanjian.vlm.wire import decode_data_url

    start = time.perf_counter()
    image = load_image(decode_data_url(data_url)).image
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = local.processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    inputs = local.processor(
        images=[image], text=prompt, return_tensors="pt", crop_to_patches=True, max_patches=12
    )
    with torch.inference_mode():
        out = local.model.generate(**inputs, max_new_tokens=MAX_TOKENS, do_sample=False)
    local.processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :])
    return time.perf_counter() - start, int(out.shape[1] - inputs["input_ids"].shape[1])


async def _run(checkpoint: Path) -> None:
    from kanjian.vlm.local import LocalBackend

    backend = LocalBackend(checkpoint, device="cpu")
    data_url = _data_url(1344, 896)
    await through_kanjian(backend, data_url, MAX_TOKENS)  # load the model, warm up
    local = backend._loaded
    _baseline(local, data_url)
    base: list[tuple[float, int]] = []
    ours: list[tuple[float, int]] = []
    for _ in range(ROUNDS):
        base.append(_baseline(local, data_url))
        ours.append(await through_kanjian(backend, data_url, MAX_TOKENS))
    _report(base, ours)


def _report(base: list[tuple[float, int]], ours: list[tuple[float, int]]) -> None:
    base_s = statistics.median(s for s, _ in base)
    ours_s = statistics.median(s for s, _ in ours)
    base_tok = statistics.median(s / max(n, 1) for s, n in base)
    ours_tok = statistics.median(s / max(n, 1) for s, n in ours)
    print(f"rounds: {ROUNDS}, max_tokens: {MAX_TOKENS}, image 1344x896 (7 tiles)")
    print(
        f"baseline (processor + generate): {base_s * 1000:.1f} ms/request, "
        f"{base_tok * 1000:.2f} ms/token, tokens {[n for _, n in base]}"
    )
    print(
        f"kanjian LocalBackend.stream:     {ours_s * 1000:.1f} ms/request, "
        f"{ours_tok * 1000:.2f} ms/token, tokens {[n for _, n in ours]}"
    )
    print(f"ratio per request: {ours_s / base_s:.3f}   ratio per token: {ours_tok / base_tok:.3f}")


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kanjian.vlm.local_tiny import build_tiny_internvl

    with tempfile.TemporaryDirectory(prefix="kanjian-bench-local-") as tmp:
        checkpoint = build_tiny_internvl(Path(tmp) / "tiny-internvl")
        asyncio.run(_run(checkpoint))


if __name__ == "__main__":
    main()
