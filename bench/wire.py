"""Preparing a 4000x3000 phone photo for the wire, against base64 of the original file.

Run: ``.venv/bin/python -m bench.wire`` (``--reps N``; ``--tiling-check [--step S]`` instead
runs the tiling agreement check over a denser grid than the test suite's).

Both sides start from the same JPEG file on disk and end with a ``data:`` URL:

* baseline: read the file, base64 it (what a client that sends originals does);
* kanjian: ``load_image`` (full decode, orientation, checks) + ``prepare_for_wire``
  (downscale to the tile grid's pixel size, re-encode), with the memo cleared each time;
  also shown: ``prepare_for_wire`` alone on an already loaded image, and a memo hit.

Printed: medians over the repetitions, the time ratio (kanjian / baseline) and the bytes ratio
(data URL characters sent / characters of the original's base64 data URL), plus raw figures.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


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


def timed(fn: Callable[[], T], reps: int) -> tuple[float, T]:
    """Median wall time of `reps` calls, and the last result."""
    times: list[float] = []
    result: T | None = None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(times), result


def bench_wire(reps: int) -> None:
    from vlm.images import load_image
    from vlm.tiling import image_tokens
    from vlm.wire import clear_wire_cache, prepare_for_wire

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "phone.jpg"
        render_photo(path)

        def baseline() -> str:
            data = path.read_bytes()
            return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")

        def ours() -> str:
            clear_wire_cache()
            return prepare_for_wire(load_image(path)).data_url

        loaded = load_image(path)

        def prepare_only() -> str:
            clear_wire_cache()
            return prepare_for_wire(loaded).data_url

        base_s, base_url = timed(baseline, reps)
        ours_s, ours_url = timed(ours, reps)
        prep_s, _ = timed(prepare_only, reps)
        hit_s, _ = timed(lambda: prepare_for_wire(loaded).data_url, reps)
        wire = prepare_for_wire(loaded)

    file_bytes = loaded.data
    print(
        f"image: {loaded.width}x{loaded.height} JPEG q=95, {len(file_bytes):,} bytes; reps={reps}"
    )
    print(
        f"sent:  {wire.width}x{wire.height} {wire.mime}, {wire.nbytes:,} bytes, grid {wire.grid}, "
        f"{image_tokens(wire.width, wire.height, rule='sglang')} image tokens "
        f"(original: {image_tokens(loaded.width, loaded.height, rule='sglang')})"
    )
    print(f"baseline  read+base64          {base_s * 1e3:9.2f} ms  {len(base_url):>12,} chars")
    print(f"kanjian   load+prepare         {ours_s * 1e3:9.2f} ms  {len(ours_url):>12,} chars")
    print(f"kanjian   prepare (loaded)     {prep_s * 1e3:9.2f} ms")
    print(f"kanjian   prepare (memo hit)   {hit_s * 1e3:9.4f} ms")
    print(f"time ratio  load+prepare / baseline = {ours_s / base_s:.2f}")
    print(f"time ratio  prepare / baseline      = {prep_s / base_s:.2f}")
    print(f"time ratio  memo hit / baseline     = {hit_s / base_s:.4f}")
    print(f"bytes ratio sent / base64 original  = {len(ours_url) / len(base_url):.4f}")


def tiling_check(step: int) -> None:
    """tile_grids vs the transcribed reference on every (w, h) in 1..8192 with this step."""
    import numpy as np

    from tests.images import reference_internvl as ref
    from vlm.tiling import tile_grids

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
