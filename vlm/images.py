"""Load an image the way a person expects to see it, or say in one sentence why not.

:func:`load_image` takes a path, ``"-"`` (stdin), bytes or a binary stream, and returns a
:class:`LoadedImage`: the pixels as an RGB PIL image (EXIF orientation applied, transparency
flattened on white, first frame of an animation), plus the original bytes and their sha256,
which is the image's identity everywhere else (wire bytes, memory store, prefix caching).

Everything that can go wrong with a file (missing, a directory, empty, not an image, corrupt,
truncated, too many pixels) raises :class:`vlm.errors.ImageError` naming the file. Every byte of
the pixel data is decoded here, so a truncated file fails now and not deep inside a request.

A large JPEG is decoded here only at the reduced scale its wire copy needs (libjpeg's DCT
scaling: 1/2, 1/4 or 1/8 of each side, never below the size the server will see): that pass
still reads every entropy-coded block, so truncation and corruption are caught exactly as by a
full decode, for a fraction of the time. A PNG that goes to the wire as its own bytes (opaque,
no EXIF, one frame, small enough) is not decoded at all: every chunk's CRC is checked instead
(0.01 ms against 0.6 ms for inflating a 320x240 one), which catches truncation and damage to
any byte just as well. The full-resolution pixels (``LoadedImage.image``, which zoom and OCR
need) are then decoded on first use. Other formats are decoded in full here.

Loaded images are remembered by sha256 (a small LRU): a batch that asks several questions
about one file reads and hashes it each time, but decodes and checks it once. The cache
keeps only what loading decoded; each caller gets its own copy for later decodes.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from kanjian.vlm.errors import ImageError
from kanjian.vlm.image_decode import (
    DRAFTABLE,
    FORMATS,
    REFETCH,
    check_size,
    decode,
    draft_scale,
    wire_scale,
)

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "FORMATS",
    "LoadedImage",
    "aload_image",
    "clear_image_cache",
    "draft_scale",
    "load_image",
]

# The loaded-image LRU: at most this many images, and this many bytes of file and pixels.
_CACHE_ENTRIES = 64
_CACHE_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True, eq=False)
class LoadedImage:
    """An image ready to use, and the bytes it came from."""

    origin: str
    sha256: str
    format: str
    data: bytes
    width: int  # of the upright image, at full resolution
    height: int
    _pixels: _Pixels = field(repr=False)
    # True when the pixels are the file's own, untouched: no EXIF rotation, no transparency
    # flattened, no mode conversion, a single frame. Only then may the original bytes stand
    # for the pixels (see vlm.wire).
    pristine: bool = False

    @property
    def image(self) -> Image.Image:
        """The upright RGB pixels at full resolution (decoded on first use for large JPEGs)."""
        return self._pixels.at_scale(1)

    def at_least(self, width: int, height: int) -> Image.Image:
        """Upright RGB pixels at least ``width x height`` (each capped at the image's own side).

        For a JPEG this is the coarsest DCT-scaled decode that is still that large, so that a
        resize to the requested size has the least left to do; for other formats the full image.
        The choice depends only on the bytes and the size asked for, never on what was decoded
        before, so the same request always gives the same pixels.
        """
        return self._pixels.at_scale(self._pixels.scale_for(width, height))


@dataclass(slots=True, eq=False)
class _Pixels:
    """The decodes of one image's bytes, by scale (1 = full); made at most once each."""

    data: bytes
    origin: str
    stored: tuple[int, int]  # width, height as stored in the file (before EXIF rotation)
    draftable: bool
    turned: bool  # EXIF orientation swaps width and height
    by_scale: dict[int, Image.Image]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scale_for(self, width: int, height: int) -> int:
        if not self.draftable:
            return 1
        if self.turned:
            width, height = height, width
        return draft_scale(*self.stored, width, height)

    def copy(self) -> _Pixels:
        """The same bytes and decodes so far; later decodes are the copy's own."""
        return replace(self, by_scale=dict(self.by_scale), lock=threading.Lock())

    def at_scale(self, scale: int) -> Image.Image:
        # One lock for all scales: two threads asking at once must not decode twice.
        with self.lock:
            image = self.by_scale.get(scale)
            if image is None:
                # The bytes were checked when loaded (a PNG by its CRCs only: one written
                # with a broken pixel stream fails here, as one sentence, when first used).
                decoded = decode(self.data, self.origin, None, lambda _: scale).image
                assert decoded is not None  # not lazy_png: always decoded
                image = self.by_scale[scale] = decoded
            return image


def load_image(
    source: str | Path | bytes | BinaryIO,
    *,
    name: str | None = None,
    max_pixels: int = 64_000_000,
) -> LoadedImage:
    """Load `source` (a path, ``"-"`` for stdin, bytes, or a binary stream) as RGB pixels.

    `name` replaces the origin shown in messages and recorded in the result.
    """
    origin, data = _read_source(source, name)
    if not data:
        raise ImageError(f"Cannot read image {origin!r}: the file is empty. {REFETCH}")
    sha256 = hashlib.sha256(data).hexdigest()
    known = _loaded.get(sha256)
    if known is not None:
        if known.width * known.height > max_pixels:
            check_size(known.width, known.height, origin, max_pixels)
        # A copy: what this caller decodes later (OCR's full resolution) is freed with it,
        # never kept by the cache.
        return replace(known, origin=origin, _pixels=known._pixels.copy())
    decoded = decode(data, origin, max_pixels, wire_scale, lazy_png=True)
    width, height = decoded.upright
    pixels = _Pixels(
        data=data,
        origin=origin,
        stored=decoded.stored,
        draftable=decoded.format in DRAFTABLE,
        turned=decoded.upright != decoded.stored,
        by_scale={} if decoded.image is None else {decoded.scale: decoded.image},
    )
    loaded = LoadedImage(
        origin=origin,
        sha256=sha256,
        format=decoded.format,
        data=data,
        width=width,
        height=height,
        _pixels=pixels,
        pristine=decoded.pristine,
    )
    pixel_bytes = 0 if decoded.image is None else len(decoded.image.mode) * _area(decoded.image)
    _loaded.put(replace(loaded, _pixels=pixels.copy()), len(data) + pixel_bytes)
    return loaded


def clear_image_cache() -> None:
    """Forget every remembered :class:`LoadedImage` (tests; memory pressure)."""
    _loaded.clear()


class _LoadedCache:
    """Loaded images by sha256, least recently used out first, bounded in count and bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._items: OrderedDict[str, tuple[LoadedImage, int]] = OrderedDict()
        self._bytes = 0
        self._max_entries, self._max_bytes = max_entries, max_bytes
        self._lock = threading.Lock()

    def get(self, sha256: str) -> LoadedImage | None:
        with self._lock:
            item = self._items.get(sha256)
            if item is None:
                return None
            self._items.move_to_end(sha256)
            return item[0]

    def put(self, image: LoadedImage, size: int) -> None:
        if size > self._max_bytes // 4:
            return  # one huge image would push out everything else
        with self._lock:
            old = self._items.pop(image.sha256, None)
            self._bytes -= old[1] if old else 0
            self._items[image.sha256] = (image, size)
            self._bytes += size
            while len(self._items) > self._max_entries or self._bytes > self._max_bytes:
                _, (_, gone) = self._items.popitem(last=False)
                self._bytes -= gone

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


_loaded = _LoadedCache(_CACHE_ENTRIES, _CACHE_BYTES)


def _area(image: Image.Image) -> int:
    return image.size[0] * image.size[1]


async def aload_image(
    source: str | Path | bytes | BinaryIO,
    *,
    name: str | None = None,
    max_pixels: int = 64_000_000,
) -> LoadedImage:
    """:func:`load_image` in a worker thread, so decoding never blocks the event loop."""
    return await asyncio.to_thread(load_image, source, name=name, max_pixels=max_pixels)


# ---- reading bytes ----


def _read_source(source: str | Path | bytes | BinaryIO, name: str | None) -> tuple[str, bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return name or "<bytes>", bytes(source)
    if isinstance(source, str) and source == "-":
        return name or "<stdin>", sys.stdin.buffer.read()
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        return name or str(source), _read_path(path, name or str(source))
    stream_name = getattr(source, "name", None)
    origin = name or (stream_name if isinstance(stream_name, str) else "<stream>")
    try:
        return origin, source.read()
    except OSError as exc:
        raise ImageError(f"Cannot read image {origin!r}: {exc.strerror or exc}.") from exc


def _read_path(path: Path, origin: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"Cannot read image {origin!r}: no such file. Check the path.") from exc
    except IsADirectoryError as exc:
        raise ImageError(
            f"Cannot read image {origin!r}: it is a directory. Pass an image file."
        ) from exc
    except PermissionError as exc:
        raise ImageError(
            f"Cannot read image {origin!r}: permission denied. Check the file's permissions."
        ) from exc
    except OSError as exc:
        raise ImageError(f"Cannot read image {origin!r}: {exc.strerror or exc}.") from exc
