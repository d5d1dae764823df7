"""An image inline in the transcript, with its caption and, for overlays, a legend of boxes.

textual-image picks the terminal's best protocol (Kitty graphics, Sixel) when it is imported,
by asking the terminal before Textual starts; ``kanjian chat`` imports it early for that reason
(:func:`probe_terminal`). Inside tmux the Kitty protocol does not get through, so there the
half-cell renderer (coloured ▀ cells, which work over SSH and in any multiplexer) is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

__all__ = ["ImageMode", "ImageView", "legend_text", "probe_terminal"]

ImageMode = Literal["auto", "halfcell", "unicode", "none"]


def probe_terminal() -> None:
    """Let textual-image ask the terminal what it can draw; must run before the app starts."""
    import textual_image.widget  # noqa: F401  (the import runs the query)


def legend_text(boxes: list[dict[str, Any]]) -> str:
    """``1. cat [12, 40, 200, 310]`` per box: the numbers drawn on the overlay."""
    lines = []
    for i, box in enumerate(boxes, 1):
        label = box.get("label") or "box"
        pixels = box.get("box") or box.get("box_norm")
        lines.append(f"{i}. {label} {list(pixels) if pixels else ''}".rstrip())
    return "\n".join(lines)


def _image_class(mode: ImageMode) -> Callable[..., Widget] | None:
    if mode == "none":
        return None
    from textual_image import widget as tiw

    if mode == "halfcell":
        return tiw.HalfcellImage
    if mode == "unicode":
        return tiw.UnicodeImage
    chosen: Callable[..., Widget] = tiw.Image
    if os.environ.get("TMUX") and chosen is tiw.TGPImage:
        # tmux swallows Kitty graphics placements; half cells always get through.
        chosen = tiw.HalfcellImage
    return chosen


class ImageView(Vertical):
    """``image_N`` with its origin and size; the picture itself when a renderer is on."""

    DEFAULT_CSS = """
    ImageView { height: auto; margin: 0 0 1 2; }
    ImageView > .image-caption { color: $text-muted; }
    ImageView > .image-legend { color: $accent; }
    ImageView > .image { width: 32; height: auto; max-height: 12; }
    """

    def __init__(
        self,
        image_id: str,
        path: str,
        origin: str,
        size: tuple[int, int],
        mode: str = "auto",
    ) -> None:
        super().__init__(classes="image-view")
        self.image_id = image_id
        self.path = path
        self.caption = Static(
            f"🖼 [{image_id}] {origin} ({size[0]}×{size[1]})", classes="image-caption", markup=False
        )
        self.legend = Static("", classes="image-legend", markup=False)
        self.legend.display = False
        self.mode: ImageMode = mode if mode in ("auto", "halfcell", "unicode", "none") else "auto"  # type: ignore[assignment]

    def compose(self) -> Any:
        yield self.caption
        cls = _image_class(self.mode)
        if cls is not None and os.path.isfile(self.path):
            yield cls(self.path, classes="image")
        yield self.legend

    def set_legend(self, boxes: list[dict[str, Any]]) -> None:
        self.legend.update(legend_text(boxes))
        self.legend.display = True
