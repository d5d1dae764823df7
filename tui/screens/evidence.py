"""One cited region in context: the whole image with the cited box drawn on it.

Opened with Enter (or a click) on a crop under an answer; Esc, Enter or q close it. The box
is drawn on a copy of the picture (Pillow, in a thread), in the colour the grounding overlay
uses, thick enough to survive the terminal's downscaling.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from kanjian.tui.i18n import t
from kanjian.tui.widgets.evidence import box_pixels
from kanjian.tui.widgets.graphics import Renderer, image_widget_class

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from kanjian.agent.events import Evidence

__all__ = ["EvidenceScreen", "draw_box"]

BOX_COLOUR = (255, 64, 32)


def draw_box(path: str, box: tuple[int, int, int, int] | None) -> PILImage:
    """The image at ``path`` with the 0–1000 ``box`` outlined (as is when ``box`` is None)."""
    from PIL import Image, ImageDraw

    with Image.open(path) as img:
        img.load()
        picture = img.convert("RGB")
    if box is not None:
        # About 1% of the longer side: a box still visible once drawn in half cells.
        width = max(2, max(picture.size) // 100)
        ImageDraw.Draw(picture).rectangle(
            box_pixels(box, picture.size), outline=BOX_COLOUR, width=width
        )
    return picture


class EvidenceScreen(ModalScreen[None]):
    """The cited image, whole, with its box; dismissed with Esc, Enter or q."""

    DEFAULT_CSS = """
    EvidenceScreen { align: center middle; }
    EvidenceScreen > Vertical {
        width: auto; max-width: 95%; height: auto; max-height: 95%;
        padding: 0 1; border: round $accent; background: $surface;
    }
    EvidenceScreen .evidence-caption { color: $accent; text-style: bold; }
    EvidenceScreen .evidence-hint { color: $text-muted; }
    EvidenceScreen .picture { width: 64; height: auto; max-height: 24; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", show=False, id="kanjian.evidence.close"),
    ]

    def __init__(self, path: str, evidence: Evidence, caption: str, renderer: Renderer) -> None:
        super().__init__()
        self.path = path
        self.evidence = evidence
        self.caption = caption
        self.renderer = renderer

    def compose(self) -> Any:
        with Vertical(id="evidence-frame"):
            yield Static(self.caption, classes="evidence-caption", markup=False)
            yield Static(t("evidence.close"), classes="evidence-hint", markup=False)

    def on_mount(self) -> None:
        if self.renderer != "none":
            self.run_worker(self._show(), group="picture", exit_on_error=False)

    async def _show(self) -> None:
        picture = await asyncio.to_thread(draw_box, self.path, self.evidence.box)
        cls = await asyncio.to_thread(image_widget_class, self.renderer)
        if cls is not None:
            frame = self.query_one("#evidence-frame")
            await frame.mount(cls(picture, classes="picture"), before=1)

    def action_close(self) -> None:
        self.dismiss(None)
