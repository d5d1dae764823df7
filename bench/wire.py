"""Preparing a 4000x3000 phone photo for the wire, against base64 of the original file.

Run: ``.venv/bin/python -m bench.wire`` (``--reps N``; ``--tiling-check [--step S]`` instead
runs the tiling agreement check over a denser grid than the test suite's).

Both sides start from the same JPEG file on disk and end with a ``data:`` URL:

* baseline: read the file, base64 it (what a client that sends originals does);
* kanjian: ``load_image`` (checks every byte, decodes at the DCT scale the wire needs) +
  ``prepare_for_wire`` (bicubic to the tile grid's pixel size, JPEG q90), memo cleared each time;
  also shown: ``prepare_for_wire`` alone on an already loaded image, and a memo hit;
* full decode: what kanjian did before DCT-scaled decoding (decode all 12 Mpx, bicubic from full
  size, same encoder), side by side, to show the speed-up and that quality held.

Printed: medians over the repetitions, the time ratios (kanjian / baseline, full decode /
kanjian), the bytes ratio (data URL characters sent / characters of the original's base64 data
URL), PSNR of what is sent against a Lanczos resize of the full decode, the encoder's
``optimize`` trade (time vs bytes), and the same photo stored turned (EXIF orientation 6).
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


def render_photo(path: Path, width: int = 4000, height: int = 3000) -> None:
    """Gradients, sensor-like noise and text, saved as JPEG q=95 like a phone would."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(42)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack(
        [
            128 + 100 * np.sin(x / 700.0) * np.cos(y / 900.0),
            x / width * 255,
            (x + y) / (width + height) * 255,
        ],
        axis=-1,
    )
    pixels += rng.normal(0, 6, pixels.shape).astype(np.float32)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for row in range(24):
        draw.text(
            (200 + 40 * (row % 5), 150 + row * 115),
            f"Receipt line {row}: 看见 kanjian  total = {row * 13.75:.2f}",
            fill=(10, 10, 10),
            font_size=72,
        )
    image.save(path, format="JPEG", quality=95)


def interleaved(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Median wall time of each function; every round runs each once, so load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio of two same-sized RGB images, in dB."""
    import numpy as np

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255.0**2 / max(float(np.mean(diff**2)), 1e-12)))


def full_decode_way(path: Path, size: tuple[int, int]) -> bytes:
    """The previous pipeline: decode every pixel, bicubic from full size, JPEG q90 optimised."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    out = io.BytesIO()
    rgb.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=90, optimize=True)
    return out.getvalue()


