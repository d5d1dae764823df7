"""The ``zoom`` tool: crop a 0–1000 box (plus a small margin) into a new image.

The model sees every image through a fixed tile grid, so a small region of a large image gets
few pixels; the crop, sent as its own image, gets the full grid. The crop is not resized:
``crop_px`` says exactly where it sits in its parent, so boxes found in it map back.
"""

from __future__ import annotations

from kanjian.tools.base import DerivedImage, ToolContext, ToolOutput
from kanjian.tools.builtin.boxes import BoxArg, check_box
from kanjian.tools.decorator import tool

__all__ = ["MARGIN", "crop_box", "zoom"]

Box = tuple[int, int, int, int]
# Margin added on each side, as a fraction of the box's size: context for the model without
# losing the zoom.
MARGIN = 0.05


@tool
async def zoom(ctx: ToolContext, image: str, box: BoxArg) -> ToolOutput:
    """Crop a region of an image into a new image, to look closer at small details.

    Args:
        image: Image id, such as image_1.
        box: The region to crop, [x1, y1, x2, y2] in the 0–1000 frame of the image.
    """
    from kanjian.vlm.grounding import norm_to_pixels

    picture = ctx.image(image)
    width, height = picture.size
    box_norm = check_box(box, "zoom")
    box_px = norm_to_pixels(box_norm, width, height)
    crop_px = crop_box(box_px, width, height)
    crop = picture.crop(crop_px)
    origin = f"zoom of {image} {list(box_norm)}"
    derived = DerivedImage(image=crop, origin=origin, parent=image, crop_px=crop_px)
    data = {
        "image": image,
        "box": list(box_norm),
        "box_px": list(box_px),
        "crop_px": list(crop_px),
        "width": crop.width,
        "height": crop.height,
    }
    text = (
        f"Cropped {image} at {list(box_norm)} (pixels {list(crop_px)} with margin) into a "
        f"new {crop.width}x{crop.height} image; it follows. Boxes in it are in its own "
        "0–1000 frame."
    )
    return ToolOutput(text=text, data=data, images=[derived])


def crop_box(box_px: Box, width: int, height: int, margin: float = MARGIN) -> Box:
    """``box_px`` grown by ``margin`` of its size on each side, clamped, at least 1 px."""
    x1, y1, x2, y2 = box_px
    dx = round((x2 - x1) * margin)
    dy = round((y2 - y1) * margin)
    left, top = max(0, x1 - dx), max(0, y1 - dy)
    right, bottom = min(width, x2 + dx), min(height, y2 + dy)
    # A box thinner than a pixel still yields a one-pixel crop rather than an empty one.
    right = max(right, min(width, left + 1))
    bottom = max(bottom, min(height, top + 1))
    return (min(left, right - 1), min(top, bottom - 1), right, bottom)
