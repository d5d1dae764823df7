"""Prepare an image for the wire: what the server would have seen, in as few bytes as possible.

The server (SGLang, or the local backend) resizes every image to its tile grid's pixel size,
``cols*448 x rows*448``, before the vision encoder sees it. So:

* An image that already fits inside that size, stored as JPEG, PNG or WebP, with pixels that
  are the file's own (no EXIF rotation or transparency to undo), goes out as its original
  bytes, untouched.
* So does a larger JPEG or WebP that the grid's pixel size would keep at least 60% of: a
  re-encode would save little and cost tens of milliseconds (the server resizes it the same
  way).
* A larger one is downscaled, per side, to at most the grid's pixel size: the server's own
  resize then changes nothing it would not have changed. Shrinking can move the aspect ratio
  or the area, and the area decides ties in the official rule, so the grid the server will
  compute from the new size is checked; when it differs, an aspect-preserving downscale that
  still covers the grid is tried, and failing that the original size is kept.
* Anything else is re-encoded: PNG for images with few colours (screenshots, documents,
  diagrams: sharp edges that JPEG would ring around, and that PNG packs well), JPEG at
  quality 90 for photos. No metadata is written, so the same pixels always give the same bytes.
  (``optimize`` Huffman tables cost ~10 ms once and save ~4.5% of the bytes, which the image
  costs again in every later request of the conversation.)
* A large JPEG is resized not from its full decode but from libjpeg's DCT-scaled decode at the
  coarsest of 1/2, 1/4, 1/8 that still covers the wire size on both sides
  (:meth:`LoadedImage.at_least`), the one ``load_image`` already made for the default grid: the
  bicubic pass then shrinks by less than 2x, and 12 Mpx are never decoded in full. The scale
  follows from the size asked for alone, so the bytes never depend on what was decoded before.

Results are memoised by the source's sha256 (a bounded LRU), so one image is always sent as the
same bytes, which is what lets SGLang's prefix cache recognise it in later turns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from kanjian.vlm.errors import ImageError
from kanjian.vlm.images import LoadedImage
from kanjian.vlm.tiling import IMAGE_SIZE, SGLANG_MAX_NUM, TileRule, tile_grid

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "WireImage",
    "aprepare_for_wire",
    "clear_wire_cache",
    "decode_data_url",
    "prepare_for_wire",
    "sends_original",
    "wire_size",
]

# Formats every OpenAI-compatible server decodes, and so may be sent as they are.
_PASSTHROUGH = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# At most this many distinct colours means "graphic" (sent as PNG); more means "photo" (JPEG).
# Anti-aliased text on a flat background stays in the hundreds; camera noise runs to tens of
# thousands even in a small crop.
_PNG_MAX_COLOURS = 2048
_JPEG_QUALITY = 90
# An original that a downscale would keep at least this share of the pixels of goes out as
# it is: re-encoding saves little more than the pixels it drops (a 1920x1080 JPEG at
# SGLang's 4x2 grid keeps 77%: 573 KB would become 444 KB), but costs ~40 ms of CPU per image
# (full decode, bicubic resize, encode), which at `kanjian batch -c 32` is several times the
# rest of a task, and it recompresses lossily. At 2400x1800 (56% kept) the 38% saved is
# worth it.
_KEEP_ORIGINAL_ABOVE = 0.6
# Only for lossy originals: a photo saved as PNG shrinks several times as JPEG.
_LOSSY = frozenset({"JPEG", "WEBP"})
_CACHE_ENTRIES = 128
_CACHE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WireImage:
    """One image as it goes into an ``image_url`` part."""

    data_url: str
    mime: str
    sha256: str  # of the bytes sent
    nbytes: int  # of the bytes sent (before base64)
    width: int  # of the image sent
    height: int
    grid: tuple[int, int]  # (cols, rows) the server computes, same as for the original
    source_sha256: str


def prepare_for_wire(
    img: LoadedImage, *, rule: TileRule = "sglang", max_num: int = SGLANG_MAX_NUM
) -> WireImage:
    """The bytes to send for `img`, memoised by its sha256 so they never change."""
    key = (img.sha256, rule, max_num)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    wire = _prepare(img, rule, max_num)
    _cache.put(key, wire)
    return wire


async def aprepare_for_wire(
    img: LoadedImage, *, rule: TileRule = "sglang", max_num: int = SGLANG_MAX_NUM
) -> WireImage:
    """:func:`prepare_for_wire` in a worker thread (resizing and encoding take a while)."""
    return await asyncio.to_thread(prepare_for_wire, img, rule=rule, max_num=max_num)


def clear_wire_cache() -> None:
    """Forget every memoised :class:`WireImage`."""
    _cache.clear()


def wire_size(
    width: int, height: int, *, rule: TileRule = "sglang", max_num: int = SGLANG_MAX_NUM
) -> tuple[int, int]:
    """The size to send a ``width x height`` image at: the smallest that keeps its grid."""
    grid = tile_grid(width, height, max_num=max_num, rule=rule)
    target_w, target_h = grid[0] * IMAGE_SIZE, grid[1] * IMAGE_SIZE
    if width <= target_w and height <= target_h:
        return width, height
    for size in (
        (min(width, target_w), min(height, target_h)),
        _cover(width, height, target_w, target_h),
    ):
        if tile_grid(*size, max_num=max_num, rule=rule) == grid:
            return size
    return width, height


def sends_original(
    fmt: str, width: int, height: int, *, rule: TileRule = "sglang", max_num: int = SGLANG_MAX_NUM
) -> bool:
    """Whether a pristine ``fmt`` image of this size goes to the wire as its own bytes: it
    fits the grid's pixel size, or (JPEG, WebP) a downscale would keep too many of its pixels
    for a re-encode to pay; the server then resizes it the same way itself."""
    if fmt not in _PASSTHROUGH:
        return False
    wire_w, wire_h = wire_size(width, height, rule=rule, max_num=max_num)
    kept = wire_w * wire_h / (width * height)
    return kept == 1 or (fmt in _LOSSY and kept >= _KEEP_ORIGINAL_ABOVE)


def _cover(width: int, height: int, target_w: int, target_h: int) -> tuple[int, int]:
    """The smallest aspect-preserving size that still covers the target on both sides."""
    scale = max(target_w / width, target_h / height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_data_url(url: str) -> bytes:
    """The bytes inside a ``data:`` URL (base64 or percent-encoded)."""
    shown = url if len(url) <= 48 else url[:45] + "..."
    if not url.startswith("data:"):
        raise ImageError(
            f"Cannot decode image URL {shown!r}: it is not a data URL; "
            "pass data:<mime>;base64,<data>."
        )
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise ImageError(f"Cannot decode image URL {shown!r}: it has no ',' before the data.")
    if not header.lower().endswith(";base64"):
        return unquote_to_bytes(payload)
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ImageError(
            f"Cannot decode image URL {shown!r}: its base64 data is malformed ({exc})."
        ) from exc


# ---- preparing ----


def _prepare(img: LoadedImage, rule: TileRule, max_num: int) -> WireImage:
    grid = tile_grid(img.width, img.height, max_num=max_num, rule=rule)
    size = wire_size(img.width, img.height, rule=rule, max_num=max_num)
    original_ok = img.pristine and img.format in _PASSTHROUGH
    if original_ok and sends_original(
        img.format, img.width, img.height, rule=rule, max_num=max_num
    ):
        data, mime, size = img.data, _PASSTHROUGH[img.format], (img.width, img.height)
    else:
        data, mime = _encode(_resized(img, size))
        if original_ok and len(img.data) <= len(data):
            # A small, well-compressed original beats our re-encode: send it instead.
            data, mime, size = img.data, _PASSTHROUGH[img.format], (img.width, img.height)
    encoded = base64.b64encode(data).decode("ascii")
    return WireImage(
        data_url=f"data:{mime};base64,{encoded}",
        mime=mime,
        sha256=hashlib.sha256(data).hexdigest(),
        nbytes=len(data),
        width=size[0],
        height=size[1],
        grid=grid,
        source_sha256=img.sha256,
    )


def _resized(img: LoadedImage, size: tuple[int, int]) -> Image.Image:
    """`img` at `size`, from the smallest decode that still covers it (a JPEG's DCT scaling)."""
    from PIL import Image

    source = img.at_least(*size)
    if source.size == size:
        return source
    # Bicubic, like the server's own resize (torch bicubic in SGLang, PIL bicubic in InternVL).
    # From a DCT-scaled decode the factor left is under 2, so this pass is cheap.
    resized = source.resize(size, Image.Resampling.BICUBIC)
    # A new image of ours: drop the metadata resize copied instead of copying the pixels.
    resized.info = {}
    return resized


def _encode(image: Image.Image) -> tuple[bytes, str]:
    """Deterministic bytes for RGB pixels: no metadata, fixed settings."""
    from PIL import Image

    if image.info:
        # Drop EXIF, ICC, text chunks: encoders may copy them from .info.
        clean = Image.new(image.mode, image.size)
        clean.paste(image)
        image = clean
    out = io.BytesIO()
    if image.getcolors(maxcolors=_PNG_MAX_COLOURS) is not None:
        image.save(out, format="PNG", compress_level=6)
        return out.getvalue(), "image/png"
    image.save(out, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue(), "image/jpeg"


class _LRU:
    """A small thread-safe LRU of WireImages, bounded in entries and in payload bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._items: OrderedDict[tuple[str, str, int], WireImage] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> WireImage | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, str, int], item: WireImage) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data_url)
            self._items[key] = item
            self._bytes += len(item.data_url)
            while self._items and (
                len(self._items) > self._max_entries or self._bytes > self._max_bytes
            ):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.data_url)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


_cache = _LRU(_CACHE_ENTRIES, _CACHE_BYTES)
