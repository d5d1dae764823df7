"""Pilot tests of the chat app, each interaction driven with keys over a scripted event source."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Markdown

from kanjian.agent.config import Settings
from kanjian.agent.events import (
    AnswerDelta,
    AnswerDone,
    ApprovalRequest,
    ErrorEvent,
    Event,
    ImageAdded,
    RunFinished,
    StepStarted,
    Thought,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
)
from kanjian.tui.screens.approval import ApprovalScreen
from kanjian.tui.widgets.banner import Banner
from kanjian.tui.widgets.image_view import ImageView
from kanjian.tui.widgets.prompt import AttachmentBar, PromptInput
from kanjian.tui.widgets.status import StatusBar
from kanjian.tui.widgets.transcript import AnswerView, ThoughtView, ToolRow, Transcript, UserMessage
from kanjian.vlm.tiling import image_tokens
from kanjian.vlm.types import Usage
from tests.tui.conftest import SIZE, ScriptedSource, Wait, make_app, started


def finished(session: str = "s1", answer: str | None = "ok") -> RunFinished:
    return RunFinished("r1", session, answer, (), {}, Usage(), 0.1)


def answer_script(*deltas: str) -> list[Event | Wait]:
    text = "".join(deltas)
    return [StepStarted(1), *[AnswerDelta(d) for d in deltas], AnswerDone(text), finished()]


async def type_text(pilot: object, text: str) -> None:
    app = pilot.app  # type: ignore[attr-defined]
    app.query_one(PromptInput).insert(text)


def transcript_text(app: object) -> str:
    """Everything the transcript shows, as plain text (Markdown sources included)."""
    transcript = app.query_one(Transcript)  # type: ignore[attr-defined]
    parts = []
    for widget in transcript.query("*"):
        if isinstance(widget, Markdown):
            parts.append(widget.source)
        elif hasattr(widget, "renderable") or hasattr(widget, "content"):
            parts.append(str(getattr(widget, "content", "")))
    return "\n".join(parts)


async def test_enter_sends_and_the_answer_streams_into_markdown(settings: Settings) -> None:
    source = ScriptedSource(answer_script("Hello", ", **world**", "!"))
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "hi there")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert source.calls == [("hi there", [], None)]
        assert app.query_one(UserMessage).content == "hi there"
        answer = app.query_one(AnswerView)
        assert answer.markdown.source == "Hello, **world**!"
        assert app.session_id == "s1"
        assert app.query_one(PromptInput).text == ""


async def test_deltas_are_appended_not_rerendered(settings: Settings) -> None:
    gate = Wait()
    source = ScriptedSource(
        [
            AnswerDelta("first paragraph\n\n"),
            gate,
            AnswerDelta("second"),
            AnswerDone("first paragraph\n\nsecond"),
            finished(),
        ]
    )
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "q")
        await pilot.press("enter")
        await gate.reached.wait()
        await pilot.pause()
        markdown = app.query_one(AnswerView).markdown
        first_block = markdown.children[0]
        gate.release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        # The first block is the same widget: the second delta was appended after it.
        assert markdown.children[0] is first_block
        assert markdown.source == "first paragraph\n\nsecond"


async def test_ctrl_j_adds_a_line_instead_of_sending(settings: Settings) -> None:
    source = ScriptedSource(answer_script("ok"))
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "ctrl+j", "b")
        assert app.query_one(PromptInput).text == "a\nb"
        assert source.calls == []
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert source.calls[0][0] == "a\nb"


async def test_up_and_down_walk_the_history(settings: Settings) -> None:
    source = ScriptedSource(answer_script("1"), answer_script("2"))
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.query_one(PromptInput)
        for question in ("first", "second"):
            await type_text(pilot, question)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
        await pilot.press("d", "r", "a", "f", "t")
        await pilot.press("up")
        assert prompt.text == "second"
        await pilot.press("up")
        assert prompt.text == "first"
        await pilot.press("down", "down")
        assert prompt.text == "draft"


async def test_tool_rows_thoughts_and_overlay_legend(settings: Settings, image_path: Path) -> None:
    boxes = [{"label": "red square", "box": [16, 12, 40, 36], "box_norm": [250, 250, 625, 750]}]
    script: list[Event] = [
        ImageAdded("image_1", str(image_path), 64, 48),
        StepStarted(1),
        Thought(1, "I should find the square."),
        ToolCallEvent(1, "c1", "ground", {"image": "image_1", "query": "red square"}),
        ImageAdded("image_2", "boxes on image_1", 64, 48, parent="image_1", path=str(image_path)),
        ToolResultEvent(
            1,
            "c1",
            "ground",
            {"image": "image_1", "query": "red square"},
            {"boxes": boxes},
            "1 box",
            0.25,
            images=("image_2",),
        ),
        StepStarted(2),
        AnswerDelta("It is at the centre."),
        AnswerDone("It is at the centre."),
        finished(),
    ]
    app = make_app(settings, ScriptedSource(script))
    async with app.run_test(size=SIZE) as pilot:
        await app.attach(image_path)
        await pilot.press("w", "h", "e", "r", "e", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        row = app.query_one(ToolRow)
        assert row.title.startswith("⚙ ground(") and row.title.endswith("✓ 0.25s")
        assert row.collapsed
        views = list(app.query(ImageView))
        assert [v.image_id for v in views] == ["image_1", "image_2"]
        assert "1. red square [16, 12, 40, 36]" in str(views[1].legend.content)
        assert app.query_one(ThoughtView).display
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not app.query_one(ThoughtView).display
        await pilot.press("ctrl+o")
        assert not row.collapsed
        assert "result: 1 box" in str(row.detail.content)
        # Two images in context, each costing what SGLang's tiling rule says.
        assert app.status.image_tokens == 2 * image_tokens(64, 48, rule="sglang")


async def test_attach_with_slash_image_shows_the_token(
    settings: Settings, image_path: Path
) -> None:
    source = ScriptedSource(answer_script("seen"))
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, f"/image {image_path}")
        await pilot.press("enter")
        await pilot.pause()
        assert app.pending == [("image_1", str(image_path))]
        assert "[image_1] square.png" in str(app.query_one(AttachmentBar).content)
        assert app.query_one(PromptInput).text == "[image_1] "
        await type_text(pilot, "what is this?")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert source.calls == [("[image_1] what is this?", [str(image_path)], None)]
        assert app.pending == []


async def test_attach_refuses_a_missing_file_inline(settings: Settings, tmp_path: Path) -> None:
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, f"/image {tmp_path / 'nope.png'}")
        await pilot.press("enter")
        await pilot.pause()
        assert app.pending == []
        assert "Cannot attach" in transcript_text(app)


async def test_pasting_an_image_path_attaches_it(settings: Settings, image_path: Path) -> None:
    from textual import events

    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.query_one(PromptInput)
        prompt.post_message(events.Paste(f"'{image_path}'"))
        await pilot.pause()
        assert app.pending == [("image_1", str(image_path))]
        prompt.post_message(events.Paste("just words"))
        await pilot.pause()
        assert "just words" in prompt.text


async def test_tab_completes_image_paths(
    settings: Settings, image_path: Path, monkeypatch: object
) -> None:
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, f"/image {image_path.parent}/squ")
        await pilot.press("tab")
        assert app.query_one(PromptInput).text == f"/image {image_path}"


async def test_initial_attachments_are_queued(settings: Settings, image_path: Path) -> None:
    app = make_app(settings, ScriptedSource(), attachments=[image_path])
    async with app.run_test(size=SIZE):
        assert app.pending == [("image_1", str(image_path))]


async def test_escape_cancels_the_run_and_keeps_the_conversation(settings: Settings) -> None:
    gate = Wait()
    source = ScriptedSource(
        [AnswerDelta("partial "), gate, AnswerDelta("never")], answer_script("again")
    )
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "long one")
        await pilot.press("enter")
        await gate.reached.wait()
        await pilot.pause()
        assert app.busy
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.busy
        assert source.closed == 1
        assert "Cancelled" in transcript_text(app)
        assert "never" not in transcript_text(app)
        await type_text(pilot, "next")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert app.query(AnswerView).last().markdown.source == "again"
        assert len(app.query(UserMessage)) == 2


async def test_approval_dialog_answers_the_agent(settings: Settings) -> None:
    request = ApprovalRequest(1, "c1", "send_mail", {"to": "a@b.c"})
    source = ScriptedSource(
        [request, *answer_script("sent")], [request, *answer_script("not sent")]
    )
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "mail it")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await type_text(pilot, "again")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        assert source.approvals == [True, False]


async def test_errors_show_inline_and_the_chat_goes_on(settings: Settings) -> None:
    source = ScriptedSource(
        [
            StepStarted(1),
            ErrorEvent("The model server at 'http://x' stopped answering; retry."),
            finished(answer=None),
        ],
        answer_script("fine now"),
    )
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "one")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert "stopped answering" in transcript_text(app)
        await type_text(pilot, "two")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert app.query(AnswerView).last().markdown.source == "fine now"


async def test_a_source_that_raises_is_an_inline_error(settings: Settings) -> None:
    source = ScriptedSource()  # no script: the run raises IndexError
    app = make_app(settings, source)
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "boom")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert "IndexError" in transcript_text(app)
        assert app.is_running


async def test_usage_drives_the_status_bar(settings: Settings) -> None:
    script = [*answer_script("x")[:-1], UsageEvent(Usage(1000, 200, 900), seconds=2.0), finished()]
    app = make_app(settings, ScriptedSource(script))
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "q")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        status = app.query_one(StatusBar)
        assert status.cached_tokens == 900
        assert status.prompt_tokens == 1000
        assert status.tokens_per_s == 100.0
        assert "cached 900/1000" in str(status.render())


async def test_no_server_banner_names_the_fixes_and_ocr_still_works(settings: Settings) -> None:
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        await pilot.pause()
        banner = app.query_one(Banner)
        assert banner.has_class("-shown")
        for fix in ("kanjian serve-model", "KANJIAN_URL", "kanjian[local]"):
            assert fix in banner.message
        assert app.status.health == "down"


async def test_code_blocks_get_copy_buttons(settings: Settings) -> None:
    text = "Run:\n\n```python\nprint('hi')\n```\n"
    app = make_app(settings, ScriptedSource(answer_script(text)))
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "code?")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.click("Button.copy")
        assert app.clipboard == "print('hi')\n"


async def test_help_new_and_export(settings: Settings, tmp_path: Path) -> None:
    app = make_app(settings, ScriptedSource(answer_script("the answer")))
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "question")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        target = tmp_path / "out.md"
        await type_text(pilot, f"/export {target}")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        exported = target.read_text(encoding="utf-8")
        assert "question" in exported and "the answer" in exported
        await type_text(pilot, "/help")
        await pilot.press("enter")
        await pilot.pause()
        assert "/resume" in transcript_text(app)
        await type_text(pilot, "/new")
        await pilot.press("enter")
        await pilot.pause()
        assert len(app.query(UserMessage)) == 0
        assert app.session_id is None


async def test_math_works_without_a_model(settings: Settings) -> None:
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "/math x**2 = 4")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "x**2 = 4 = [-2, 2]" in transcript_text(app)
        assert "MathResult" not in transcript_text(app)  # bug: the result's repr was shown


async def test_narrow_screen_hides_the_sidebar(settings: Settings) -> None:
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=(80, 24)) as pilot:
        assert not app.query_one("#sidebar").display
        await pilot.press("ctrl+b")
        assert app.query_one("#sidebar").display


async def test_keymap_rebinds_cancel(settings: Settings) -> None:
    gate = Wait()
    source = ScriptedSource([AnswerDelta("x"), gate])
    app = make_app(settings, source, keymap={"kanjian.cancel": "f2"})
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, "q")
        await pilot.press("enter")
        await gate.reached.wait()
        await pilot.press("f2")
        await app.workers.wait_for_complete()
        assert source.closed == 1


async def test_theme_from_settings(settings: Settings) -> None:
    app = make_app(settings, ScriptedSource(), theme="nord")
    async with app.run_test(size=SIZE):
        assert app.theme == "nord"


async def test_slash_command_after_an_attachment_token_still_runs(
    settings: Settings, image_path: Path
) -> None:
    # `kanjian chat IMAGE` puts "[image_1] " in the input; a command typed after it is a
    # command, not a question for the model, and the attachment waits for the next question.
    source = ScriptedSource()
    app = make_app(settings, source, attachments=[image_path])
    async with app.run_test(size=SIZE) as pilot:
        app.prompt.load_text("[image_1] /math x**2 = 4")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "[-2, 2]" in transcript_text(app)
        assert source.calls == []
        assert app.pending == [("image_1", str(image_path))]
