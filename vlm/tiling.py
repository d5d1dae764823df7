"""InternVL dynamic tiling: which grid of 448 px tiles an image is cut into, and what it costs.

InternVL resizes an image to ``cols*448 x rows*448``, cuts it into ``cols*rows`` tiles and, when
there is more than one tile, adds a 448x448 thumbnail of the whole image. Each tile costs 256
tokens. The grid is the candidate ``(cols, rows)`` with ``cols*rows`` in ``[min_num, max_num]``
whose ratio ``cols/rows`` is closest to the image's ``width/height``. Two tie rules exist:

``"official"``
    InternVL's ``dynamic_preprocess``/``find_closest_aspect_ratio`` (the model card code, and
    what the local transformers backend runs): the candidates are scanned in ascending
    ``cols*rows`` order; an equally close later candidate replaces the current one only when
    ``width*height > 0.5 * 448**2 * cols*rows``.
``"sglang"``
    SGLang's InternVL processor, InternLM2 branch (the one that serves InternVL-Chat-V1-5):
    ``python/sglang/srt/multimodal/processors/internvl.py``,
    ``InternVLProcessor.dynamic_preprocess`` scans the same sorted candidates but replaces on a
    tie when ``x*y > best_ratio[0]*best_ratio[1]`` (the larger grid wins, whatever the area),
    has no ``min_num``, and ``process_internlm2_mm_data_async`` calls it with ``max_num=12``
    (not settable per request).

Both scan ``sorted(set(...), key=lambda x: x[0]*x[1])``: pairs with the same product keep the
set's iteration order, which decides exact ties between equally distant ratios of equal size.
We build the candidate list the same way, so we scan in the same order.

Instead of scanning every candidate, a cached table groups candidates by their (float) ratio in
sorted order; a bisection finds the one or two nearest groups, and the tie rule is replayed
on just those members in scan order. Float operations are the reference's own (``w / h``,
``abs(ar - i / j)``), so results agree bit for bit, including exact ties.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image

__all__ = [
    "IMAGE_SIZE",
    "SGLANG_MAX_NUM",
    "TOKENS_PER_TILE",
    "TileRule",
    "image_tokens",
    "tile",
    "tile_count",
    "tile_grid",
    "tile_grids",
]

TileRule: TypeAlias = Literal["official", "sglang"]
IMAGE_SIZE = 448
TOKENS_PER_TILE = 256
# SGLang's InternLM2 branch hard-codes max_num=12 for images (InternVL-Chat-V1-5's own default).
SGLANG_MAX_NUM = 12


@dataclass(frozen=True, slots=True)
class _Table:
    """The candidate grids for one (min_num, max_num), in the reference's scan order."""

    ratios: tuple[tuple[int, int], ...]
    # Distinct float ratios i/j, ascending, and for each the indices into `ratios` that share
    # it, ascending (so in scan order, and therefore in ascending cols*rows).
    values: tuple[float, ...]
    groups: tuple[tuple[int, ...], ...]


