"""Reference tiling rules, transcribed from the upstream code (not imported from kanjian).

``find_closest_aspect_ratio`` / ``target_ratios`` follow InternVL's model-card code
(OpenGVLab/InternVL-Chat-V1-5 ``dynamic_preprocess``); ``sglang_grid`` follows SGLang's
``InternVLProcessor.dynamic_preprocess`` (python/sglang/srt/multimodal/processors/internvl.py),
whose tie rule is ``elif diff == best_ratio_diff and blocks > best_blocks``. Each is a plain
linear scan, kept as close to the original as typing allows, so that it is obviously right.

``*_vectorised`` run the very same scan once per candidate over whole arrays of sizes, which
is what makes the dense agreement check affordable.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 448


def target_ratios(min_num: int, max_num: int) -> list[tuple[int, int]]:
    ratios = {
        (i, j)
        for n in range(min_num, max_num + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if i * j <= max_num and i * j >= min_num
    }
    return sorted(ratios, key=lambda x: x[0] * x[1])


def find_closest_aspect_ratio(
    aspect_ratio: float,
    ratios: list[tuple[int, int]],
    width: int,
    height: int,
    image_size: int,
) -> tuple[int, int]:
    best_ratio_diff = float("inf")
    best_ratio = (1, 1)
    area = width * height
    for ratio in ratios:
        target_aspect_ratio = ratio[0] / ratio[1]
        ratio_diff = abs(aspect_ratio - target_aspect_ratio)
        if ratio_diff < best_ratio_diff:
            best_ratio_diff = ratio_diff
            best_ratio = ratio
        elif ratio_diff == best_ratio_diff:  # noqa: SIM102 (kept as upstream wrote it)
            if area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
    return best_ratio


def official_grid(
    width: int, height: int, min_num: int = 1, max_num: int = 12, image_size: int = IMAGE_SIZE
) -> tuple[int, int]:
    aspect_ratio = width / height
    ratios = target_ratios(min_num, max_num)
    return find_closest_aspect_ratio(aspect_ratio, ratios, width, height, image_size)


def sglang_grid(width: int, height: int, max_num: int = 12) -> tuple[int, int]:
    aspect_ratio = width / height
    ratios = target_ratios(1, max_num)
    best_ratio_diff = float("inf")
    best_ratio = (1, 1)
    for x, y in ratios:
        target_ar = x / y
        diff = abs(aspect_ratio - target_ar)
        blocks = x * y
        best_blocks = best_ratio[0] * best_ratio[1]
        if diff < best_ratio_diff:
            best_ratio_diff = diff
            best_ratio = (x, y)
        elif diff == best_ratio_diff and blocks > best_blocks:
            best_ratio = (x, y)
    return best_ratio


def grids_vectorised(
    widths: np.ndarray,
    heights: np.ndarray,
    *,
    max_num: int,
    rule: str,
    min_num: int = 1,
    image_size: int = IMAGE_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """The scan above, one candidate at a time, over every size at once."""
    aspect_ratio = widths / heights
    area = widths * heights
    best_diff = np.full(aspect_ratio.shape, np.inf)
    best_x = np.ones(aspect_ratio.shape, dtype=np.int64)
    best_y = np.ones(aspect_ratio.shape, dtype=np.int64)
    diff = np.empty_like(aspect_ratio)
    for x, y in target_ratios(min_num, max_num):
        np.subtract(aspect_ratio, x / y, out=diff)
        np.abs(diff, out=diff)
        better = diff < best_diff
        tie = diff == best_diff
        if rule == "sglang":
            tie &= x * y > best_x * best_y
        else:
            tie &= area > 0.5 * image_size * image_size * x * y
        take = better | tie
        np.minimum(best_diff, diff, out=best_diff)
        best_x[take] = x
        best_y[take] = y
    return best_x, best_y
