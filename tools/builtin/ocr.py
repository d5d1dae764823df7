"""The ``ocr`` tool: RapidOCR over an image or a 0–1000 region of it (see :mod:`kanjian.tools.ocr`)."""

from __future__ import annotations

from typing import Any

from kanjian.tools.base import ToolContext, ToolOutput
from kanjian.tools.builtin.boxes import BoxArg, check_box
from kanjian.tools.decorator import tool

__all__ = ["ocr", "ocr_data", "ocr_text"]


@tool
async def ocr(ctx: ToolContext, image: str, region: BoxArg | None = None) -> ToolOutput:
    """Read the text in an image (Chinese and English), line by line in reading order, with boxes.

    Args:
        image: Image id, such as image_1.
        region: Only read inside this [x1, y1, x2, y2] box (0–1000 frame); omit for the whole image.
    """
    from kanjian.tools.ocr import arun_ocr
    from kanjian.vlm.grounding import norm_to_pixels

    picture = ctx.image(image)
    width, height = picture.size
    region_px = None
    if region is not None:
        region_px = norm_to_pixels(check_box(region, "ocr", "region"), width, height)
        region_px = _at_least_one_pixel(region_px, width, height)
    result = await arun_ocr(picture, region=region_px)
    data = ocr_data(image, result)
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
    """The ``ocr --json`` object (DESIGN.md) for an :class:`tools.ocr.OcrResult`."""
    from kanjian.vlm.grounding import pixels_to_norm

    return {
        "image": image,
        "width": result.width,
        "height": result.height,
        "lines": [
            {
                "text": line.text,
                "confidence": round(float(line.confidence), 4),
                "box": list(line.box),
                "box_norm": list(pixels_to_norm(line.box, result.width, result.height)),
            }
            for line in result.lines
        ],
        "text": result.text,
        "seconds": round(result.seconds, 3),
    }


def ocr_text(data: dict[str, Any], region: list[int] | None = None) -> str:
    """What the model reads: one line per text line, box first (0–1000 frame)."""
    where = f"{data['image']} region {region}" if region else data["image"]
    if not data["lines"]:
        return f"No text found in {where}."
    head = (
        f"{len(data['lines'])} text lines in {where}, in reading order, each as "
        "[x1, y1, x2, y2] (0–1000 frame) then the text:"
    )
    rows = [f"{line['box_norm']} {line['text']}" for line in data["lines"]]
    return "\n".join([head, *rows])
