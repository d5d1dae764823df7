"""Evidence under an answer: the cited regions as numbered crops; Enter opens the whole image.

The app is driven with the agent's own events (``AnswerDone.evidence``) from a scripted
source, as the agent emits them once the model's answer cites regions.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from kanjian.agent.config import Settings
from kanjian.agent.events import AnswerDone, Event, Evidence, ImageAdded, StepStarted
from kanjian.tui.screens.evidence import EvidenceScreen, draw_box
from kanjian.tui.widgets.evidence import EvidenceCrop, EvidenceList, box_pixels, crop_region
from kanjian.tui.widgets.graphics import image_widget_class
from kanjian.tui.widgets.prompt import PromptInput
from kanjian.tui.widgets.transcript import Transcript
from tests.tui.conftest import SIZE, ScriptedSource, make_app, started
from tests.tui.test_app import finished
from tests.tui.test_snapshots import check, normalise

# The red square of the ``image_path`` fixture (64×48, square at 16,12–40,36), 0–1000 frame.
SQUARE = (250, 250, 625, 750)
SQUARE_PX = (16, 12, 40, 36)


def cited(image: Path, *evidence: Evidence) -> list[Event]:
    return [
        ImageAdded("image_1", "square.png", 64, 48, path=str(image)),
        StepStarted(1),
        AnswerDone("The square is **red**.", evidence=evidence),
        finished(),
    ]


async def ask(app: object, pilot: object) -> None:
    app.query_one(PromptInput).insert("[image_1] what colour?")  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(app, pilot)


async def settle(app: object, pilot: object) -> None:
    """Until no worker runs: the turn, then the pictures and crops it mounted (each loads
    in its own worker once mounted)."""
    idle = 0
    while idle < 3:
        await pilot.pause()  # type: ignore[attr-defined]
        await app.workers.wait_for_complete()  # type: ignore[attr-defined]
        running = [w for w in app.workers if not w.is_finished]  # type: ignore[attr-defined]
        idle = 0 if running else idle + 1


def test_boxes_map_to_pixels_inside_the_image() -> None:
    assert box_pixels(SQUARE, (64, 48)) == SQUARE_PX
    # Reversed corners, out of range, and a zero-width box: still a box of at least 1 px.
    assert box_pixels((1000, 900, 0, 1200), (64, 48)) == (0, 43, 64, 48)
    assert box_pixels((500, 500, 500, 500), (64, 48)) == (32, 24, 33, 25)


def test_the_crop_is_the_cited_region_and_the_full_view_draws_its_box(image_path: Path) -> None:
    crop = crop_region(str(image_path), SQUARE)
    assert crop.size == (24, 24)
    assert set(crop.getdata()) == {(255, 0, 0)}
    whole = crop_region(str(image_path), None)
    assert whole.size == (64, 48)
    drawn = draw_box(str(image_path), (0, 0, 1000, 1000))
    assert drawn.getpixel((0, 0)) != (255, 255, 255)
    with Image.open(image_path) as original:
        assert original.convert("RGB").getpixel((0, 0)) == (255, 255, 255)


async def test_cited_regions_show_as_numbered_crops_and_enter_opens_the_image(
    settings: Settings, image_path: Path
) -> None:
    evidence = (
        Evidence("image_1", SQUARE, SQUARE_PX, step=1),
        Evidence("image_1"),
    )
    app = make_app(settings, ScriptedSource(cited(image_path, *evidence)))
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        crops = list(app.query(EvidenceCrop))
        assert [str(c.caption.render()) for c in crops] == [
            "1. image_1 [16, 12, 40, 36] · step 1",
            "2. image_1 (whole image)",
        ]
        # Each has its picture: the cited region, drawn by textual-image in half cells.
        assert all(len(c.query(".crop")) == 1 for c in crops)
        assert "- 1. image_1 [16, 12, 40, 36] · step 1" in "\n".join(
            app.query_one(Transcript).log_lines
        )
        crops[0].focus()
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, EvidenceScreen)
        assert screen.evidence.box == SQUARE
        assert len(screen.query(".picture")) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EvidenceScreen)


async def test_an_answer_that_cites_nothing_shows_nothing_more(
    settings: Settings, image_path: Path
) -> None:
    app = make_app(settings, ScriptedSource(cited(image_path)))
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        assert len(app.query(EvidenceList)) == 0
        assert "Evidence" not in app.export_screenshot()


async def test_a_citation_of_an_image_not_in_the_conversation_is_kept_as_a_caption(
    settings: Settings, image_path: Path
) -> None:
    app = make_app(settings, ScriptedSource(cited(image_path, Evidence("image_9", SQUARE))))
    async with app.run_test(size=SIZE) as pilot:
        await ask(app, pilot)
        crop = app.query_one(EvidenceCrop)
        assert str(crop.caption.render()) == (
            "1. image_9 [250, 250, 625, 750] (not shown in this conversation)"
        )
        assert len(crop.query(".crop")) == 0
        crop.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, EvidenceScreen)


async def test_snapshot_evidence(settings: Settings, image_path: Path, tmp_path: Path) -> None:
    # textual-image loaded first, as the warm-up does: the image shows at once, not after a
    # placeholder, so the screen is the same on every run.
    image_widget_class("halfcell")
    evidence = (Evidence("image_1", SQUARE, SQUARE_PX, step=1),)
    app = make_app(settings, ScriptedSource(cited(image_path, *evidence)))
    # Tall enough for the question, the image, the answer and its evidence at once.
    async with app.run_test(size=(100, 44)) as pilot:
        app.query_one(PromptInput).cursor_blink = False
        await started(app)
        app.query_one("#banner").message = ""  # type: ignore[attr-defined]
        await ask(app, pilot)
        app.query_one(Transcript).scroll_end(animate=False)
        await settle(app, pilot)
        check("evidence", normalise(app.export_screenshot(simplify=True), tmp_path))
        app.query_one(EvidenceCrop).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        check("evidence-open", normalise(app.export_screenshot(simplify=True), tmp_path))
