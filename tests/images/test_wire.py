"""vlm.wire: the server computes the same grid from what we send, in fewer bytes, always the same."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kanjian.vlm.errors import ImageError
from kanjian.vlm.images import LoadedImage, load_image
from kanjian.vlm.tiling import tile_grid
from kanjian.vlm.wire import (
    _LRU,
    WireImage,
    _cover,
    aprepare_for_wire,
    clear_wire_cache,
    decode_data_url,
    prepare_for_wire,
    wire_size,
)

from .conftest import encode, photo, screenshot

rules = st.sampled_from(["official", "sglang"])


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_wire_cache()


def roundtrip(wire: WireImage) -> LoadedImage:
    """What the server decodes from the data URL."""
    data = decode_data_url(wire.data_url)
    assert len(data) == wire.nbytes and hashlib.sha256(data).hexdigest() == wire.sha256
    assert wire.data_url.startswith(f"data:{wire.mime};base64,")
    return load_image(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8192), st.integers(1, 8192), st.integers(1, 40), rules)
def test_wire_size_keeps_the_grid_and_never_grows(w: int, h: int, max_num: int, rule: str) -> None:
    grid = tile_grid(w, h, max_num=max_num, rule=rule)  # type: ignore[arg-type]
    sw, sh = wire_size(w, h, max_num=max_num, rule=rule)  # type: ignore[arg-type]
    assert tile_grid(sw, sh, max_num=max_num, rule=rule) == grid  # type: ignore[arg-type]
    assert 1 <= sw <= w and 1 <= sh <= h
    target = (grid[0] * 448, grid[1] * 448)
    if w <= target[0] and h <= target[1]:
        assert (sw, sh) == (w, h)
    else:
        # Never smaller than the server's own target on a side the original exceeded.
        assert sw >= min(w, target[0]) and sh >= min(h, target[1])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8192), st.integers(1, 8192), st.integers(448, 8192), st.integers(448, 8192))
def test_cover_fallback_preserves_aspect_and_covers(w: int, h: int, tw: int, th: int) -> None:
    cw, ch = _cover(w, h, tw, th)
    assert 1 <= cw <= w and 1 <= ch <= h
    if (cw, ch) != (w, h):
        # Shrunk: still at least the target on both sides, same shape to within rounding.
        assert cw >= tw and ch >= th
        assert abs(cw * h - ch * w) <= (w + h) / 2


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_small_original_goes_out_untouched(fmt: str, mime: str) -> None:
    data = encode(photo(300, 200), fmt)
    img = load_image(data)
    wire = prepare_for_wire(img)
    assert decode_data_url(wire.data_url) == data
    assert (wire.mime, wire.sha256, wire.source_sha256) == (mime, img.sha256, img.sha256)
    assert (wire.width, wire.height, wire.grid) == (300, 200, tile_grid(300, 200, rule="sglang"))


@pytest.mark.parametrize("rule", ["sglang", "official"])
def test_large_photo_is_downscaled_to_the_grid_as_jpeg(rule: str) -> None:
    data = encode(photo(2400, 1800), "JPEG", quality=95)
    img = load_image(data)
    wire = prepare_for_wire(img, rule=rule)  # type: ignore[arg-type]

    assert wire.grid == (4, 3)
    assert (wire.width, wire.height) == (4 * 448, 3 * 448)
    assert wire.mime == "image/jpeg" and wire.nbytes < len(data)
    seen = roundtrip(wire)
    assert tile_grid(seen.width, seen.height, rule=rule) == wire.grid  # type: ignore[arg-type]
    # The pixels are the original's, resized: compare a smooth region's mean colour.
    original = img.image.resize((8, 6)).getpixel((4, 3))
    sent = seen.image.resize((8, 6)).getpixel((4, 3))
    assert all(abs(a - b) <= 6 for a, b in zip(original, sent, strict=True))  # type: ignore[arg-type]


def test_a_photo_the_grid_would_barely_shrink_goes_as_it_is() -> None:
    """1920x1080 at SGLang's 4x2 grid (1792x896) keeps 77% of its pixels: re-encoding would
    save ~20% of the bytes for ~40 ms of CPU, so the original goes, and the server's own
    resize makes the same tiles."""
    data = encode(photo(1920, 1080), "JPEG", quality=90)
    wire = prepare_for_wire(load_image(data))
    assert decode_data_url(wire.data_url) == data
    assert (wire.width, wire.height, wire.grid) == (1920, 1080, (4, 2))


def test_large_screenshot_is_sent_as_png_with_exact_pixels() -> None:
    shot = screenshot(1000, 3000)  # ratio 1/3: SGLang picks 2x6 tiles, 896x2688 px
    img = load_image(encode(shot, "BMP"))  # BMP: never sent as it is
    wire = prepare_for_wire(img)
    assert wire.mime == "image/png"
    assert (wire.grid, wire.width, wire.height) == ((2, 6), 896, 2688)
    seen = roundtrip(wire)
    assert seen.image.tobytes() == shot.resize((896, 2688), Image.Resampling.BICUBIC).tobytes()
    assert tile_grid(seen.width, seen.height, rule="sglang") == wire.grid


def test_never_more_bytes_than_a_sendable_original() -> None:
    # A PNG screenshot compresses better at full size than its bicubic resize (which adds
    # in-between colours): the original is then both smaller and exactly what the server
    # would have seen.
    data = encode(screenshot(1000, 3000), "PNG")
    wire = prepare_for_wire(load_image(data))
    assert wire.nbytes <= len(data)
    assert tile_grid(wire.width, wire.height, rule="sglang") == wire.grid == (2, 6)


def test_each_side_shrinks_only_past_the_grid() -> None:
    # 3000x448 (ratio 6.7): SGLang picks 7x1 = 3136x448 px, which it fits whole.
    assert wire_size(3000, 448) == (3000, 448)
    # 3000x1000 (ratio 3): SGLang takes the larger tie, 6x2 = 2688x896: both sides shrink.
    assert wire_size(3000, 1000) == (2688, 896)
    # 900x440 under the official rule: 2x1 = 896x448; only the width is over.
    assert tile_grid(900, 440) == (2, 1)
    assert wire_size(900, 440, rule="official") == (896, 440)


def test_rotated_jpeg_is_re_encoded_upright() -> None:
    image = Image.new("RGB", (60, 40), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 30, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    img = load_image(encode(image, "JPEG", quality=95, exif=exif.tobytes()))
    wire = prepare_for_wire(img)
    assert wire.sha256 != img.sha256
    seen = roundtrip(wire)
    assert (seen.width, seen.height) == (40, 60)
    assert b"Exif" not in decode_data_url(wire.data_url)


def test_transparent_png_is_flattened_before_sending() -> None:
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    image.paste((0, 128, 0, 255), (0, 0, 25, 50))
    wire = prepare_for_wire(load_image(encode(image, "PNG")))
    seen = roundtrip(wire)
    assert wire.mime == "image/png"
    assert seen.image.getpixel((40, 25)) == (255, 255, 255)
    assert seen.image.getpixel((10, 25)) == (0, 128, 0)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "GIF"])
def test_other_formats_are_re_encoded(fmt: str) -> None:
    wire = prepare_for_wire(load_image(encode(screenshot(200, 100), fmt)))
    assert wire.mime == "image/png"
    assert roundtrip(wire).image.size == (200, 100)


def test_a_small_well_compressed_original_beats_a_re_encode() -> None:
    # A heavily compressed noisy JPEG over the grid size: our q90 re-encode would be larger.
    data = encode(photo(2000, 2000, seed=3), "JPEG", quality=8)
    img = load_image(data)
    wire = prepare_for_wire(img)
    assert decode_data_url(wire.data_url) == data
    assert (wire.width, wire.height) == (2000, 2000)


def test_same_image_same_bytes_without_and_with_the_cache() -> None:
    data = encode(photo(1600, 900, seed=7), "PNG")
    first = prepare_for_wire(load_image(data))
    clear_wire_cache()
    second = prepare_for_wire(load_image(data))
    assert first == second and first is not second
    assert prepare_for_wire(load_image(data)) is second  # memoised by sha256


def test_cache_is_keyed_by_rule_and_max_num() -> None:
    img = load_image(encode(photo(1200, 1200), "JPEG"))
    sglang = prepare_for_wire(img)
    official = prepare_for_wire(img, rule="official", max_num=6)
    assert sglang.grid == (3, 3) and official.grid == (2, 2)
    assert (official.width, official.height) == (896, 896)


async def test_aprepare_for_wire_matches_sync() -> None:
    img = load_image(encode(photo(900, 600), "JPEG"))
    assert await aprepare_for_wire(img) == prepare_for_wire(img)


def test_lru_is_bounded_by_entries_and_bytes() -> None:
    def item(n: int, size: int) -> WireImage:
        return WireImage("x" * size, "image/png", str(n), size, 1, 1, (1, 1), str(n))

    lru = _LRU(max_entries=2, max_bytes=100)
    for n in range(3):
        lru.put((str(n), "sglang", 12), item(n, 10))
    assert len(lru) == 2 and lru.get(("0", "sglang", 12)) is None
    assert lru.get(("1", "sglang", 12)) is not None  # now the most recent
    lru.put(("3", "sglang", 12), item(3, 10))
    assert lru.get(("2", "sglang", 12)) is None and lru.get(("1", "sglang", 12)) is not None
    lru.put(("big", "sglang", 12), item(9, 95))
    assert len(lru) == 1


def test_decode_data_url_forms() -> None:
    payload = b"\x89PNG\r\n\x1a\n\x00binary"
    url = "data:image/png;base64," + base64.b64encode(payload).decode()
    assert decode_data_url(url) == payload
    assert decode_data_url("data:text/plain,a%20b") == b"a b"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://example.com/cat.png", "not a data URL"),
        ("data:image/png;base64", "no ','"),
        ("data:image/png;base64,@@@@", "malformed"),
    ],
)
def test_decode_data_url_refusals(url: str, fragment: str) -> None:
    with pytest.raises(ImageError, match=fragment) as caught:
        decode_data_url(url)
    assert repr(url[:45])[:-1] in str(caught.value)


def test_encoding_strips_metadata() -> None:
    image = photo(3000, 1500)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    data = encode(image, "JPEG", quality=95, exif=exif.tobytes(), icc_profile=b"\x00" * 128)
    wire = prepare_for_wire(load_image(data))
    sent = decode_data_url(wire.data_url)
    assert wire.width < 3000
    assert b"PhoneMaker" not in sent
    with Image.open(io.BytesIO(sent)) as reopened:
        assert "icc_profile" not in reopened.info and "exif" not in reopened.info
