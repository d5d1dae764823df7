"""The ``ground`` tool: ask the model where something is, with its native grounding prompt.

InternVL 1.5 answers ``<ref>query</ref><box>[[x1, y1, x2, y2]]</box>`` in the 0–1000 frame of
the image it saw; the request carries :func:`vlm.grounding.grounding_regex` so the server
holds it to that shape. The boxes come back normalised and in pixels, drawn and numbered on
an overlay that becomes a new image. When the image is a zoom crop, each box is also mapped
back into the original image (through every level of zoom).
"""

from __future__ import annotations

import time
from typing import Any

from kanjian.tools.base import DerivedImage, ToolContext, ToolOutput
from kanjian.tools.decorator import tool
from kanjian.tools.errors import ToolFailed, ToolInputError

__all__ = ["ground", "ground_boxes", "ground_text"]

Box = tuple[int, int, int, int]
# Enough for a few dozen boxes; the regex stops the model at the last one anyway.
MAX_TOKENS = 512


@tool
async def ground(ctx: ToolContext, image: str, query: str) -> ToolOutput:
    """Find where something is in an image: boxes for what the query describes, drawn on a new image.

    Args:
        image: Image id, such as image_1.
        query: A short phrase naming what to find, e.g. "the red car" or "价格".
    """
    from kanjian.vlm.grounding import parse_grounding

    query = query.strip()
    if not query:
        raise ToolInputError("Argument 'query' of tool 'ground' is empty; name what to find.")
    started = time.perf_counter()
    answer = await _ask_model(ctx, image, query)
    found = [(b.label or query, b.box_norm) for b in parse_grounding(answer, default_label=query)]
    boxes = ground_boxes(ctx, image, found)
    data: dict[str, Any] = {
        "image": image,
        "query": query,
        "boxes": boxes,
        # The overlay gets an id (or a path) only when someone registers or saves it.
        "overlay": None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    images = [_overlay(ctx, image, query, boxes)] if boxes else []
    return ToolOutput(text=ground_text(data), data=data, images=images)


async def _ask_model(ctx: ToolContext, image: str, query: str) -> str:
    from kanjian.vlm.grounding import grounding_prompt, grounding_regex
    from kanjian.vlm.types import ChatRequest, SamplingParams, image_part, text_part

    if ctx.backend is None:
        raise ToolFailed(
            "Tool 'ground' needs the model, and none is connected; start one with "
            "'kanjian serve-model' or set KANJIAN_URL."
        )
    content = [image_part(ctx.wire_url(image)), text_part(grounding_prompt(query))]
    request = ChatRequest(
        messages=[{"role": "user", "content": content}],
        params=SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS),
        regex=grounding_regex(query),
    )
    result = await ctx.backend.complete(request)
    return result.text


def ground_boxes(
    ctx: ToolContext, image: str, found: list[tuple[str, Box]]
) -> list[dict[str, Any]]:
    """Each (label, 0–1000 box) with its pixel box, and where it lies in the original image."""
    from kanjian.vlm.grounding import norm_to_pixels

    width, height = ctx.image(image).size
    boxes = []
    for label, box_norm in found:
        box_px = norm_to_pixels(box_norm, width, height)
        entry: dict[str, Any] = {"label": label, "box": list(box_px), "box_norm": list(box_norm)}
        original = _in_original(ctx, image, box_px)
        if original is not None:
            entry["original"] = original
        boxes.append(entry)
    return boxes


def _in_original(ctx: ToolContext, image: str, box_px: Box) -> dict[str, Any] | None:
    """Follow crop_of up to the image the crops were cut from; None if ``image`` is not a crop."""
    from kanjian.vlm.grounding import map_from_crop, pixels_to_norm

    current, box, seen = image, box_px, {image}
    while (crop := ctx.crop_of(current)) is not None:
        parent, crop_px = crop
        box = map_from_crop(box, crop_px, ctx.image(current).size)
        current = parent
        if current in seen:  # a registry that loops would otherwise hang the tool
            break
        seen.add(current)
    if current == image:
        return None
    width, height = ctx.image(current).size
    return {
        "image": current,
        "box": list(box),
        "box_norm": list(pixels_to_norm(box, width, height)),
    }


def _overlay(ctx: ToolContext, image: str, query: str, boxes: list[dict[str, Any]]) -> DerivedImage:
    from kanjian.tools.builtin.overlay import draw_boxes

    picture = ctx.image(image)
    drawn = draw_boxes(picture, [(b["label"], tuple(b["box"])) for b in boxes])
    # Same size as the image it was drawn on: a box in the overlay is the same box there.
    full = (0, 0, picture.width, picture.height)
    return DerivedImage(
        image=drawn, origin=f"boxes for {query!r} on {image}", parent=image, crop_px=full
    )


def ground_text(data: dict[str, Any]) -> str:
    """What the model reads: each box numbered as on the overlay."""
    image, query, boxes = data["image"], data["query"], data["boxes"]
    if not boxes:
        return f"No box found for {query!r} in {image}."
    rows = [f"{len(boxes)} box(es) for {query!r} in {image} (0–1000 frame):"]
    for n, box in enumerate(boxes, start=1):
        row = f"{n}. {box['label']} {box['box_norm']}"
        if "original" in box:
            row += f" = {box['original']['image']} {box['original']['box_norm']}"
        rows.append(row)
    rows.append("A new image with the boxes drawn and numbered follows.")
    return "\n".join(rows)
