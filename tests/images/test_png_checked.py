"""A PNG the wire sends as its own bytes is checked chunk by chunk, not decoded, at load; and
one file's bytes are loaded (checked, decoded) once however often it is attached."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, ImageFile

from kanjian.vlm.errors import ImageError
from kanjian.vlm.images import clear_image_cache, load_image
from kanjian.vlm.wire import prepare_for_wire

from .conftest import encode, photo


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_image_cache()
    yield
    clear_image_cache()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The format of every pixel decode Pillow makes from now on."""
    seen: list[str] = []
    original = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> object:
        if self.tile:  # tile is emptied once the pixels are in
            seen.append(str(self.format))
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return seen


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _with_chunk(png: bytes, chunk: bytes) -> bytes:
    """``png`` with ``chunk`` inserted just before IEND (the last 12 bytes)."""
    return png[:-12] + chunk + png[-12:]


def test_sent_as_is_png_is_not_decoded_until_its_pixels_are_used(decodes: list[str]) -> None:
    image = photo(320, 240)
    loaded = load_image(encode(image, "PNG"))
    assert decodes == []
    assert (loaded.width, loaded.height, loaded.pristine) == (320, 240, True)
    assert prepare_for_wire(loaded).sha256 == loaded.sha256  # sent as is: no pixels needed
    assert decodes == []
    assert np.array_equal(np.asarray(loaded.image), np.asarray(image))  # decoded on use
    assert decodes == ["PNG"]


def test_png_that_must_be_resized_is_decoded_at_load(decodes: list[str]) -> None:
    # 1400x1400 is past the 3x3 grid's 1344x1344: resized for the wire, so decoded now.
    load_image(encode(Image.new("RGB", (1400, 1400), (90, 160, 40)), "PNG"))
    assert decodes == ["PNG"]


def test_damaged_byte_in_the_pixel_data_fails_at_load() -> None:
    data = bytearray(encode(photo(64, 64), "PNG"))
    data[len(data) // 2] ^= 0xFF  # inside IDAT: only its CRC can tell
    with pytest.raises(ImageError) as caught:
        load_image(bytes(data), name="bad.png")
    assert str(caught.value).startswith("Cannot read image 'bad.png': the data is corrupt")
    assert "CRC error in chunk IDAT" in str(caught.value)


def test_png_without_its_end_fails_at_load_as_truncated() -> None:
    data = encode(photo(64, 64), "PNG")
    with pytest.raises(ImageError, match="the file is truncated"):
        load_image(data[:-12], name="cut.png")  # every chunk whole, IEND missing


def test_exif_after_the_pixels_still_turns_the_png(decodes: list[str]) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: shown 30 wide and 40 high
    data = _with_chunk(encode(photo(40, 30), "PNG"), _chunk(b"eXIf", exif.tobytes()))
    loaded = load_image(data)
    assert (loaded.width, loaded.height, loaded.pristine) == (30, 40, False)
    assert decodes == ["PNG"]


def test_the_same_bytes_are_checked_and_decoded_once(decodes: list[str]) -> None:
    data = encode(photo(200, 100), "JPEG")
    first = load_image(data, name="a.jpg")
    second = load_image(data, name="b.jpg")
    assert decodes == ["JPEG"]  # the check at load (a DCT-scaled decode), once
    assert (first.origin, second.origin) == ("a.jpg", "b.jpg")
    assert second.sha256 == first.sha256


def test_full_resolution_pixels_are_not_kept_by_the_cache(decodes: list[str]) -> None:
    data = encode(photo(200, 100), "JPEG")
    first = load_image(data)
    assert first.image.size == (200, 100)  # a tool's full decode: the caller's own
    again = load_image(data)
    assert again.image.size == (200, 100)
    assert decodes == ["JPEG", "JPEG", "JPEG"]  # the check, then each caller's full decode
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))


def test_a_remembered_image_still_obeys_the_pixel_limit() -> None:
    data = encode(photo(100, 100), "PNG")
    load_image(data)
    with pytest.raises(ImageError, match="over the limit of 5,000"):
        load_image(data, name="big.png", max_pixels=5_000)
