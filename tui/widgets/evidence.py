"""What an answer rests on: each region the model cited, numbered, as a small crop.

The agent fills ``AnswerDone.evidence`` from the answer's ``evidence`` list (image id, a box
in the image's 0–1000 frame, the step it cites). Under the answer, :class:`EvidenceList`
shows one :class:`EvidenceCrop` per citation: a caption numbered like the grounding legend
(``1. image_1 [16, 12, 40, 36]``, pixels of the original image where the agent mapped them)
and the cited region cropped from the image. Enter (or a click) on one opens the whole image
with the box drawn (:class:`~kanjian.tui.screens.evidence.EvidenceScreen`). A citation of an
image the transcript has not shown keeps its caption and gets no picture.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from kanjian.tui.i18n import t
from kanjian.tui.widgets.graphics import RENDERERS, Renderer, image_widget_class

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from kanjian.agent.events import Evidence

__all__ = ["EvidenceCrop", "EvidenceList", "box_pixels", "caption_text", "crop_region"]

Box = tuple[int, int, int, int]


def box_pixels(box: Box, size: tuple[int, int]) -> Box:
    """A 0–1000 box in pixels of an image of ``size``, inside it and at least 1 px wide."""
    width, height = size
    x1, x2 = sorted((box[0], box[2]))
    y1, y2 = sorted((box[1], box[3]))

    def scale(value: int, full: int) -> int:
        return min(max(round(value * full / 1000), 0), full)

    left, right = scale(x1, width), scale(x2, width)
    top, bottom = scale(y1, height), scale(y2, height)
    return (
        min(left, width - 1),
        min(top, height - 1),
        max(right, min(left, width - 1) + 1),
        max(bottom, min(top, height - 1) + 1),
    )


def caption_text(number: int, evidence: Evidence, known: bool = True) -> str:
    """``1. image_1 [16, 12, 40, 36] · step 2``: what the caption of one citation says."""
    box = evidence.box_px or evidence.box
    where = f" [{', '.join(str(v) for v in box)}]" if box else f" ({t('evidence.whole')})"
    step = f" · {t('evidence.step', step=evidence.step)}" if evidence.step is not None else ""
    missing = "" if known else f" ({t('evidence.unknown')})"
    return f"{number}. {evidence.image}{where}{step}{missing}"


def crop_region(path: str, box: Box | None) -> PILImage:
    """The cited region of the image at ``path`` (the whole image when ``box`` is None)."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        picture = img.convert("RGB")
    if box is None:
        return picture
    return picture.crop(box_pixels(box, picture.size))


class EvidenceCrop(Vertical):
    """One citation: its caption and the cropped region; Enter opens the whole image."""

    DEFAULT_CSS = """
    EvidenceCrop { height: auto; margin: 0 0 0 2; }
    EvidenceCrop:focus { background: $boost; }
    EvidenceCrop > .evidence-caption { color: $accent; }
    EvidenceCrop:focus > .evidence-caption { text-style: bold; }
    EvidenceCrop > .crop { width: 16; height: auto; max-height: 6; }
    """

    can_focus = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=False, id="kanjian.evidence.open"),
    ]

    def __init__(self, number: int, evidence: Evidence, path: str | None, renderer: str) -> None:
        super().__init__(classes="evidence")
        self.number = number
        self.evidence = evidence
        # Whether the conversation has shown this image (a citation of another is kept,
        # with a note, never a crash); its file, when it is on disk.
        self.known = path is not None
        self.path = path if path and os.path.isfile(path) else None
        self.renderer: Renderer = renderer if renderer in RENDERERS else "halfcell"  # type: ignore[assignment]
        self.caption = Static(
            caption_text(number, evidence, self.known),
            classes="evidence-caption",
            markup=False,
        )

    def compose(self) -> Any:
        yield self.caption

    def on_mount(self) -> None:
        if self.path is not None and self.renderer != "none":
            self.run_worker(self._show_crop(self.path), group="picture", exit_on_error=False)

    async def _show_crop(self, path: str) -> None:
        # Pillow and textual-image off the event loop: a big photo takes a while to decode.
        crop = await asyncio.to_thread(crop_region, path, self.evidence.box)
        cls = await asyncio.to_thread(image_widget_class, self.renderer)
        if cls is not None:
            await self.mount(cls(crop, classes="crop"))

    def action_open(self) -> None:
        if self.path is None:
            self.notify(t("evidence.no_image", image=self.evidence.image), severity="warning")
            return
        from kanjian.tui.screens.evidence import EvidenceScreen

        self.app.push_screen(
            EvidenceScreen(self.path, self.evidence, self.caption_text, self.renderer)
        )

    @property
    def caption_text(self) -> str:
        return caption_text(self.number, self.evidence, self.known)

    def on_click(self) -> None:
        self.focus()
        self.action_open()


class EvidenceList(Vertical):
    """The citations under one answer, numbered from 1."""

    DEFAULT_CSS = """
    EvidenceList { height: auto; margin: 0 0 1 0; }
    EvidenceList > .evidence-title { color: $text-muted; padding: 0 1; }
    """

    def __init__(
        self, evidence: tuple[Evidence, ...], paths: Mapping[str, str], renderer: str
    ) -> None:
        super().__init__(classes="evidence-list")
        self.crops = [
            EvidenceCrop(i, item, paths.get(item.image), renderer)
            for i, item in enumerate(evidence, 1)
        ]

    def compose(self) -> Any:
        yield Static(t("evidence.title"), classes="evidence-title", markup=False)
        yield from self.crops
