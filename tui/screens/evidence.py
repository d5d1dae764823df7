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
from kanjian.tui.widgets.evidence import box_pixels, sized_picture
from kanjian.tui.widgets.graphics import Renderer, image_widget_class

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
    from textual.app import App

    from kanjian.agent.events import Evidence

__all__ = ["EvidenceScreen", "draw_box", "open_evidence"]

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


async def open_evidence(
    app: App[Any], path: str, evidence: Evidence, caption: str, renderer: Renderer
) -> None:
    """Draw the box (off the event loop), then show the screen with the picture in it."""
    picture = None
    if renderer != "none":
        picture = await asyncio.to_thread(draw_box, path, evidence.box)
        await asyncio.to_thread(image_widget_class, renderer)
    await app.push_screen(EvidenceScreen(path, evidence, caption, renderer, picture))


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
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", show=False, id="kanjian.evidence.close"),
    ]

    def __init__(
        self,
        path: str,
        evidence: Evidence,
        caption: str,
        renderer: Renderer,
        picture: PILImage | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.evidence = evidence
        self.caption = caption
        self.renderer = renderer
        self.picture = picture

    def compose(self) -> Any:
        with Vertical(id="evidence-frame"):
            yield Static(self.caption, classes="evidence-caption", markup=False)
            if self.picture is not None:
                # The whole image, as large as a 100×30 terminal leaves room for.
                widget = sized_picture(self.renderer, self.picture, (64, 22), "picture")
                if widget is not None:
                    yield widget
            yield Static(t("evidence.close"), classes="evidence-hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
