"""The ``ocr`` tool: RapidOCR over an image or a 0–1000 region of it (see :mod:`kanjian.tools.ocr`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kanjian.tools.base import ToolContext, ToolOutput
from kanjian.tools.builtin.boxes import BoxArg, check_box
from kanjian.tools.decorator import tool

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["ocr", "ocr_data", "ocr_text", "read"]


@tool
async def ocr(ctx: ToolContext, image: str, region: BoxArg | None = None) -> ToolOutput:
    """Read the text in an image (Chinese and English), line by line in reading order, with boxes.

    Args:
        image: Image id, such as image_1.
        region: Only read inside this [x1, y1, x2, y2] box (0–1000 frame); omit for the whole image.
    """
    return await read(image, ctx.image(image), region)


async def read(image_id: str, picture: Image, region: BoxArg | None = None) -> ToolOutput:
    """The tool's work on a picture already loaded (``kanjian ocr`` calls it directly)."""
    from kanjian.tools.ocr import arun_ocr
    from kanjian.vlm.grounding import norm_to_pixels

    width, height = picture.size
    region_px = None
    if region is not None:
        region_px = norm_to_pixels(check_box(region, "ocr", "region"), width, height)
        region_px = _at_least_one_pixel(region_px, width, height)
    result = await arun_ocr(picture, region=region_px)
    data = ocr_data(image_id, result)
    return ToolOutput(text=ocr_text(data, region), data=data)


def _at_least_one_pixel(
    box: tuple[int, int, int, int], width: int, height: int
) -> tuple[int, int, int, int]:
    # A thin 0–1000 box can round to zero pixels on a small image; widen it to one pixel.
    x1, y1, x2, y2 = box
    x2 = max(x2, min(width, x1 + 1))
    y2 = max(y2, min(height, y1 + 1))
    return (min(x1, x2 - 1), min(y1, y2 - 1), x2, y2)


def ocr_data(image: str, result: Any) -> dict[str, Any]:
    """The ``ocr --json`` object (DESIGN.md) for an :class:`kanjian.tools.ocr.OcrResult`.

    ``lines`` are in reading order, each with its pixel and 0–1000 box; ``blocks`` group them
    (``kind`` paragraph, row or table; ``lines`` as indices into ``lines``, row by row).
    """
    from kanjian.vlm.grounding import pixels_to_norm

    lines = [
        {
            "text": line.text,
            "confidence": round(float(line.confidence), 4),
            "box": list(line.box),
            "box_norm": list(pixels_to_norm(line.box, result.width, result.height)),
        }
        for line in result.lines
    ]
    blocks = []
    for block in result.blocks:
        members = [i for row in block.rows for i in row]
        box = _union([lines[i]["box"] for i in members])
        blocks.append(
            {
                "kind": block.kind,
                "text": block.text,
                "lines": [list(row) for row in block.rows],
                "box": list(box),
                "box_norm": list(pixels_to_norm(box, result.width, result.height)),
            }
        )
    return {
        "image": image,
        "width": result.width,
        "height": result.height,
        "lines": lines,
        "blocks": blocks,
        "text": result.text,
        "seconds": round(result.seconds, 3),
    }


def _union(boxes: list[list[int]]) -> tuple[int, int, int, int]:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def ocr_text(data: dict[str, Any], region: list[int] | None = None) -> str:
    """What the model reads: the page in reading order, one row per line, its box first.

    Columns come one after another; a row keeps its pieces together (item and price, label
    and value); table cells are joined by `` | ``; blocks are separated by a blank line.
    """
    from kanjian.vlm.grounding import pixels_to_norm

    where = f"{data['image']} region {region}" if region else data["image"]
    if not data["lines"]:
        return f"No text found in {where}."
    head = (
        f"{len(data['lines'])} text lines in {where}, in reading order (columns one after "
        "another, table cells joined by ' | '), each row as [x1, y1, x2, y2] (0–1000 frame) "
        "then its text:"
    )
    parts = []
    joiners = {"table": " | "}
    single: list[dict[str, Any]] = [
        {"kind": "paragraph", "lines": [[i] for i in range(len(data["lines"]))]}
    ]
    for block in data.get("blocks") or single:
        rows = []
        for row in block["lines"]:
            members = [data["lines"][i] for i in row]
            box = _union([m["box"] for m in members])
            norm = list(pixels_to_norm(box, data["width"], data["height"]))
            text = joiners.get(block["kind"], " ").join(m["text"] for m in members)
            rows.append(f"{norm} {text}")
        parts.append("\n".join(rows))
    return head + "\n" + "\n\n".join(parts)
