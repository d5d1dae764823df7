"""An image inline in the transcript, with its caption and, for overlays, a legend of boxes.

The picture is drawn by textual-image with the renderer chosen before the app started
(:mod:`kanjian.tui.widgets.graphics`). textual-image (and NumPy behind it) loads after the first
paint: until it has, the caption shows with a one-line placeholder, and the picture takes
its place a moment later.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from textual.containers import Vertical
from textual.widgets import Static

from kanjian.tui.i18n import t
from kanjian.tui.widgets.graphics import RENDERERS, Renderer, graphics_loaded, image_widget_class

__all__ = ["ImageView", "legend_text"]


def legend_text(boxes: list[dict[str, Any]]) -> str:
    """``1. cat [12, 40, 200, 310]`` per box: the numbers drawn on the overlay."""
    lines = []
    for i, box in enumerate(boxes, 1):
        label = box.get("label") or "box"
        pixels = box.get("box") or box.get("box_norm")
        lines.append(f"{i}. {label} {list(pixels) if pixels else ''}".rstrip())
    return "\n".join(lines)


class ImageView(Vertical):
    """``image_N`` with its origin and size; the picture itself when a renderer is on."""

    DEFAULT_CSS = """
    ImageView { height: auto; margin: 0 0 1 2; }
    ImageView > .image-caption { color: $text-muted; }
    ImageView > .image-legend { color: $accent; }
    ImageView > .image { width: 32; height: auto; max-height: 12; }
    ImageView > .image-loading { color: $text-muted; height: 1; }
    """

    def __init__(
        self,
        image_id: str,
        path: str,
        origin: str,
        size: tuple[int, int],
        renderer: str = "halfcell",
    ) -> None:
        super().__init__(classes="image-view")
        self.image_id = image_id
        self.path = path
        self.caption = Static(
            f"🖼 [{image_id}] {origin} ({size[0]}×{size[1]})", classes="image-caption", markup=False
        )
        self.legend = Static("", classes="image-legend", markup=False)
        self.legend.display = False
        self.renderer: Renderer = renderer if renderer in RENDERERS else "halfcell"  # type: ignore[assignment]
        self._picture_later = False

    def compose(self) -> Any:
        yield self.caption
        if self.renderer != "none" and os.path.isfile(self.path):
            if graphics_loaded():
                yield self._picture()
            else:
                self._picture_later = True
                yield Static(t("image.loading"), classes="image-loading", markup=False)
        yield self.legend

    def on_mount(self) -> None:
        if self._picture_later:
            self.run_worker(self._show_picture(), group="picture", exit_on_error=False)

    def _picture(self) -> Any:
        cls = image_widget_class(self.renderer)
        assert cls is not None  # "none" never gets here
        return cls(self.path, classes="image")

    async def _show_picture(self) -> None:
        """Load textual-image off the event loop, then swap the placeholder for the picture."""
        await asyncio.to_thread(image_widget_class, self.renderer)
        await self.mount(self._picture(), before=self.legend)
        await self.query(".image-loading").remove()

    def set_legend(self, boxes: list[dict[str, Any]]) -> None:
        self.legend.update(legend_text(boxes))
        self.legend.display = True
