"""The grounding format: prompt, parser, pixel/norm frames and crop mapping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanjian.vlm.grounding import (
    GroundedBox,
    grounding_prompt,
    map_from_crop,
    norm_to_pixels,
    parse_grounding,
    pixels_to_norm,
)


def test_prompt_is_internvl_verbatim() -> None:
    assert grounding_prompt("the red car") == (
        "Please provide the bounding box coordinate of the region this sentence describes: "
        "<ref>the red car</ref>"
    )


def test_parses_one_ref_one_box() -> None:
    text = "<ref>the red car</ref><box>[[12, 340, 560, 999]]</box>"
    assert parse_grounding(text) == [GroundedBox("the red car", (12, 340, 560, 999))]


def test_parses_several_boxes_under_one_ref() -> None:
    text = "<ref>cat</ref><box>[[1, 2, 3, 4], [10, 20, 30, 40],[5,6,7,8]]</box>"
    assert [b.box_norm for b in parse_grounding(text)] == [
        (1, 2, 3, 4),
        (10, 20, 30, 40),
        (5, 6, 7, 8),
    ]
    assert {b.label for b in parse_grounding(text)} == {"cat"}


def test_parses_several_refs_with_junk_between() -> None:
    text = (
        "Sure! <ref>cat</ref><box>[[1, 2, 3, 4]]</box> and also\n"
        "<ref> dog </ref> <box> [ [ 100 , 200 , 300 , 400 ] ] </box> done."
    )
    assert parse_grounding(text) == [
        GroundedBox("cat", (1, 2, 3, 4)),
        GroundedBox("dog", (100, 200, 300, 400)),
    ]


def test_box_without_ref_takes_default_label() -> None:
    text = "<box>[[1, 2, 3, 4]]</box>"
    assert parse_grounding(text, "a sign") == [GroundedBox("a sign", (1, 2, 3, 4))]
    assert parse_grounding(text) == [GroundedBox("", (1, 2, 3, 4))]


def test_bare_quadruples_count_only_without_box_tags() -> None:
    assert parse_grounding("It is at [[100, 200, 300, 400]].", "x") == [
        GroundedBox("x", (100, 200, 300, 400))
    ]
    text = "Between [1, 2, 3, 4] and <ref>a</ref><box>[[5, 6, 7, 8]]</box>"
    assert parse_grounding(text) == [GroundedBox("a", (5, 6, 7, 8))]


def test_coordinates_are_clamped_and_ordered() -> None:
    text = "<ref>a</ref><box>[[900, 1200, -5, 30.6]]</box>"
    assert parse_grounding(text) == [GroundedBox("a", (0, 31, 900, 1000))]


@pytest.mark.parametrize(
    "text",
    [
        "<ref>a</ref><box>[[1, 2, 3, 4], [5, 6, 7",
        "<ref>a</ref><box>[[1, 2, 3, 4], [5, 6, 7, 8",
        "<ref>a</ref><box>[[1, 2, 3, 4]]</box><ref>b",
        "<ref>a</ref><box>[[1, 2, 3, 4]]</box><ref>b</ref><box>[[9, 9",
    ],
)
def test_truncated_output_keeps_what_is_complete(text: str) -> None:
    assert parse_grounding(text) == [GroundedBox("a", (1, 2, 3, 4))]


def test_nothing_to_parse_gives_no_boxes() -> None:
    assert parse_grounding("I cannot see any car in this image.") == []
    assert parse_grounding("") == []


def test_norm_to_pixels_scales_by_image_size() -> None:
    assert norm_to_pixels((0, 0, 1000, 1000), 640, 480) == (0, 0, 640, 480)
    assert norm_to_pixels((250, 500, 750, 1000), 4000, 3000) == (1000, 1500, 3000, 3000)


def test_pixels_to_norm_clamps_outside_boxes() -> None:
    assert pixels_to_norm((-10, -10, 700, 500), 640, 480) == (0, 0, 1000, 1000)


def test_grounded_box_to_pixels() -> None:
    assert GroundedBox("a", (500, 500, 1000, 1000)).to_pixels(200, 100) == (100, 50, 200, 100)


@pytest.mark.parametrize("size", [(0, 10), (10, -1)])
def test_zero_size_image_is_rejected(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        norm_to_pixels((0, 0, 1, 1), *size)


_sizes = st.integers(min_value=1, max_value=16384)


@st.composite
def _image_and_box(draw: st.DrawFn) -> tuple[int, int, tuple[int, int, int, int]]:
    w, h = draw(_sizes), draw(_sizes)
    x1, x2 = sorted(draw(st.integers(0, w)) for _ in range(2))
    y1, y2 = sorted(draw(st.integers(0, h)) for _ in range(2))
    return w, h, (x1, y1, x2, y2)


@given(_image_and_box())
def test_pixel_round_trip_is_within_the_frame_grain(
    case: tuple[int, int, tuple[int, int, int, int]],
) -> None:
    w, h, box = case
    back = norm_to_pixels(pixels_to_norm(box, w, h), w, h)
    # One norm step is size/1000 px: rounding to it costs half a step, rounding back half a px.
    for got, want, size in zip(back, box, (w, h, w, h), strict=True):
        assert abs(got - want) <= 0.5 + size / 2000 + 1e-9
        if size <= 1000:
            assert abs(got - want) <= 1


@given(_sizes, _sizes, st.lists(st.integers(0, 1000), min_size=4, max_size=4))
def test_norm_round_trip_is_within_the_pixel_grain(w: int, h: int, coords: list[int]) -> None:
    x1, x2 = sorted(coords[:2])
    y1, y2 = sorted(coords[2:])
    back = pixels_to_norm(norm_to_pixels((x1, y1, x2, y2), w, h), w, h)
    for got, want, size in zip(back, (x1, y1, x2, y2), (w, h, w, h), strict=True):
        assert abs(got - want) <= 0.5 + 500 / size + 1e-9
        if size >= 1000:
            assert abs(got - want) <= 1


def test_map_from_crop_offsets_into_parent() -> None:
    assert map_from_crop((10, 20, 30, 40), (100, 200, 300, 400)) == (110, 220, 130, 240)


def test_map_from_crop_undoes_a_resize() -> None:
    # A 200x200 crop shown to the model at 800x800: boxes shrink by 4 on the way back.
    assert map_from_crop((400, 400, 800, 800), (100, 200, 300, 400), (800, 800)) == (
        200,
        300,
        300,
        400,
    )


def test_map_from_crop_clamps_to_the_crop() -> None:
    assert map_from_crop((-5, -5, 500, 500), (100, 200, 300, 400)) == (100, 200, 300, 400)


def test_map_from_crop_rejects_empty_crop() -> None:
    with pytest.raises(ValueError, match="has no area"):
        map_from_crop((0, 0, 1, 1), (10, 10, 10, 20))
