"""The answer's ``evidence``: the model's citations checked against the conversation's images.

The model cites ``{"image": "image_N", "box": [...]}`` in the 0–1000 frame of the image it
saw, which may be a zoom crop or an overlay. People and scripts want the region in the image
they gave: each citation is walked up its crop chain to the original (the root of
``parent`` links) and reported there, with the box in that image's pixels
(:attr:`Evidence.box_px`) and its 0–1000 frame (:attr:`Evidence.box`).

A citation of an image that does not exist is dropped with a note (a sentence the CLI shows
on stderr); it never fails the answer, which stands on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kanjian.agent.events import Evidence

if TYPE_CHECKING:
    from kanjian.agent.images import ImageEntry, ImageRegistry
    from kanjian.vlm.action import Citation

__all__ = ["resolve_evidence"]

Box = tuple[float, float, float, float]


def resolve_evidence(
    cited: Iterable[Citation], registry: ImageRegistry
) -> tuple[tuple[Evidence, ...], list[str]]:
    """The citations as :class:`Evidence` on original images, and notes on what was dropped."""
    found: list[Evidence] = []
    notes: list[str] = []
    for citation in cited:
        if citation.image not in registry:
            known = ", ".join(registry.image_ids()) or "none"
            notes.append(
                f"The answer cited {citation.image!r}, which is not an image of this "
                f"conversation (images: {known}); that citation was dropped."
            )
            continue
        evidence = _on_original(citation, registry)
        if evidence not in found:
            found.append(evidence)
    return tuple(found), notes


def _on_original(citation: Citation, registry: ImageRegistry) -> Evidence:
    image = citation.image
    entry = registry.entry(image)
    box: Box | None = None
    if citation.box is not None:
        x1, y1, x2, y2 = citation.box
        box = (x1 * entry.width / 1000, y1 * entry.height / 1000,
               x2 * entry.width / 1000, y2 * entry.height / 1000)  # fmt: skip
    while entry.parent is not None and entry.parent in registry:
        parent = registry.entry(entry.parent)
        if box is not None:
            box = _into_parent(box, entry.width, entry.height, entry.crop_px, parent)
        image, entry = parent.id, parent
    if box is None:
        return Evidence(image=image, step=citation.step)
    px = _clamped(box, entry.width, entry.height)
    norm = (
        round(px[0] * 1000 / max(entry.width, 1)), round(px[1] * 1000 / max(entry.height, 1)),
        round(px[2] * 1000 / max(entry.width, 1)), round(px[3] * 1000 / max(entry.height, 1)),
    )  # fmt: skip
    return Evidence(image=image, box=norm, box_px=px, step=citation.step)


def _into_parent(
    box: Box, width: int, height: int, crop: tuple[int, int, int, int] | None, parent: ImageEntry
) -> Box:
    """A box in a derived image's pixels, in its parent's pixels.

    A crop (zoom) covers ``crop`` of its parent, possibly scaled; an image without a crop
    (an overlay) covers the whole parent.
    """
    cx1, cy1, cx2, cy2 = crop if crop is not None else (0, 0, parent.width, parent.height)
    sx = (cx2 - cx1) / max(width, 1)
    sy = (cy2 - cy1) / max(height, 1)
    return (cx1 + box[0] * sx, cy1 + box[1] * sy, cx1 + box[2] * sx, cy1 + box[3] * sy)


def _clamped(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(v) for v in box)
    return (
        min(max(x1, 0), width), min(max(y1, 0), height),
        min(max(x2, 0), width), min(max(y2, 0), height),
    )  # fmt: skip