@lru_cache(maxsize=256)
def _table(min_num: int, max_num: int) -> _Table:
    # Built exactly as InternVL does (a set, then a stable sort by product): the order of
    # equal-product pairs is the set's iteration order, and exact ties depend on it.
    candidates = {
        (i, j)
        for n in range(min_num, max_num + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_num <= i * j <= max_num
    }
    ratios = tuple(sorted(candidates, key=lambda r: r[0] * r[1]))
    by_value: dict[float, list[int]] = {}
    for index, (i, j) in enumerate(ratios):
        by_value.setdefault(i / j, []).append(index)
    values = tuple(sorted(by_value))
    return _Table(ratios, values, tuple(tuple(by_value[v]) for v in values))


def _check_args(width: int, height: int, min_num: int, max_num: int, rule: str) -> None:
    if width < 1 or height < 1:
        raise ValueError(f"Image size {width}x{height} is empty; both sides must be >= 1 px.")
    if not 1 <= min_num <= max_num:
        raise ValueError(
            f"Tile counts min_num={min_num!r}, max_num={max_num!r} are invalid; "
            "use 1 <= min_num <= max_num."
        )
    if rule not in ("official", "sglang"):
        raise ValueError(f"Tile rule {rule!r} is unknown; use 'official' or 'sglang'.")
    if rule == "sglang" and min_num != 1:
        raise ValueError(
            f"min_num={min_num!r} does not exist in SGLang's tile rule; leave it at 1."
        )


def _nearest_members(table: _Table, aspect: float) -> list[int]:
    """Indices (scan order) of every candidate at the smallest distance from `aspect`."""
    k = bisect_left(table.values, aspect)
    # values[k-1] < aspect <= values[k]; float subtraction is monotone, so the minimum over
    # all candidates is at one of these two neighbours (or both, on an exact tie).
    near = [g for g in (k - 1, k) if 0 <= g < len(table.values)]
    diffs = [abs(aspect - table.values[g]) for g in near]
    best = min(diffs)
    return sorted(m for g, d in zip(near, diffs, strict=True) if d == best for m in table.groups[g])


def _break_tie(
    table: _Table, members: list[int], area: int, rule: TileRule, image_size: int
) -> tuple[int, int]:
    """Replay the reference loop over the equally near candidates, in scan order."""
    chosen = table.ratios[members[0]]
    for index in members[1:]:
        i, j = table.ratios[index]
        if rule == "sglang":
            if i * j > chosen[0] * chosen[1]:
                chosen = (i, j)
        elif area > 0.5 * image_size * image_size * i * j:
            chosen = (i, j)
    return chosen


def tile_grid(
    width: int,
    height: int,
    *,
    max_num: int = 12,
    min_num: int = 1,
    rule: TileRule = "official",
    image_size: int = IMAGE_SIZE,
) -> tuple[int, int]:
    """The ``(cols, rows)`` grid InternVL cuts a ``width x height`` image into."""
    _check_args(width, height, min_num, max_num, rule)
    table = _table(min_num, max_num)
    members = _nearest_members(table, width / height)
    return _break_tie(table, members, width * height, rule, image_size)


def tile_count(grid: tuple[int, int], *, use_thumbnail: bool = True) -> int:
    """Tiles the model sees for a grid: ``cols*rows``, plus the thumbnail when more than one."""
    blocks = grid[0] * grid[1]
    return blocks + 1 if use_thumbnail and blocks > 1 else blocks


def image_tokens(
    width: int,
    height: int,
    *,
    max_num: int = 12,
    min_num: int = 1,
    rule: TileRule = "official",
    tokens_per_tile: int = TOKENS_PER_TILE,
    use_thumbnail: bool = True,
) -> int:
    """Image tokens (context positions) one ``width x height`` image costs the model."""
    grid = tile_grid(width, height, max_num=max_num, min_num=min_num, rule=rule)
    return tile_count(grid, use_thumbnail=use_thumbnail) * tokens_per_tile


def tile(
    image: Image.Image,
    *,
    max_num: int = 12,
    min_num: int = 1,
    rule: TileRule = "official",
    use_thumbnail: bool = True,
    image_size: int = IMAGE_SIZE,
) -> list[Image.Image]:
    """Cut `image` into InternVL's tiles, row by row, plus the thumbnail when more than one."""
    from PIL import Image

    cols, rows = tile_grid(
        image.width,
        image.height,
        max_num=max_num,
        min_num=min_num,
        rule=rule,
        image_size=image_size,
    )
    resized = image.resize((cols * image_size, rows * image_size), Image.Resampling.BICUBIC)
    tiles = [
        resized.crop((c * image_size, r * image_size, (c + 1) * image_size, (r + 1) * image_size))
        for r in range(rows)
        for c in range(cols)
    ]
    if use_thumbnail and len(tiles) > 1:
        tiles.append(image.resize((image_size, image_size), Image.Resampling.BICUBIC))
    return tiles


# ---- vectorised form, for token estimates over many images and for exhaustive checks ----


@lru_cache(maxsize=64)
def _group_arrays(min_num: int, max_num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group: member indices and their cols*rows (padded), and the member count."""
    import numpy as np

    table = _table(min_num, max_num)
    width = max(len(g) for g in table.groups)
    members = np.zeros((len(table.groups), width), dtype=np.int64)
    # Padding that never passes the official area test (and cannot overflow when scaled).
    blocks = np.full((len(table.groups), width), 2**40, dtype=np.int64)
    for g, indices in enumerate(table.groups):
        members[g, : len(indices)] = indices
        blocks[g, : len(indices)] = [table.ratios[m][0] * table.ratios[m][1] for m in indices]
    sizes = np.asarray([len(g) for g in table.groups], dtype=np.int64)
    return members, blocks, sizes


def tile_grids(
    widths: npt.ArrayLike,
    heights: npt.ArrayLike,
    *,
    max_num: int = 12,
    min_num: int = 1,
    rule: TileRule = "official",
    image_size: int = IMAGE_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tile_grid` over arrays of sizes at once: ``(cols, rows)`` int arrays."""
    import numpy as np

    w, h = np.broadcast_arrays(np.asarray(widths, np.int64), np.asarray(heights, np.int64))
    shape = w.shape
    w, h = w.ravel(), h.ravel()
    if w.size and (w.min() < 1 or h.min() < 1):
        raise ValueError("Image sizes must be >= 1 px on both sides; got an empty size.")
    _check_args(1, 1, min_num, max_num, rule)
    table = _table(min_num, max_num)
    aspect, area = w / h, w * h
    values = np.asarray(table.values)
    k = np.searchsorted(values, aspect, side="left")
    lo = np.clip(k - 1, 0, len(values) - 1)
    hi = np.clip(k, 0, len(values) - 1)
    d_lo, d_hi = np.abs(aspect - values[lo]), np.abs(aspect - values[hi])
    group = np.where(d_lo < d_hi, lo, hi)
    chosen = _pick_in_group(min_num, max_num, group, area, rule, image_size)
    ratios = np.asarray(table.ratios, dtype=np.int64)
    cols, rows = ratios[chosen, 0], ratios[chosen, 1]
    # Sizes exactly halfway between two ratios (in floats) tie across groups: rare, so they
    # are replayed one by one with the scalar code.
    for n in np.flatnonzero((lo != hi) & (d_lo == d_hi)):
        members = _nearest_members(table, float(aspect[n]))
        cols[n], rows[n] = _break_tie(table, members, int(area[n]), rule, image_size)
    return cols.reshape(shape), rows.reshape(shape)


def _pick_in_group(
    min_num: int,
    max_num: int,
    group: np.ndarray,
    area: np.ndarray,
    rule: TileRule,
    image_size: int,
) -> np.ndarray:
    """Scan-order index of the pick when all equally near candidates share one ratio."""
    members, blocks, sizes = _group_arrays(min_num, max_num)
    if rule == "sglang":
        # Members of a group ascend in cols*rows: the last is the largest grid.
        position = sizes[group] - 1
    else:
        # A later member replaces the current one when 2*area > size**2 * blocks (the
        # reference's `area > 0.5*size*size*blocks`, exact in integers). Blocks ascend, so
        # the members that pass form a prefix of positions 1.., and the last one wins.
        passes = blocks[group, 1:] * (image_size * image_size) < 2 * area[:, None]
        position = passes.sum(axis=1)
    picked: np.ndarray = members[group, position]
    return picked
