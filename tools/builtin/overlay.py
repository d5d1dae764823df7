"""Numbered boxes and a legend drawn over an image, for ``ground`` and ``--draw``.

The overlay keeps the size of the image it was drawn on (the legend sits inside it, in a
corner), so a box in the overlay's 0–1000 frame is the same box in the original.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont, ImageFont

__all__ = ["draw_boxes"]

Box = tuple[int, int, int, int]
# Distinct on light and dark photos; cycled when there are more boxes.
COLOURS = ("#ff3b30", "#34c759", "#007aff", "#ff9500", "#af52de", "#00c7be", "#ffcc00")
# Fonts that can write Chinese labels; the first one found is used.
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


def draw_boxes(image: Image, boxes: Sequence[tuple[str, Box]]) -> Image:
    """A copy of ``image`` with each (label, pixel box) drawn and numbered from 1."""
    from PIL import ImageDraw

    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    font = _font(max(12, min(width, height) // 40))
    line = max(2, min(width, height) // 250)
    for number, (_, box) in enumerate(boxes, start=1):
        colour = COLOURS[(number - 1) % len(COLOURS)]
        draw.rectangle(box, outline=colour, width=line)
        _tag(draw, box, str(number), colour, font)
    if boxes:
        _legend(draw, [f"{n} {label}" for n, (label, _) in enumerate(boxes, start=1)], font)
    return canvas


def _tag(draw: ImageDraw.ImageDraw, box: Box, text: str, colour: str, font: Font) -> None:
    x1, y1, _, _ = box
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = 2
    tag_h = bottom - top + 2 * pad
    # Above the box when there is room, else just inside its top edge.
    y = y1 - tag_h if y1 >= tag_h else y1
    draw.rectangle((x1, y, x1 + right - left + 2 * pad, y + tag_h), fill=colour)
    draw.text((x1 + pad - left, y + pad - top), text, fill="white", font=font)


def _legend(draw: ImageDraw.ImageDraw, lines: list[str], font: Font) -> None:
    pad = 4
    sizes = [draw.textbbox((0, 0), text, font=font) for text in lines]
    line_h = max(b[3] - b[1] for b in sizes) + pad
    legend_w = max(b[2] - b[0] for b in sizes) + 2 * pad
    width, height = draw.im.size
    x, y = pad, height - pad - line_h * len(lines) - pad
    draw.rectangle((x, max(0, y), min(width, x + legend_w), height - pad), fill="#000000")
    for i, text in enumerate(lines):
        colour = COLOURS[i % len(COLOURS)]
        draw.text((x + pad, y + pad + i * line_h - sizes[i][1]), text, fill=colour, font=font)


if TYPE_CHECKING:
    from PIL import ImageDraw

    Font = FreeTypeFont | ImageFont
else:
    Font = object


@functools.cache
def _font(size: int) -> Font:
    from PIL import ImageFont

    for path in _CJK_FONTS:
        if Path(path).exists():
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    return ImageFont.load_default(size=size)
