"""vlm.tiling agrees with the upstream algorithms, transcribed in reference_internvl.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kanjian.vlm.tiling import image_tokens, tile, tile_count, tile_grid, tile_grids

from . import reference_internvl as ref

sides = st.integers(min_value=1, max_value=8192)
max_nums = st.integers(min_value=1, max_value=40)


def dense_sides() -> np.ndarray:
    """Every side 1..64, every 32 px to 8192, and 448*k-1, 448*k, 448*k+1 (tile edges)."""
    edges = [448 * k + d for k in range(1, 19) for d in (-1, 0, 1)]
    picked = np.concatenate([np.arange(1, 65), np.arange(32, 8193, 32), edges, [8191]])
    return np.unique(picked[picked <= 8192])


DENSE = dense_sides()


@settings(max_examples=400, deadline=None)
@given(sides, sides, max_nums, st.integers(min_value=1, max_value=6))
def test_official_rule_matches_reference(w: int, h: int, max_num: int, min_num: int) -> None:
    min_num = min(min_num, max_num)
    expected = ref.official_grid(w, h, min_num, max_num)
    assert tile_grid(w, h, max_num=max_num, min_num=min_num, rule="official") == expected


@settings(max_examples=400, deadline=None)
@given(sides, sides, max_nums)
def test_sglang_rule_matches_reference(w: int, h: int, max_num: int) -> None:
    assert tile_grid(w, h, max_num=max_num, rule="sglang") == ref.sglang_grid(w, h, max_num)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 90), max_nums)
def test_exact_and_halfway_ratios_match_reference(i: int, j: int, k: int, max_num: int) -> None:
    # Sizes that hit a candidate ratio exactly (w:h = i:j) or fall halfway between two:
    # the only places where the tie rules act.
    for w, h in ((i * k, j * k), (2 * i + 1, 2 * j), (i * k + 1, j * k)):
        assert tile_grid(w, h, max_num=max_num) == ref.official_grid(w, h, 1, max_num)
        assert tile_grid(w, h, max_num=max_num, rule="sglang") == ref.sglang_grid(w, h, max_num)


@settings(max_examples=200, deadline=None)
@given(sides, sides, max_nums)
def test_grid_properties(w: int, h: int, max_num: int) -> None:
    official = tile_grid(w, h, max_num=max_num)
    sglang = tile_grid(w, h, max_num=max_num, rule="sglang")
    assert 1 <= official[0] * official[1] <= sglang[0] * sglang[1] <= max_num or (
        # Halfway between two ratios the rules may pick different ratios altogether.
        official[0] * sglang[1] != sglang[0] * official[1]
    )
    # SGLang's grid depends on the aspect ratio alone; the official one grows with the area.
    assert tile_grid(2 * w, 2 * h, max_num=max_num, rule="sglang") == sglang
    bigger = tile_grid(2 * w, 2 * h, max_num=max_num)
    assert bigger[0] * bigger[1] >= official[0] * official[1]


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["official", "sglang"])
def test_dense_grid_agrees_with_reference_for_every_max_num(rule: str) -> None:
    widths, heights = (a.ravel() for a in np.meshgrid(DENSE, DENSE))
    for max_num in range(1, 41):
        want_c, want_r = ref.grids_vectorised(widths, heights, max_num=max_num, rule=rule)
        got_c, got_r = tile_grids(widths, heights, max_num=max_num, rule=rule)  # type: ignore[arg-type]
        wrong = np.flatnonzero((want_c != got_c) | (want_r != got_r))
        assert wrong.size == 0, (
            f"max_num={max_num} {rule}: first mismatch at "
            f"{widths[wrong[0]]}x{heights[wrong[0]]}: "
            f"{(got_c[wrong[0]], got_r[wrong[0]])} != {(want_c[wrong[0]], want_r[wrong[0]])}"
        )


def test_vectorised_reference_is_the_scalar_reference() -> None:
    # The dense check leans on the vectorised transcription: pin it to the plain loop.
    sizes = [(w, h) for w in range(1, 25) for h in range(1, 25)] + [(4000, 3000), (8192, 5)]
    widths = np.array([w for w, _ in sizes])
    heights = np.array([h for _, h in sizes])
    for max_num in (1, 12, 40):
        oc, orow = ref.grids_vectorised(widths, heights, max_num=max_num, rule="official")
        sc, srow = ref.grids_vectorised(widths, heights, max_num=max_num, rule="sglang")
        for n, (w, h) in enumerate(sizes):
            assert (oc[n], orow[n]) == ref.official_grid(w, h, 1, max_num)
            assert (sc[n], srow[n]) == ref.sglang_grid(w, h, max_num)


def test_scalar_and_vectorised_agree_on_small_sides() -> None:
    widths, heights = (a.ravel() for a in np.meshgrid(np.arange(1, 49), np.arange(1, 49)))
    for max_num in (1, 2, 7, 12, 40):
        for rule in ("official", "sglang"):
            cols, rows = tile_grids(widths, heights, max_num=max_num, rule=rule)  # type: ignore[arg-type]
            for n in range(0, widths.size, 7):
                got = tile_grid(int(widths[n]), int(heights[n]), max_num=max_num, rule=rule)  # type: ignore[arg-type]
                assert got == (cols[n], rows[n])


def test_the_two_rules_differ_where_documented() -> None:
    # 448x448: equally close 1x1, 2x2, 3x3; the area (200,704) is not above 0.5*448²*4, so
    # the official rule keeps 1x1, while SGLang takes the larger grid on every tie.
    assert tile_grid(448, 448) == (1, 1)
    assert tile_grid(448, 448, rule="sglang") == (3, 3)
    assert tile_grid(4000, 3000) == tile_grid(4000, 3000, rule="sglang") == (4, 3)


def test_image_tokens_count_tiles_and_thumbnail() -> None:
    assert image_tokens(448, 448) == 256  # one tile, no thumbnail
    assert image_tokens(4000, 3000) == (12 + 1) * 256
    assert image_tokens(448, 448, rule="sglang") == (9 + 1) * 256
    assert (
        image_tokens(3840, 2160, max_num=40)
        == (tile_count(tile_grid(3840, 2160, max_num=40))) * 256
    )
    assert (
        tile_count((1, 1)) == 1
        and tile_count((2, 1)) == 3
        and tile_count((2, 1), use_thumbnail=False) == 2
    )


def test_tile_cuts_rows_of_448_tiles_plus_thumbnail() -> None:
    image = Image.new("RGB", (1000, 500), (255, 255, 255))
    image.paste((255, 0, 0), (500, 0, 1000, 500))  # right half red
    tiles = tile(image, max_num=12)
    cols, rows = tile_grid(1000, 500)
    assert (cols, rows) == (2, 1)
    assert len(tiles) == cols * rows + 1
    assert all(t.size == (448, 448) for t in tiles)
    assert tiles[0].getpixel((10, 10)) == (255, 255, 255)
    assert tiles[1].getpixel((400, 10)) == (255, 0, 0)
    assert len(tile(image, max_num=1)) == 1
    assert len(tile(image, use_thumbnail=False)) == 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_num": 0}, "min_num=1, max_num=0"),
        ({"min_num": 3, "max_num": 2}, "min_num=3"),
        ({"rule": "vllm"}, "'vllm' is unknown"),
        ({"rule": "sglang", "min_num": 2}, "does not exist in SGLang"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        tile_grid(100, 100, **kwargs)  # type: ignore[arg-type]


def test_empty_size_is_refused() -> None:
    with pytest.raises(ValueError, match="0x10"):
        tile_grid(0, 10)
    with pytest.raises(ValueError, match=">= 1 px"):
        tile_grids([0], [10])
