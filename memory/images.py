"""Content-addressed image files: each image stored once, by sha256, with a thumbnail.

Layout under the memory dir: ``images/<sha[:2]>/<sha>.<ext>`` and
``images/<sha[:2]>/<sha>.thumb.jpg``. Files are written atomically (a temp file in the same
folder, fsync, ``os.replace``), so a crash leaves either the whole file or none of it;
the same bytes always land on the same path, so a second write is a no-op.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kanjian.memory.errors import MemoryInputError, StorageError

if TYPE_CHECKING:  # PIL is imported lazily
    from PIL.Image import Image as PILImage

__all__ = ["THUMB_SIZE", "ImageFiles", "ImageInfo", "atomic_write"]

THUMB_SIZE = (256, 256)
_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    sha256: str
    ext: str
    width: int
    height: int
    size: int


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers, and a process killed mid-write, see all of
    it or nothing. ``durable`` also fsyncs it, so a power loss cannot lose it either: memory
    asks for that; the agent's session files and image copies, rewritten every turn of a
    batch, do not (an fsync costs more than the rest of the write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ImageFiles:
    """The image folder: put bytes, find paths, delete files no turn uses any more."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str, ext: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{ext}"

    def thumbnail(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.thumb.jpg"

    def put(self, data: bytes, ext: str | None = None) -> ImageInfo:
        """Store ``data`` (once) with its thumbnail; returns what was learned decoding it."""
        sha = hashlib.sha256(data).hexdigest()
        image = _decode(data)
        fmt = ext.lower().lstrip(".") if ext else _FORMATS.get(image.format or "", "png")
        path = self.path(sha, fmt)
        try:
            if not path.exists():
                atomic_write(path, data)
            if not self.thumbnail(sha).exists():
                atomic_write(self.thumbnail(sha), _thumbnail(image))
        except OSError as exc:
            raise StorageError(
                f"Cannot write image {sha[:12]!r} under '{self.root}': {exc}; check that the "
                "memory dir is writable and the disk is not full."
            ) from exc
        return ImageInfo(sha, fmt, image.width, image.height, len(data))

    def delete(self, sha256: str, ext: str) -> None:
        self.path(sha256, ext).unlink(missing_ok=True)
        self.thumbnail(sha256).unlink(missing_ok=True)


def _decode(data: bytes) -> PILImage:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MemoryInputError(
            f"Cannot store image of {len(data)} bytes: it is not a readable image ({exc}); "
            "pass PNG, JPEG or WebP bytes."
        ) from exc
    return image


def _thumbnail(image: PILImage) -> bytes:
    thumb = image.convert("RGB")
    thumb.thumbnail(THUMB_SIZE)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=80)
    return out.getvalue()
