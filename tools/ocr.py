"""The OCR engine: RapidOCR (PP-OCR onnx models) over a whole image or a region.

One engine per process, built on first use (or by :func:`warm_up`) from the models that
ship inside the ``rapidocr`` wheel: their paths are passed explicitly, so RapidOCR never
reaches for its download code and a missing model is a clear error, not a network call.

Lines come back in reading order: the page's skew is estimated from the detected boxes,
lines are grouped into rows by vertical overlap in the de-skewed frame, rows run top to
bottom and each row left to right. Text is normalised the way people write it: spaces kept
between Latin words, spurious spaces between CJK characters removed.

Errors: a region outside the image is :class:`~tools.errors.ToolInputError`; anything the
engine raises is translated to :class:`~tools.errors.ToolFailed`.
"""

from __future__ import annotations

import math
import re
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.tools.errors import ToolFailed, ToolInputError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["OcrLine", "OcrResult", "arun_ocr", "normalise_text", "run_ocr", "warm_up"]

Box = tuple[int, int, int, int]
Quad = list[tuple[float, float]]

# The models the rapidocr 3.x wheel ships (config.yaml defaults: PP-OCRv6 small det/rec, the
# v2.0 mobile direction classifier).
_MODEL_FILES = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
# Two lines are in the same row when their vertical overlap (after de-skewing) covers at least
# this fraction of the shorter one.
_ROW_OVERLAP = 0.5
# RapidOCR's longest side after its own resize, and the shortest side it accepts then
# (with margin over its 32 px minimum).
_MAX_SIDE = 2000
_MIN_SCALED_SIDE = 48
# Skew beyond this is not "slight": reading order falls back to plain box geometry.
_MAX_SKEW = math.radians(10)


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    confidence: float
    # (x1, y1, x2, y2) in pixels of the full image, even when a region was read.
    box: Box


@dataclass(frozen=True, slots=True)
class OcrResult:
    lines: list[OcrLine]
    # All lines in reading order, one per line.
    text: str
    width: int
    height: int
    seconds: float


_engine: Any = None
_engine_lock = threading.Lock()
# RapidOCR keeps per-call settings on the engine object, so concurrent calls are serialised.
_run_lock = threading.Lock()


def warm_up() -> None:
    """Load the engine and run it once, so the first real call pays no start-up cost."""
    from PIL import Image

    run_ocr(Image.new("RGB", (64, 32), "white"))


async def arun_ocr(image: Image, *, region: Box | None = None) -> OcrResult:
    """:func:`run_ocr` in a worker thread, for the agent's event loop."""
    import asyncio

    return await asyncio.to_thread(run_ocr, image, region=region)


def run_ocr(image: Image, *, region: Box | None = None) -> OcrResult:
    """Read the text of ``image`` (or of ``region``, (x1, y1, x2, y2) in pixels)."""
    started = time.perf_counter()
    width, height = image.size
    if width < 1 or height < 1:
        raise ToolInputError(f"The image is {width}x{height} pixels; OCR needs a non-empty image.")
    offset = (0, 0)
    if region is not None:
        region = _check_region(region, width, height)
        image = image.crop(region)
        offset = (region[0], region[1])
    raw = _recognise(image)
    lines = _to_lines(raw, offset, width, height)
    return OcrResult(
        lines=lines,
        text="\n".join(line.text for line in lines),
        width=width,
        height=height,
        seconds=time.perf_counter() - started,
    )


def _check_region(region: Box, width: int, height: int) -> Box:
    if len(region) != 4:
        raise ToolInputError(
            f"Region {tuple(region)!r} must have four numbers (x1, y1, x2, y2) in pixels."
        )
    x1, y1, x2, y2 = (round(v) for v in region)
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ToolInputError(
            f"Region {tuple(region)!r} is not inside the {width}x{height} image; "
            f"give (x1, y1, x2, y2) with 0 <= x1 < x2 <= {width} and 0 <= y1 < y2 <= {height}."
        )
    return (x1, y1, x2, y2)


def _get_engine() -> Any:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _build_engine()
    return _engine


def _build_engine() -> Any:
    try:
        import rapidocr
        from rapidocr import RapidOCR
    except ImportError as exc:
        raise ToolFailed(
            f"OCR needs the 'rapidocr' package, which failed to import ({exc}); "
            "install it with `pip install 'rapidocr>=3,<4' onnxruntime`."
        ) from exc
    model_dir = Path(rapidocr.__file__).parent / "models"
    params: dict[str, Any] = {
        "Global.log_level": "error",
        # RapidOCR's default scales the detector input so its SHORT side is 736 px: a 640x84
        # line becomes 5600x736, which is slow and splits lines into overlapping fragments.
        # Capping the LONG side instead keeps text near its drawn size (on the bench: CER
        # 0.32% -> 0%, 2.4x faster). Bigger images are already shrunk to 2000 px by RapidOCR.
        "Det.limit_type": "max",
        "Det.limit_side_len": _MAX_SIDE,
        # Its letterbox for wide images (pad a 1900x40 strip to 1900x474) makes the detector
        # miss text near the strip's ends; thin strips are padded by _pad_thin instead.
        "Global.use_vertical_padding": False,
    }
    for key, name in _MODEL_FILES.items():
        path = model_dir / name
        if not path.is_file():
            raise ToolFailed(
                f"OCR model {str(path)!r} is missing from the rapidocr wheel; "
                "reinstall it with `pip install --force-reinstall 'rapidocr>=3,<4'`."
            )
        params[key] = str(path)
    try:
        return RapidOCR(params=params)
    except Exception as exc:
        raise ToolFailed(f"The OCR engine failed to start: {exc}.") from exc


