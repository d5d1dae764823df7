"""The transcript: questions, streamed Markdown answers, thoughts, tool rows and images.

:class:`Transcript` turns the agent's events into widgets as they arrive. The answer is a
Textual ``Markdown`` fed through a :class:`FrameStream`: deltas are appended to the last
block instead of re-parsing the whole message, and at most once per frame, so a server
streaming hundreds of tokens a second leaves the event loop time for keys. The transcript
is anchored: it follows new content until the user scrolls up. Past sessions memory recalled
into a new conversation show as one collapsed :class:`~kanjian.tui.widgets.recall.RecallRow`.
A tool call becomes a collapsible
:class:`ToolRow` that fills in its result and seconds when the tool returns; images (the
user's, grounding overlays, zoom crops) appear inline as soon as they enter the conversation.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Collapsible, Static

from kanjian.tui.i18n import t
from kanjian.tui.widgets.evidence import caption_text, evidence_list
from kanjian.tui.widgets.image_view import ImageView
from kanjian.tui.widgets.recall import RecallRow, recall_item, recall_title

if TYPE_CHECKING:
    # Markdown (markdown-it and highlighting) loads with the first answer, not the first paint.
    from textual.widgets import Markdown

    from kanjian.agent.events import (
        Evidence,
        ImageAdded,
        ToolCallEvent,
        ToolResultEvent,
    )
    from kanjian.tui.chat_controller import RecalledSession

__all__ = [
    "AnswerView",
    "CopyButton",
    "FrameStream",
    "Note",
    "ThoughtView",
    "ToolRow",
    "Transcript",
    "UserMessage",
    "code_blocks",
]

_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """``(language, code)`` for each fenced block of ``markdown``, in order."""
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(markdown)]


def _json(value: Any) -> str:
    # json loads with the first tool row, not with the first frame (which needs none).
    import json

    return json.dumps(value, ensure_ascii=False)


def short_args(args: dict[str, Any], limit: int = 60) -> str:
    text = ", ".join(f"{k}={_json(v)}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UserMessage(Static):
    """The user's question, with the ``[image_N]`` attachments it carried."""


class Note(Static):
    """A line from the app itself: help, a direct tool's result, a cancelled run, an error."""


class ThoughtView(Static):
    """The model's reasoning for one step, dimmed; hidden when thoughts are toggled off."""


class CopyButton(Button):
    """Copies one code block of an answer to the clipboard (OSC 52 via the app)."""

    def __init__(self, code: str, label: str) -> None:
        super().__init__(label, classes="copy")
        self.code = code

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.copy_to_clipboard(self.code)
        self.notify(t("notify.copied", lines=len(self.code.splitlines())))


def _markdown(text: str = "", *, classes: str | None = None) -> Markdown:
    from textual.widgets import Markdown

    return Markdown(text, classes=classes)


class FrameStream:
    """Appends fragments to a ``Markdown`` widget, at most one append per frame.

    Each append re-parses the last block, which grows with the answer; appending every token
    would keep the event loop busy parsing and leave keys waiting. Fragments that arrive
    while an append runs, or within one frame of the last, go in the next append together.
    """

    def __init__(self, markdown: Markdown, frame: float = 1 / 30) -> None:
        self.markdown = markdown
        self.frame = frame
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._run())

    async def write(self, fragment: str) -> None:
        if fragment:
            self._pending.append(fragment)
            self._wake.set()
        # Let the appender start at once on the first fragment.
        await asyncio.sleep(0)

    async def stop(self) -> None:
        """Append what is pending and wait until it is on the widget."""
        self._closing = True
        self._wake.set()
        if not self._task.done():
            await self._task

    def cancel(self) -> None:
        """Drop what is pending (the widget is going away)."""
        self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                chunk = "".join(self._pending)
                self._pending.clear()
                # Not cancelled half-way: a half-applied append would repeat lines.
                await asyncio.shield(self.markdown.append(chunk))
            if self._closing:
                if not self._pending:
                    return
                continue
            await asyncio.sleep(self.frame)


class AnswerView(Vertical):
    """An answer streamed into Markdown; copy buttons for its code blocks once it is done."""

    def __init__(self) -> None:
        super().__init__(classes="answer")
        self.markdown = _markdown()
        self._stream: FrameStream | None = None
        self.text = ""

    def compose(self) -> Any:
        yield self.markdown

    async def add(self, delta: str) -> None:
        if self._stream is None:
            self._stream = FrameStream(self.markdown)
        self.text += delta
        await self._stream.write(delta)

    def on_unmount(self) -> None:
        if self._stream is not None:
            self._stream.cancel()

    async def finish(self, text: str) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if text != self.text:
            # No deltas came (or they differ from the final text): show the final text whole.
            self.text = text
            await self.markdown.update(text)
        blocks = code_blocks(self.text)
        if blocks:
            buttons = [
                CopyButton(code, t("copy.button", lang=lang or "code", number=i))
                for i, (lang, code) in enumerate(blocks, 1)
            ]
            await self.mount(Horizontal(*buttons, classes="copies"))


class ToolRow(Collapsible):
    """One tool call: ``⚙ tool(args)`` while it runs; result and seconds when it returns."""

    def __init__(self, event: ToolCallEvent) -> None:
        self.tool = event.tool
        self.args_text = short_args(event.args)
        self.detail = Static(self._args_block(event.args), classes="tool-detail", markup=False)
        super().__init__(self.detail, title=f"⚙ {event.tool}({self.args_text}) …", collapsed=True)
        self.add_class("tool-row")

    @staticmethod
    def _args_block(args: dict[str, Any]) -> str:
        return "args: " + _json(args)

    def finish(self, event: ToolResultEvent) -> None:
        mark = "✗" if event.error else "✓"
        self.title = f"⚙ {event.tool}({self.args_text}) {mark} {event.seconds:.2f}s"
        result = event.error or event.text
        self.detail.update(f"{self._args_block(event.args)}\nresult: {result}")
        self.set_class(bool(event.error), "-failed")


