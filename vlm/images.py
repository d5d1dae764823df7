"""Load an image the way a person expects to see it, or say in one sentence why not.

:func:`load_image` takes a path, ``"-"`` (stdin), bytes or a binary stream, and returns a
:class:`LoadedImage`: the pixels as an RGB PIL image (EXIF orientation applied, transparency
flattened on white, first frame of an animation), plus the original bytes and their sha256,
which is the image's identity everywhere else (wire bytes, memory store, prefix caching).

Everything that can go wrong with a file (missing, a directory, empty, not an image, corrupt,
truncated, too many pixels) raises :class:`vlm.errors.ImageError` naming the file. The pixels
are decoded here, in full, so a truncated file fails now and not deep inside a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vlm.errors import ImageError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["FORMATS", "LoadedImage", "aload_image", "load_image"]

# What Pillow may open. (Multi-picture JPEGs from phones open through JPEG, as format "MPO".)
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"
_REFETCH = "Re-export or re-download it."


@dataclass(frozen=True, slots=True, eq=False)
class LoadedImage:
    """An image ready to use, and the bytes it came from."""

    image: Image.Image
    origin: str
    sha256: str
    format: str
    data: bytes
    width: int
    height: int
    # True when the pixels are the file's own, untouched: no EXIF rotation, no transparency
    # flattened, no mode conversion, a single frame. Only then may the original bytes stand
    # for the pixels (see vlm.wire).
    pristine: bool = False


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
    image, fmt, pristine = _decode(data, origin, max_pixels)
    return LoadedImage(
        image=image,
        origin=origin,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        data=data,
        width=image.width,
        height=image.height,
        pristine=pristine,
    )


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


def _decode(data: bytes, origin: str, max_pixels: int) -> tuple[Image.Image, str, bool]:
    from PIL import Image, UnidentifiedImageError

    try:
        # kanjian enforces its own pixel limit below; Pillow's warning would only duplicate it
        # (and Pillow's hard DecompressionBombError, at twice its own limit, is translated).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            _check_pixels(image, origin, max_pixels)
            # Asked before load(): finding a second frame seeks, which would undo the decode.
            animated = bool(getattr(image, "is_animated", False))
            image.load()
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
    return _normalise(image, image.format or "UNKNOWN", animated)


def _check_pixels(image: Image.Image, origin: str, max_pixels: int) -> None:
    width, height = image.size
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


def _normalise(image: Image.Image, fmt: str, animated: bool) -> tuple[Image.Image, str, bool]:
    """Orientation, transparency, mode: the RGB pixels a viewer would show."""
    from PIL import ImageOps

    rotated = _orientation(image) not in (1, None)
    if rotated:
        # Only here: without an orientation tag exif_transpose would copy every pixel.
        image = ImageOps.exif_transpose(image)
    rgb, converted = _to_rgb(image)
    return rgb, fmt, not animated and not rotated and not converted


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
