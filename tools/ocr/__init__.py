"""OCR over a whole image or a region: lines with boxes, and blocks in a person's reading order.

:func:`run_ocr` detects and recognises the text lines (:mod:`.engine`), normalises their text
(:mod:`.text`) and lays them out (:mod:`.layout`): columns read one after another, top to
bottom; a receipt's item and price, a form's label and value kept on one row; table rows
with their cells joined by `` | ``; vertical Chinese right to left; tilted pages de-skewed.
``OcrResult.lines`` are in that reading order, ``blocks`` group them, and ``text`` is what a
person would type: one row per line.

Errors: a region outside the image is :class:`~kanjian.tools.errors.ToolInputError`; anything
the engine raises is :class:`~kanjian.tools.errors.ToolFailed`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kanjian.tools.errors import ToolInputError
from kanjian.tools.ocr.text import normalise_text

if TYPE_CHECKING:
    from PIL.Image import Image

    from kanjian.tools.ocr.engine import Quad

__all__ = [
    "OcrBlock",
    "OcrLine",
    "OcrResult",
    "arun_ocr",
    "normalise_text",
    "run_ocr",
    "warm_up",
]

Box = tuple[int, int, int, int]
# How the pieces of one row are joined in the text, per block kind.
_JOINERS = {"paragraph": " ", "row": " ", "table": " | "}


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    confidence: float
    # (x1, y1, x2, y2) in pixels of the full image, even when a region was read.
    box: Box


@dataclass(frozen=True, slots=True)
class OcrBlock:
    kind: str  # "paragraph", "row" or "table"
    # Indices into OcrResult.lines, row by row, each row left to right.
    rows: tuple[tuple[int, ...], ...]
    # One row per line; a table's cells joined by " | ", a row's pieces by a space.
    text: str


@dataclass(frozen=True, slots=True)
class OcrResult:
    lines: list[OcrLine]
    blocks: list[OcrBlock]
    # The blocks' text in reading order, one row per line.
    text: str
    width: int
    height: int
    seconds: float


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
    from kanjian.tools.ocr.engine import recognise

    started = time.perf_counter()
    width, height = image.size
    if width < 1 or height < 1:
        raise ToolInputError(f"The image is {width}x{height} pixels; OCR needs a non-empty image.")
    offset = (0, 0)
    if region is not None:
        region = _check_region(region, width, height)
        image = image.crop(region)
        offset = (region[0], region[1])
    lines, blocks = _arrange(recognise(image), offset, width, height)
    return OcrResult(
        lines=lines,
        blocks=blocks,
        text="\n".join(block.text for block in blocks),
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


def _arrange(
    raw: list[tuple[Quad, str, float]], offset: tuple[int, int], width: int, height: int
) -> tuple[list[OcrLine], list[OcrBlock]]:
    """Lines in reading order and the blocks over them."""
    from kanjian.tools.ocr.layout import layout

    kept = [(quad, normalise_text(text), score) for quad, text, score in raw]
    kept = [item for item in kept if item[1]]
    found = layout([quad for quad, _, _ in kept], [text for _, text, _ in kept])
    lines: list[OcrLine] = []
    blocks: list[OcrBlock] = []
    for block in found:
        rows: list[tuple[int, ...]] = []
        for row in block.rows:
            rows.append(tuple(range(len(lines), len(lines) + len(row))))
            for i in row:
                quad, text, score = kept[i]
                box = _pixel_box(quad, offset, width, height)
                lines.append(OcrLine(text=text, confidence=round(score, 4), box=box))
        joiner = _JOINERS[block.kind]
        text = "\n".join(joiner.join(lines[i].text for i in row) for row in rows)
        blocks.append(OcrBlock(kind=block.kind, rows=tuple(rows), text=text))
    return lines, blocks


def _pixel_box(quad: Quad, offset: tuple[int, int], width: int, height: int) -> Box:
    xs = [x + offset[0] for x, _ in quad]
    ys = [y + offset[1] for _, y in quad]
    x1 = min(max(math.floor(min(xs)), 0), width)
    y1 = min(max(math.floor(min(ys)), 0), height)
    x2 = min(max(math.ceil(max(xs)), 0), width)
    y2 = min(max(math.ceil(max(ys)), 0), height)
    return (x1, y1, x2, y2)
