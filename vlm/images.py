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
import io
import re
import sys
import threading
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from kanjian.vlm.errors import ImageError

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

# What Pillow may open. (Multi-picture JPEGs from phones open through JPEG, as format "MPO".)
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"
_REFETCH = "Re-export or re-download it."
# Formats whose decoder can scale down while decoding (libjpeg's DCT scaling).
_DRAFTABLE = ("JPEG", "MPO")
# EXIF orientations that turn the image a quarter: the stored width is the shown height.
_QUARTER_TURNS = (5, 6, 7, 8)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks after which a PNG's pixels are not the file's own (transparency, an animation) or
# may be turned (EXIF): such a file is decoded, as every other format is.
_PNG_DECODE_FOR = frozenset({b"tRNS", b"acTL", b"eXIf"})
# Text chunks whose keyword makes Pillow read them as EXIF.
_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_PNG_EXIF_KEYWORD = b"Raw profile type exif\x00"
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


def draft_scale(width: int, height: int, min_width: int, min_height: int) -> int:
    """The coarsest JPEG decode scale (8, 4, 2 or 1) that keeps both sides at least the minimum.

    At scale ``s`` libjpeg gives ``ceil(width / s) x ceil(height / s)`` pixels; ``width >=
    s * min_width`` guarantees that is enough, and is the same test Pillow's ``draft`` makes.
    """
    for scale in (8, 4, 2):
        if width >= scale * max(1, min_width) and height >= scale * max(1, min_height):
            return scale
    return 1


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
                decoded = _decode(self.data, self.origin, None, lambda _: scale).image
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
        raise ImageError(f"Cannot read image {origin!r}: the file is empty. {_REFETCH}")
    sha256 = hashlib.sha256(data).hexdigest()
    known = _loaded.get(sha256)
    if known is not None:
        if known.width * known.height > max_pixels:
            _check_size(known.width, known.height, origin, max_pixels)
        # A copy: what this caller decodes later (OCR's full resolution) is freed with it,
        # never kept by the cache.
        return replace(known, origin=origin, _pixels=known._pixels.copy())
    decoded = _decode(data, origin, max_pixels, _wire_scale, lazy_png=True)
    width, height = decoded.upright
    pixels = _Pixels(
        data=data,
        origin=origin,
        stored=decoded.stored,
        draftable=decoded.format in _DRAFTABLE,
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


# ---- decoding ----


@dataclass(frozen=True, slots=True)
class _Decoded:
    image: Image.Image | None  # upright RGB; None: checked, not decoded (see _png_as_is)
    format: str
    scale: int  # 1 = full resolution
    stored: tuple[int, int]  # full size as stored
    upright: tuple[int, int]  # full size as shown
    pristine: bool


def _wire_scale(image: Image.Image) -> int:
    """The decode scale that the default wire preparation (SGLang's rule, 12 tiles) needs.

    When that sends the file's own bytes, the pixels are only decoded to check the file, at
    the coarsest scale (a 1920x1080 JPEG: 3 ms instead of 12); a tool that needs the full
    picture decodes it then.
    """
    # Imported here: vlm.wire imports this module.
    from kanjian.vlm.wire import sends_original, wire_size

    width, height = _upright_size(image)
    if (width, height) == image.size and sends_original(image.format or "", width, height):
        return draft_scale(*image.size, 1, 1)
    wire_w, wire_h = wire_size(width, height)
    if image.size != (width, height):
        wire_w, wire_h = wire_h, wire_w
    return draft_scale(*image.size, wire_w, wire_h)


def _decode(
    data: bytes,
    origin: str,
    max_pixels: int | None,
    scale_of: Callable[[Image.Image], int],
    *,
    lazy_png: bool = False,
) -> _Decoded:
    """Open, check and decode `data` at the scale `scale_of` picks (JPEG only; else 1).

    With `lazy_png`, a PNG that the wire sends as its own bytes is checked, not decoded.
    """
    from PIL import Image

    # kanjian enforces its own pixel limit below; Pillow's warning would only duplicate it
    # (and Pillow's hard DecompressionBombError, at twice its own limit, is translated).
    with _translated_errors(origin), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        if max_pixels is not None:
            _check_pixels(image, origin, max_pixels)
        # Asked before load(): finding a second frame seeks, which would undo the decode.
        animated = bool(getattr(image, "is_animated", False))
        stored, fmt = image.size, image.format or "UNKNOWN"
        scale, upright = 1, None
        if fmt in _DRAFTABLE:
            # A JPEG's EXIF is in its header; other formats' getexif() may decode (and a
            # failure there must surface from load() below, not vanish).
            upright = _upright_size(image)
            scale = _draft(image, scale_of(image))
        elif lazy_png and fmt == "PNG" and not animated and _png_as_is(image, data, origin):
            return _Decoded(None, fmt, 1, stored, stored, True)
        image.load()
        rgb, pristine = _normalise(image, animated)
    return _Decoded(rgb, fmt, scale, stored, upright or rgb.size, pristine)


def _png_as_is(image: Image.Image, data: bytes, origin: str) -> bool:
    """Whether this PNG's own bytes are what the wire sends and its pixels need no decode
    now: opaque 8-bit RGB, grey or palette, no EXIF, one frame, within the tile grid. Its
    chunks are checked here (:func:`_png_chunks`), so a damaged file still fails now."""
    from kanjian.vlm.wire import sends_original  # vlm.wire imports this module

    if image.mode not in ("RGB", "L", "P") or "transparency" in image.info:
        return False
    if "exif" in image.info or not sends_original("PNG", *image.size):
        return False
    return not (_png_chunks(data, origin) & _PNG_DECODE_FOR)


def _png_chunks(data: bytes, origin: str) -> set[bytes]:
    """The types of a PNG's chunks, every chunk's CRC checked, up to IEND.

    Each byte after the signature is in a chunk, and each chunk carries a CRC-32 of its type
    and data: a file cut short or changed anywhere fails here as the full decode would.
    A text chunk that Pillow would read as EXIF counts as ``eXIf``.
    """
    view, pos, kinds = memoryview(data), len(_PNG_SIGNATURE), set()
    while True:
        if pos + 12 > len(data):
            raise ImageError(_decode_failure(origin, EOFError()))
        end = pos + 12 + int.from_bytes(view[pos : pos + 4], "big")
        if end > len(data):
            raise ImageError(_decode_failure(origin, EOFError()))
        kind = bytes(view[pos + 4 : pos + 8])
        if zlib.crc32(view[pos + 4 : end - 4]) != int.from_bytes(view[end - 4 : end], "big"):
            name = kind.decode("latin-1")
            raise ImageError(_decode_failure(origin, ValueError(f"CRC error in chunk {name}")))
        if kind in _PNG_TEXT and view[pos + 8 : end - 4].tobytes().startswith(_PNG_EXIF_KEYWORD):
            kind = b"eXIf"
        kinds.add(kind)
        if kind == b"IEND":
            return kinds
        pos = end


def _draft(image: Image.Image, scale: int) -> int:
    """Ask the JPEG decoder for 1/`scale` of each side; the scale it will actually use."""
    if scale == 1:
        return 1
    width, height = image.size
    # Pillow picks the largest scale with size // request >= scale: floor division asks exactly.
    image.draft(image.mode, (width // scale, height // scale))
    return 1 if image.size == (width, height) else scale


@contextmanager
def _translated_errors(origin: str) -> Iterator[None]:
    """Pillow's and the decoders' exceptions, as one sentence naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"Cannot read image {origin!r}: it is not a {_FORMAT_NAMES} image. "
            "Convert it to one of those."
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives as an exception where warnings are errors (another thread's
        # filters, or `python -W error`): it means the same thing.
        raise ImageError(_bomb_message(origin, exc)) from exc
    except MemoryError as exc:
        raise ImageError(
            f"Cannot read image {origin!r}: there is not enough memory to decode it. "
            "Downscale it first."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(_decode_failure(origin, exc)) from exc


def _check_pixels(image: Image.Image, origin: str, max_pixels: int) -> None:
    _check_size(*image.size, origin, max_pixels)


def _check_size(width: int, height: int, origin: str, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise ImageError(f"Cannot read image {origin!r}: it is {width}x{height}, with no pixels.")
    if width * height > max_pixels:
        raise ImageError(
            f"Cannot read image {origin!r}: it is {width}x{height} = {width * height:,} pixels, "
            f"over the limit of {max_pixels:,}. Downscale it, or raise max_pixels."
        )


def _bomb_message(origin: str, exc: Exception) -> str:
    from PIL import Image

    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    limit = (Image.MAX_IMAGE_PIXELS or 0) * (
        2 if isinstance(exc, Image.DecompressionBombError) else 1
    )
    return (
        f"Cannot read image {origin!r}: it has {pixels}, over Pillow's decompression-bomb "
        f"limit of {limit:,}. Downscale it first."
    )


def _decode_failure(origin: str, exc: BaseException) -> str:
    text = str(exc)
    if "truncated" in text or isinstance(exc, EOFError):
        return f"Cannot read image {origin!r}: the file is truncated. {_REFETCH}"
    detail = f" ({text.rstrip('.')})" if text else ""
    return f"Cannot read image {origin!r}: the data is corrupt{detail}. {_REFETCH}"


def _normalise(image: Image.Image, animated: bool) -> tuple[Image.Image, bool]:
    """Orientation, transparency, mode: the RGB pixels a viewer would show, and pristine."""
    from PIL import ImageOps

    rotated = _orientation(image) not in (1, None)
    if rotated:
        # Only here: without an orientation tag exif_transpose would copy every pixel.
        image = ImageOps.exif_transpose(image)
    rgb, converted = _to_rgb(image)
    return rgb, not animated and not rotated and not converted


def _upright_size(image: Image.Image) -> tuple[int, int]:
    """The full size as a viewer shows it (read before any draft changes ``image.size``)."""
    width, height = image.size
    return (height, width) if _orientation(image) in _QUARTER_TURNS else (width, height)


def _orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(0x0112)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        # A broken EXIF block should not make a readable image unreadable: keep it as stored.
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _to_rgb(image: Image.Image) -> tuple[Image.Image, bool]:
    """RGB pixels, and whether they differ from a plain ``convert("RGB")`` of the file."""
    from PIL import Image

    if _has_transparency(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), True
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit and float greyscale: convert("RGB") would clip everything above 255 to white.
        return _wide_grey_to_rgb(image), True
    if image.mode == "RGB":
        return image, False
    # L, P (opaque), CMYK, YCbCr, 1: the conversion any server would do itself.
    return image.convert("RGB"), False


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _wide_grey_to_rgb(image: Image.Image) -> Image.Image:
    import numpy as np
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    top = 1.0 if image.mode == "F" and values.max(initial=0.0) <= 1.0 else 65535.0
    if image.mode != "F" and values.max(initial=0) <= 255:
        top = 255.0
    grey = np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")