def turned_copy(path: Path, out: Path) -> None:
    """The same photo stored a quarter turn round, tagged EXIF orientation 6 (shown upright)."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(path) as image:
        turned = image.transpose(Image.Transpose.ROTATE_90)
    turned.save(out, format="JPEG", quality=95, exif=exif.tobytes())


def bench_wire(reps: int) -> None:
    from PIL import Image

    from kanjian.vlm.images import load_image
    from kanjian.vlm.tiling import image_tokens
    from kanjian.vlm.wire import clear_wire_cache, decode_data_url, prepare_for_wire

    with tempfile.TemporaryDirectory() as tmp:
        path, turned = Path(tmp) / "phone.jpg", Path(tmp) / "turned.jpg"
        render_photo(path)
        turned_copy(path, turned)
        loaded = load_image(path)
        wire = prepare_for_wire(loaded)
        size = (wire.width, wire.height)

        def baseline() -> str:
            data = path.read_bytes()
            return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")

        def ours(source: Path = path) -> str:
            clear_wire_cache()
            return prepare_for_wire(load_image(source)).data_url

        def prepare_only() -> str:
            clear_wire_cache()
            return prepare_for_wire(loaded).data_url

        median = interleaved(
            {
                "baseline": baseline,
                "ours": ours,
                "prepare": prepare_only,
                "hit": lambda: prepare_for_wire(loaded),
                "full": lambda: full_decode_way(path, size),
                "turned": lambda: ours(turned),
            },
            reps,
        )
        base_url, ours_url, full_bytes = baseline(), ours(), full_decode_way(path, size)
        turned_sent = load_image(decode_data_url(ours(turned))).image
        encoder = encoder_trade(loaded.at_least(*size), size, reps)

    sent = load_image(decode_data_url(ours_url)).image
    full_sent = load_image(full_bytes).image
    reference = loaded.image.resize(size, Image.Resampling.LANCZOS)
    tokens = image_tokens(loaded.width, loaded.height, rule="sglang")
    print(f"image: {loaded.width}x{loaded.height} JPEG q=95, {len(loaded.data):,} bytes; {reps=}")
    print(
        f"sent:  {wire.width}x{wire.height} {wire.mime}, {wire.nbytes:,} bytes, grid {wire.grid}, "
        f"{image_tokens(*size, rule='sglang')} image tokens (original: {tokens})"
    )
    ms = {name: seconds * 1e3 for name, seconds in median.items()}
    print(f"baseline  read+base64          {ms['baseline']:9.2f} ms  {len(base_url):>12,} chars")
    print(f"kanjian   load+prepare         {ms['ours']:9.2f} ms  {len(ours_url):>12,} chars")
    print(f"kanjian   prepare (loaded)     {ms['prepare']:9.2f} ms")
    print(f"kanjian   prepare (memo hit)   {ms['hit']:9.4f} ms")
    print(f"full decode way (previous)     {ms['full']:9.2f} ms  {len(full_bytes):>12,} bytes")
    print(f"kanjian   EXIF-turned photo    {ms['turned']:9.2f} ms  sent {turned_sent.size}")
    print(encoder)
    print(f"time ratio  load+prepare / baseline = {ms['ours'] / ms['baseline']:.2f}")
    print(f"time ratio  prepare / baseline      = {ms['prepare'] / ms['baseline']:.2f}")
    print(f"time ratio  memo hit / baseline     = {ms['hit'] / ms['baseline']:.4f}")
    print(f"time ratio  full decode way / load+prepare = {ms['full'] / ms['ours']:.2f}")
    print(f"bytes ratio sent / base64 original  = {len(ours_url) / len(base_url):.4f}")
    print(
        f"PSNR vs Lanczos of the full decode: sent {psnr(sent, reference):.2f} dB, "
        f"full decode way {psnr(full_sent, reference):.2f} dB; "
        f"sent vs full decode way {psnr(sent, full_sent):.2f} dB; "
        f"EXIF-turned sent vs upright sent {psnr(turned_sent, sent):.2f} dB"
    )


def encoder_trade(source: Image.Image, size: tuple[int, int], reps: int) -> str:
    """JPEG q90 of the wire-sized pixels with and without ``optimize`` (Huffman tables)."""
    from PIL import Image

    pixels = source.resize(size, Image.Resampling.BICUBIC)

    def encode(optimize: bool) -> bytes:
        out = io.BytesIO()
        pixels.save(out, "JPEG", quality=90, optimize=optimize)
        return out.getvalue()

    median = interleaved({"on": lambda: encode(True), "off": lambda: encode(False)}, reps)
    on_b, off_b = len(encode(True)), len(encode(False))
    extra_ms = (median["on"] - median["off"]) * 1e3
    return (
        f"encoder   optimize=True {median['on'] * 1e3:.2f} ms {on_b:,} bytes; "
        f"optimize=False {median['off'] * 1e3:.2f} ms {off_b:,} bytes "
        f"(optimize: {on_b / off_b - 1:+.1%} bytes for {extra_ms:+.2f} ms, paid once per image)"
    )


def tiling_check(step: int) -> None:
    """tile_grids vs the transcribed reference on every (w, h) in 1..8192 with this step."""
    import numpy as np

    from kanjian.vlm.tiling import tile_grids
    from tests.images import reference_internvl as ref

    sides = np.unique(np.concatenate([np.arange(1, 8193, step), np.arange(1, 129), [8192]]))
    widths, heights = (a.ravel() for a in np.meshgrid(sides, sides))
    start = time.perf_counter()
    checked = 0
    for rule in ("official", "sglang"):
        for max_num in range(1, 41):
            want = ref.grids_vectorised(widths, heights, max_num=max_num, rule=rule)
            got = tile_grids(widths, heights, max_num=max_num, rule=rule)  # type: ignore[arg-type]
            wrong = int(np.count_nonzero((want[0] != got[0]) | (want[1] != got[1])))
            if wrong:
                raise SystemExit(f"{rule} max_num={max_num}: {wrong} sizes disagree")
            checked += widths.size
    print(
        f"tiling check: sides 1..8192 step {step} plus 1..128 ({sides.size} values), "
        f"{widths.size:,} sizes x 40 max_num x 2 rules = {checked:,} grids agree "
        f"({time.perf_counter() - start:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wire", description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--tiling-check", action="store_true")
    parser.add_argument("--step", type=int, default=8)
    args = parser.parse_args()
    if args.tiling_check:
        tiling_check(args.step)
    else:
        bench_wire(args.reps)


if __name__ == "__main__":
    main()
