"""kanjian-colors: an example kanjian plugin.

Two tools:

* ``dominant_colors(image, k=5)``: the main colours of an image, from Pillow's median-cut
  quantizer, each with its share of the pixels. No side effects.
* ``save_note(text, title="note")``: writes a Markdown note into the folder named by
  ``KANJIAN_NOTES_DIR``. It changes the world, so it is declared ``side_effects=True`` and
  kanjian asks the user before every call.

kanjian finds the plugin through the entry point in ``pyproject.toml``
(``colors = "kanjian_colors:register"`` in the ``kanjian.tools`` group) and calls
:func:`register` with its tool registry.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, cast

from PIL import Image
from pydantic import Field

from kanjian.tools import ToolFailed, ToolRegistry, tool

__all__ = ["dominant_colors", "register", "save_note"]

NOTES_ENV = "KANJIAN_NOTES_DIR"


@tool
def dominant_colors(
    image: Image.Image,
    k: Annotated[int, Field(ge=1, le=16, description="How many colours, 1 to 16.")] = 5,
) -> dict[str, object]:
    """List the dominant colours of an image, with the share of pixels each one covers.

    Args:
        image: Image id, such as image_1.
    """
    small = image.convert("RGB")
    # Plenty for colour statistics and fast on big photos; nearest-neighbour so that no
    # blended colours appear along edges.
    small.thumbnail((256, 256), Image.Resampling.NEAREST)
    quantized = small.quantize(colors=k, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors(k) or [], reverse=True)
    total = sum(count for count, _ in counts)
    colours = []
    for count, index in counts:
        start = 3 * cast(int, index)  # a palette image's colours are palette indices
        red, green, blue = palette[start : start + 3]
        colours.append(
            {
                "hex": f"#{red:02x}{green:02x}{blue:02x}",
                "rgb": [red, green, blue],
                "share": round(count / total, 3),
            }
        )
    return {"colors": colours}


@tool(side_effects=True)
def save_note(text: str, title: str = "note") -> dict[str, str]:
    """Save a Markdown note for the user (in the folder KANJIAN_NOTES_DIR names).

    Args:
        text: The note, in Markdown.
        title: A short title; it also names the file.
    """
    folder = os.environ.get(NOTES_ENV)
    if not folder:
        raise ToolFailed(f"save_note has nowhere to write: set {NOTES_ENV} to a folder.")
    path = _free_path(Path(folder).expanduser(), _slug(title))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    return {"path": str(path)}


def _slug(title: str) -> str:
    slug = re.sub(r"[^\w-]+", "-", title.strip().lower()).strip("-")
    return slug or "note"


def _free_path(folder: Path, stem: str) -> Path:
    """``stem.md``, or ``stem-2.md``, ``stem-3.md``... : never overwrite a note."""
    path, n = folder / f"{stem}.md", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.md"
    return path


def register(registry: ToolRegistry) -> None:
    """kanjian's plugin hook: add this package's tools."""
    registry.add(dominant_colors)
    registry.add(save_note)
