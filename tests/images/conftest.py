"""Image files of every kind the loader must take or refuse, written with Pillow."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw


def photo(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """Gradients plus noise plus a little text: many colours, like a camera picture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], -1)
    pixels += rng.normal(0, 10, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    ImageDraw.Draw(image).text((10, 10), "kanjian 看见", fill=(0, 0, 0))
    return image


def screenshot(width: int = 320, height: int = 240) -> Image.Image:
    """Flat colours and text: few colours, like a screenshot or a document."""
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 24), fill=(40, 90, 160))
    for row in range(5):
        draw.text((8, 32 + row * 20), f"line {row}: total = {row * 7}", fill=(20, 20, 20))
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def png_with_size(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size, with almost no data (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """write(name, data) -> Path of a new file in the test's directory."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write
