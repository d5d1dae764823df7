"""Large JPEGs decoded at a reduced DCT scale: same checks, same upright pixels, same bytes.

A 3600x1800 photo (2:1) has SGLang's 4x2 grid, 1792x896 px, so loading it decodes at 1/2 scale
(1800x900); a half-size one stays at full scale. One image of each, shared by the module.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageOps

from kanjian.vlm.errors import ImageError
from kanjian.vlm.images import draft_scale, load_image
from kanjian.vlm.wire import _resized, clear_wire_cache, decode_data_url, prepare_for_wire

from .conftest import encode, photo

BIG = (3600, 1800)


def big_photo() -> Image.Image:
    """A smooth photo upscaled (cheap to make), with sharp detail drawn at full size."""
    image = photo(900, 450, seed=5).resize(BIG, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for row in range(12):
        draw.text((100, 100 + row * 130), f"line {row}: 看见 {row * 7.25:.2f}", fill=(0, 0, 0))
    return image


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return encode(big_photo(), "JPEG", quality=92)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_wire_cache()


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255.0**2 / np.mean(diff**2)))


def sent(data: bytes, **kwargs: object) -> bytes:
    return decode_data_url(prepare_for_wire(load_image(data), **kwargs).data_url)  # type: ignore[arg-type]


@given(st.integers(1, 9000), st.integers(1, 9000), st.integers(1, 9000), st.integers(1, 9000))
def test_draft_scale_is_the_coarsest_that_still_covers(w: int, h: int, mw: int, mh: int) -> None:
    scale = draft_scale(w, h, mw, mh)
    assert scale in (1, 2, 4, 8)
    if scale > 1:
        assert -(-w // scale) >= mw and -(-h // scale) >= mh
    if scale < 8:
        finer = scale * 2
        assert w < finer * mw or h < finer * mh


def test_large_jpeg_loads_at_full_size_and_decodes_full_pixels_on_demand(big_jpeg: bytes) -> None:
    img = load_image(big_jpeg)
    assert (img.width, img.height, img.format, img.pristine) == (*BIG, "JPEG", True)
    assert img.at_least(1792, 896).size == (1800, 900)
    with Image.open(io.BytesIO(big_jpeg)) as eager:
        assert img.image.tobytes() == eager.convert("RGB").tobytes()


def test_at_least_picks_the_scale_from_the_request_alone(big_jpeg: bytes) -> None:
    img = load_image(big_jpeg)
    assert img.at_least(900, 450).size == (900, 450)  # 1/4
    assert img.at_least(300, 100).size == (450, 225)  # 1/8 at most
    assert img.at_least(1801, 10).size == BIG  # 1/2 would be one pixel short
    assert img.at_least(1800, 900) is img.at_least(1790, 890)  # decoded once per scale


def test_truncated_large_jpeg_is_refused_by_the_reduced_decode(big_jpeg: bytes) -> None:
    for cut in (len(big_jpeg) // 2, len(big_jpeg) - 64):
        with pytest.raises(ImageError, match="the file is truncated"):
            load_image(big_jpeg[:cut], name="cut.jpg")


def test_large_jpeg_goes_out_at_the_grid_size_close_to_a_full_resize(big_jpeg: bytes) -> None:
    img = load_image(big_jpeg)
    wire = prepare_for_wire(img)
    assert (wire.width, wire.height, wire.grid, wire.mime) == (1792, 896, (4, 2), "image/jpeg")
    reference = img.image.resize((1792, 896), Image.Resampling.LANCZOS)
    # Before encoding: the 1/2-scale decode + bicubic is within noise of a full-size resize.
    assert psnr(_resized(img, (1792, 896)), reference) > 40
    # After: no worse than encoding a bicubic resize of the full decode (the old way).
    full_way = encode(img.image.resize((1792, 896), Image.Resampling.BICUBIC), "JPEG", quality=90)
    seen = load_image(decode_data_url(wire.data_url)).image
    assert psnr(seen, reference) >= psnr(load_image(full_way).image, reference) - 0.5


def test_same_bytes_whatever_was_decoded_before(big_jpeg: bytes) -> None:
    first = sent(big_jpeg)
    clear_wire_cache()
    img = load_image(big_jpeg)
    img.image  # noqa: B018 - the full decode first must not change what is sent
    assert decode_data_url(prepare_for_wire(img).data_url) == first
    clear_wire_cache()
    small_first = sent(big_jpeg, max_num=1)  # 1x1 grid: decoded at 1/4, then 448x448
    assert hashlib.sha256(small_first).digest() != hashlib.sha256(first).digest()
    clear_wire_cache()
    assert sent(big_jpeg, max_num=1) == small_first


def test_rotated_large_jpeg_comes_out_upright() -> None:
    # Upright: red left half, blue right half. Stored turned a quarter, tagged orientation 6
    # ("rotate 90° clockwise to show"), as a phone held upright writes it.
    upright = Image.new("RGB", BIG, (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, BIG[0] // 2, BIG[1]))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    data = encode(stored, "JPEG", quality=90, exif=exif.tobytes())

    img = load_image(data)
    assert (img.width, img.height, img.pristine) == (*BIG, False)
    assert img.at_least(1792, 896).size == (1800, 900)
    wire = prepare_for_wire(img)
    assert (wire.width, wire.height) == (1792, 896)
    seen = load_image(decode_data_url(wire.data_url)).image
    red, blue = seen.getpixel((300, 448)), seen.getpixel((1500, 448))
    assert red[0] > 200 and red[2] < 60  # type: ignore[index]
    assert blue[2] > 200 and blue[0] < 60  # type: ignore[index]
    assert img.image.tobytes() == ImageOps.exif_transpose(Image.open(io.BytesIO(data))).tobytes()


def test_multi_picture_jpeg_gives_its_first_frame_at_any_scale() -> None:
    frames = [Image.new("RGB", (800, 600), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="MPO", save_all=True, append_images=frames[1:])
    img = load_image(out.getvalue())
    assert (img.format, img.pristine) == ("MPO", False)
    for reduced, size in (((200, 150), (200, 150)), ((800, 600), (800, 600))):
        pixels = img.at_least(*reduced)
        assert pixels.size == size and pixels.getpixel((10, 10))[0] > 240  # type: ignore[index]


def test_non_jpeg_formats_are_never_reduced() -> None:
    img = load_image(encode(photo(400, 300), "PNG"))
    assert img.at_least(50, 50) is img.image