def _recognise(image: Image) -> list[tuple[Quad, str, float]]:
    """Run the engine; (quad, text, score) per detected line, quads in ``image``'s pixels."""
    import numpy as np

    # RapidOCR takes numpy arrays as BGR; transparent pixels are read as on white paper.
    rgb = _pad_thin(_flatten(image))
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    engine = _get_engine()
    try:
        with _run_lock:
            out = engine(bgr)
    except Exception as exc:
        raise ToolFailed(
            f"The OCR engine failed on a {image.width}x{image.height} image: {exc}."
        ) from exc
    if out.boxes is None or out.txts is None or out.scores is None:
        return []
    return [
        ([(float(x), float(y)) for x, y in quad], str(text), float(score))
        for quad, text, score in zip(out.boxes, out.txts, out.scores, strict=True)
    ]


def _flatten(image: Image) -> Image:
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _pad_thin(image: Image) -> Image:
    """Pad very thin strips (bottom/right, in the edge colour) so RapidOCR can scale them.

    RapidOCR shrinks images to 2000 px on the long side; a 3000x20 strip would become 13 px
    high, below its 32 px minimum, and fail. Padding keeps the text at its size and the
    boxes where they are (the padding lies beyond the original image).
    """
    from PIL import Image as PILImage

    width, height = image.size
    if max(width, height) <= _MAX_SIDE:
        return image  # not shrunk; RapidOCR enlarges short sides itself
    needed = math.ceil(_MIN_SCALED_SIDE * max(width, height) / _MAX_SIDE)
    if min(width, height) >= needed:
        return image
    size = (max(width, needed), max(height, needed))
    corner = image.getpixel((width - 1, height - 1))
    padded = PILImage.new("RGB", size, corner)
    padded.paste(image, (0, 0))
    return padded


def _to_lines(
    raw: list[tuple[Quad, str, float]], offset: tuple[int, int], width: int, height: int
) -> list[OcrLine]:
    kept = [(quad, normalise_text(text), score) for quad, text, score in raw]
    kept = [item for item in kept if item[1]]
    ordered = _reading_order(kept)
    return [
        OcrLine(text=text, confidence=round(score, 4), box=_pixel_box(quad, offset, width, height))
        for quad, text, score in ordered
    ]


def _pixel_box(quad: Quad, offset: tuple[int, int], width: int, height: int) -> Box:
    xs = [x + offset[0] for x, _ in quad]
    ys = [y + offset[1] for _, y in quad]
    x1 = min(max(math.floor(min(xs)), 0), width)
    y1 = min(max(math.floor(min(ys)), 0), height)
    x2 = min(max(math.ceil(max(xs)), 0), width)
    y2 = min(max(math.ceil(max(ys)), 0), height)
    return (x1, y1, x2, y2)


# ---------------------------------------------------------------------------- reading order


def _reading_order(
    items: list[tuple[Quad, str, float]],
) -> list[tuple[Quad, str, float]]:
    """Rows top to bottom (by vertical overlap in the de-skewed frame), each left to right."""
    if len(items) < 2:
        return items
    angle = _skew([quad for quad, _, _ in items])
    spans = [_deskewed_span(quad, angle) for quad, _, _ in items]
    order = sorted(range(len(items)), key=lambda i: (spans[i][1] + spans[i][2]) / 2)
    rows: list[list[int]] = []
    for i in order:
        row = _find_row(rows, spans, i)
        if row is None:
            rows.append([i])
        else:
            row.append(i)
    rows.sort(key=lambda row: statistics.median((spans[i][1] + spans[i][2]) / 2 for i in row))
    return [items[i] for row in rows for i in sorted(row, key=lambda i: spans[i][0])]


def _find_row(
    rows: list[list[int]], spans: list[tuple[float, float, float]], i: int
) -> list[int] | None:
    _, top, bottom = spans[i]
    best: list[int] | None = None
    best_overlap = 0.0
    for row in rows:
        row_top = statistics.median(spans[j][1] for j in row)
        row_bottom = statistics.median(spans[j][2] for j in row)
        overlap = min(bottom, row_bottom) - max(top, row_top)
        shorter = min(bottom - top, row_bottom - row_top)
        if shorter > 0 and overlap / shorter >= _ROW_OVERLAP and overlap > best_overlap:
            best, best_overlap = row, overlap
    return best


def _skew(quads: list[Quad]) -> float:
    """The page's skew in radians: the length-weighted median angle of the lines' top edges."""
    angles: list[tuple[float, float]] = []
    for quad in quads:
        (x0, y0), (x1, y1) = quad[0], quad[1]
        length = math.hypot(x1 - x0, y1 - y0)
        if length > 0:
            angles.append((math.atan2(y1 - y0, x1 - x0), length))
    if not angles:
        return 0.0
    angles.sort()
    half = sum(weight for _, weight in angles) / 2
    running = 0.0
    for angle, weight in angles:
        running += weight
        if running >= half:
            return angle if abs(angle) <= _MAX_SKEW else 0.0
    return 0.0


def _deskewed_span(quad: Quad, angle: float) -> tuple[float, float, float]:
    """(left x, top y, bottom y) of ``quad`` after rotating the page by ``-angle``."""
    cos, sin = math.cos(angle), math.sin(angle)
    xs = [x * cos + y * sin for x, y in quad]
    ys = [-x * sin + y * cos for x, y in quad]
    return (min(xs), min(ys), max(ys))


# ---------------------------------------------------------------------------- text


_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31c0-\u31ef"
    r"\u3200-\u32ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])[ \t\u3000]+(?=[{_CJK}])")
_SPACES = re.compile(r"[ \t\u3000]+")


def normalise_text(text: str) -> str:
    """One line as people write it: single spaces, none between two CJK characters."""
    text = _SPACES.sub(" ", text.strip())
    return _SPACE_BETWEEN_CJK.sub("", text)
