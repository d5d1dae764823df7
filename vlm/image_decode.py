"""Decode an image's bytes into upright RGB pixels, or say in one sentence why not.

The checks and conversions behind :func:`kanjian.vlm.images.load_image`: Pillow opened on the
formats kanjian reads, the pixel limit, a JPEG decoded at the coarsest DCT scale the wire copy
needs, a PNG that goes out as its own bytes checked by its chunk CRCs instead of decoded, EXIF
orientation, transparency flattened on white, 16-bit grey kept in range; every failure from
Pillow or a decoder translated into an :class:`~kanjian.vlm.errors.ImageError` naming the file.
"""

from __future__ import annotations

import io
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kanjian.vlm.errors import ImageError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DRAFTABLE",
    "FORMATS",
    "REFETCH",
    "Decoded",
    "check_size",
    "decode",
    "draft_scale",
    "wire_scale",
]

# What Pillow may open. (Multi-picture JPEGs from phones open through JPEG, as format "MPO".)
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"
REFETCH = "Re-export or re-download it."
# Formats whose decoder can scale down while decoding (libjpeg's DCT scaling).
DRAFTABLE = ("JPEG", "MPO")
# EXIF orientations that turn the image a quarter: the stored width is the shown height.
_QUARTER_TURNS = (5, 6, 7, 8)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks after which a PNG's pixels are not the file's own (transparency, an animation) or
# may be turned (EXIF): such a file is decoded, as every other format is.
_PNG_DECODE_FOR = frozenset({b"tRNS", b"acTL", b"eXIf"})
# Text chunks whose keyword makes Pillow read them as EXIF.
_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_PNG_EXIF_KEYWORD = b"Raw profile type exif\x00"


def draft_scale(width: int, height: int, min_width: int, min_height: int) -> int:
    """The coarsest JPEG decode scale (8, 4, 2 or 1) that keeps both sides at least the minimum.

    At scale ``s`` libjpeg gives ``ceil(width / s) x ceil(height / s)`` pixels; ``width >=
    s * min_width`` guarantees that is enough, and is the same test Pillow's ``draft`` makes.
    """
    for scale in (8, 4, 2):
        if width >= scale * max(1, min_width) and height >= scale * max(1, min_height):
            return scale
    return 1


@dataclass(frozen=True, slots=True)
class Decoded:
    image: Image.Image | None  # upright RGB; None: checked, not decoded (see _png_as_is)
    format: str
    scale: int  # 1 = full resolution
    stored: tuple[int, int]  # full size as stored
    upright: tuple[int, int]  # full size as shown
    pristine: bool


def wire_scale(image: Image.Image) -> int:
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


def decode(
    data: bytes,
    origin: str,
    max_pixels: int | None,
    scale_of: Callable[[Image.Image], int],
    *,
    lazy_png: bool = False,
) -> Decoded:
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
        if fmt in DRAFTABLE:
            # A JPEG's EXIF is in its header; other formats' getexif() may decode (and a
            # failure there must surface from load() below, not vanish).
            upright = _upright_size(image)
            scale = _draft(image, scale_of(image))
        elif lazy_png and fmt == "PNG" and not animated and _png_as_is(image, data, origin):
            return Decoded(None, fmt, 1, stored, stored, True)
        image.load()
        rgb, pristine = _normalise(image, animated)
    return Decoded(rgb, fmt, scale, stored, upright or rgb.size, pristine)


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
    check_size(*image.size, origin, max_pixels)


def check_size(width: int, height: int, origin: str, max_pixels: int) -> None:
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
        return f"Cannot read image {origin!r}: the file is truncated. {REFETCH}"
    detail = f" ({text.rstrip('.')})" if text else ""
    return f"Cannot read image {origin!r}: the data is corrupt{detail}. {REFETCH}"


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