class Transcript(VerticalScroll):
    """The conversation so far; the app calls these methods as events arrive."""

    def __init__(self, *, image_mode: str = "auto", id: str | None = None) -> None:
        super().__init__(id=id)
        self.image_mode = image_mode
        self._answer: AnswerView | None = None
        self._rows: dict[str, ToolRow] = {}
        self._images: dict[str, ImageAdded] = {}
        self._pending_images: dict[str, ImageView] = {}
        # Markdown of the conversation, for /export.
        self.log_lines: list[str] = []

    def on_mount(self) -> None:
        # Follow new content (no scroll per token); scrolling up releases it.
        self.anchor()

    async def _add(self, widget: Widget) -> None:
        await self.mount(widget)

    async def add_user(self, text: str, attachments: list[tuple[str, str]]) -> None:
        # The question already carries its ``[image_N]`` tokens and each image's caption (with
        # its path) follows as the agent adds it: the attachments are not repeated here.
        await self._add(UserMessage(text, classes="user", markup=False))
        # A new question brings the view back to the bottom, even if the user had scrolled up.
        self.anchor()
        self.log_lines.append(
            f"## You\n\n{text}\n" + "".join(f"\n- {n}: {p}" for n, p in attachments)
        )

    async def add_note(self, markdown: str, *, kind: str = "info") -> None:
        await self._add(_markdown(markdown, classes=f"note -{kind}"))
        self.log_lines.append(markdown)

    async def add_error(self, message: str) -> None:
        await self._add(Note(f"⚠ {message}", classes="note -error", markup=False))
        self.log_lines.append(f"> **Error:** {message}")

    async def add_warning(self, message: str) -> None:
        """Something the user should know that did not fail the turn (e.g. it was not saved)."""
        await self._add(Note(f"⚠ {message}", classes="note -warning", markup=False))
        self.log_lines.append(f"> **Warning:** {message}")

    async def add_recalled(self, sessions: list[RecalledSession]) -> None:
        """The collapsed "recalled" row naming the past sessions put into this prompt."""
        if not sessions:
            return
        await self._add(RecallRow(sessions))
        items = "".join(f"\n- {recall_item(s)} (`{s.id}`)" for s in sessions)
        self.log_lines.append(f"_{recall_title(len(sessions))}:_\n{items}")

    async def add_thought(self, text: str) -> None:
        await self._add(ThoughtView(f"💭 {text}", classes="thought", markup=False))

    async def add_image(self, event: ImageAdded) -> None:
        self._images[event.image_id] = event
        path = event.path or event.origin
        view = ImageView(
            event.image_id, path, event.origin, (event.width, event.height), self.image_mode
        )
        self._pending_images[event.image_id] = view
        await self._add(view)

    async def start_tool(self, event: ToolCallEvent) -> None:
        row = ToolRow(event)
        self._rows[event.call_id] = row
        await self._add(row)

    async def finish_tool(self, event: ToolResultEvent) -> None:
        row = self._rows.get(event.call_id)
        if row is None:
            # A result without its call (a resumed or replayed run): show the row anyway.
            from kanjian.agent.events import ToolCallEvent

            await self.start_tool(ToolCallEvent(event.step, event.call_id, event.tool, event.args))
            row = self._rows[event.call_id]
        row.finish(event)
        boxes = event.output.get("boxes") if isinstance(event.output, dict) else None
        for image_id in event.images:
            view = self._pending_images.get(image_id)
            if view is not None and boxes:
                view.set_legend(boxes)
        self.log_lines.append(f"- ⚙ `{event.tool}({row.args_text})` → {event.error or event.text}")

    async def answer_delta(self, text: str) -> None:
        if self._answer is None:
            self._answer = AnswerView()
            await self._add(self._answer)
        await self._answer.add(text)

    async def answer_done(self, text: str, evidence: tuple[Evidence, ...] = ()) -> None:
        if self._answer is None:
            self._answer = AnswerView()
            await self._add(self._answer)
        await self._answer.finish(text)
        self.log_lines.append(f"## kanjian\n\n{text}\n")
        self._answer = None
        if evidence:
            await self.add_evidence(evidence)

    async def add_evidence(self, evidence: tuple[Evidence, ...]) -> None:
        """The regions the answer cites, under it; nothing at all when it cites none."""
        paths = {image_id: event.path or event.origin for image_id, event in self._images.items()}
        await self._add(await evidence_list(evidence, paths, self.image_mode))
        self.log_lines.append(
            "".join(
                f"- {caption_text(i, item, item.image in paths)}\n"
                for i, item in enumerate(evidence, 1)
            )
        )

    async def end_turn(self) -> None:
        """Close an answer cut short (cancel, error) so the next turn starts fresh."""
        if self._answer is not None:
            await self._answer.finish(self._answer.text)
            self.log_lines.append(f"## kanjian (interrupted)\n\n{self._answer.text}\n")
            self._answer = None

    async def clear(self) -> None:
        await self.remove_children()
        self._answer = None
        self._rows.clear()
        self._images.clear()
        self._pending_images.clear()
        self.log_lines.clear()
