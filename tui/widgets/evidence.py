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

__all__ = [
    "EvidenceCrop",
    "EvidenceList",
    "box_pixels",
    "caption_text",
    "crop_region",
    "evidence_list",
]

Box = tuple[int, int, int, int]
# The most a crop takes under the answer: columns, rows.
CROP_CELLS = (16, 6)


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


def fit_cells(size: tuple[int, int], max_width: int, max_height: int) -> tuple[int, int]:
    """Columns and rows that show a picture of ``size`` pixels whole, within the limits.

    A cell is about twice as tall as wide. The size is set, not left to ``auto``: inside an
    ``height: auto`` column textual-image measures against the column's current height and
    can come out 0 rows tall.
    """
    width, height = max(size[0], 1), max(size[1], 1)
    cols = max_width
    rows = round(cols * height / width / 2)
    if rows > max_height:
        rows = max_height
        cols = max(1, round(rows * 2 * width / height))
    return cols, max(rows, 1)


def sized_picture(
    renderer: Renderer, picture: PILImage, limits: tuple[int, int], classes: str
) -> Any:
    """textual-image's widget for ``picture``, sized by :func:`fit_cells`; None for "none"."""
    cls = image_widget_class(renderer)
    if cls is None:
        return None
    widget = cls(picture, classes=classes)
    cols, rows = fit_cells(picture.size, *limits)
    widget.styles.width = cols
    widget.styles.height = rows
    return widget


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
    """

    can_focus = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=False, id="kanjian.evidence.open"),
    ]

    def __init__(
        self,
        number: int,
        evidence: Evidence,
        path: str | None,
        renderer: Renderer,
        picture: PILImage | None = None,
    ) -> None:
        super().__init__(classes="evidence")
        self.number = number
        self.evidence = evidence
        # Whether the conversation has shown this image (a citation of another is kept,
        # with a note, never a crash); its file, when it is on disk.
        self.known = path is not None
        self.path = path if path and os.path.isfile(path) else None
        self.renderer = renderer
        self.picture = picture
        self.caption = Static(self.caption_text, classes="evidence-caption", markup=False)

    @property
    def caption_text(self) -> str:
        return caption_text(self.number, self.evidence, self.known)

    def compose(self) -> Any:
        yield self.caption
        if self.picture is not None:
            widget = sized_picture(self.renderer, self.picture, CROP_CELLS, "crop")
            if widget is not None:
                yield widget

    def action_open(self) -> None:
        if self.path is None:
            self.notify(t("evidence.no_image", image=self.evidence.image), severity="warning")
            return
        from kanjian.tui.screens.evidence import open_evidence

        self.run_worker(
            open_evidence(self.app, self.path, self.evidence, self.caption_text, self.renderer),
            group="evidence",
            exit_on_error=False,
        )

    def on_click(self) -> None:
        self.focus()
        self.action_open()


class EvidenceList(Vertical):
    """The citations under one answer, numbered from 1."""

    DEFAULT_CSS = """
    EvidenceList { height: auto; margin: 0 0 1 0; }
    EvidenceList > .evidence-title { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, crops: list[EvidenceCrop]) -> None:
        super().__init__(classes="evidence-list")
        self.crops = crops

    def compose(self) -> Any:
        yield Static(t("evidence.title"), classes="evidence-title", markup=False)
        yield from self.crops


async def evidence_list(
    evidence: tuple[Evidence, ...], paths: Mapping[str, str], renderer: str
) -> EvidenceList:
    """The widgets for ``evidence``, their crops made first (Pillow, textual-image, in a thread).

    Made before mounting, not after: a picture mounted later into an ``height: auto``
    column does not grow the column.
    """
    chosen: Renderer = renderer if renderer in RENDERERS else "halfcell"  # type: ignore[assignment]
    pictures = await asyncio.to_thread(_pictures, evidence, paths, chosen)
    return EvidenceList(
        [
            EvidenceCrop(i, item, paths.get(item.image), chosen, picture)
            for i, (item, picture) in enumerate(zip(evidence, pictures, strict=True), 1)
        ]
    )


def _pictures(
    evidence: tuple[Evidence, ...], paths: Mapping[str, str], renderer: Renderer
) -> list[PILImage | None]:
    if renderer == "none":
        return [None] * len(evidence)
    image_widget_class(renderer)  # imports textual-image here, not on the event loop
    out: list[PILImage | None] = []
    for item in evidence:
        path = paths.get(item.image)
        try:
            out.append(crop_region(path, item.box) if path and os.path.isfile(path) else None)
        except OSError:
            # An image that cannot be read any more keeps its caption.
            out.append(None)
    return out
