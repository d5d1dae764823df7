"""The question box: multi-line, with history, path completion and image paste.

Enter sends; Ctrl+J (or Shift+Enter, where the terminal tells them apart) adds a line. Up on
the first line and Down on the last walk the history. Tab completes slash command names and,
after ``/image ``, file paths. Pasting the path of an image file attaches it instead of
inserting the text.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static, TextArea

from kanjian.tui.i18n import t
from kanjian.tui.slash_commands import complete_command, complete_path, image_path_in

__all__ = ["AttachmentBar", "PromptInput"]


class PromptInput(TextArea):
    """Posts :class:`Submitted` with the text, :class:`AttachRequested` for a pasted image path."""

    DEFAULT_CSS = """
    PromptInput { height: auto; min-height: 3; max-height: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j", "newline", "New line", show=False, id="kanjian.newline"),
        Binding("shift+enter", "newline", "New line", show=False),
        Binding("tab", "complete", "Complete", show=False, id="kanjian.complete"),
    ]

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class AttachRequested(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    def __init__(self, *, history: list[str] | None = None, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self.past: list[str] = list(history or [])
        # len(history) means "the line being written", not a history entry.
        self._history_index = len(self.past)
        self._draft = ""
        self.completions: list[str] = []

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        await super()._on_key(event)

    async def _on_paste(self, event: events.Paste) -> None:
        path = image_path_in(event.text, Path.cwd())
        if path is not None:
            event.stop()
            event.prevent_default()
            self.post_message(self.AttachRequested(path))
            return
        await super()._on_paste(event)

    def action_submit(self) -> None:
        text = self.text.strip()
        if not text:
            return
        if not self.past or self.past[-1] != text:
            self.past.append(text)
        self._history_index = len(self.past)
        self._draft = ""
        self.clear()
        self.post_message(self.Submitted(text))

    def action_newline(self) -> None:
        self.insert("\n")

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0 and self._history_index > 0:
            if self._history_index == len(self.past):
                self._draft = self.text
            self._history_index -= 1
            self._show(self.past[self._history_index])
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        last_row = self.document.line_count - 1
        if (
            not select
            and self.cursor_location[0] == last_row
            and self._history_index < len(self.past)
        ):
            self._history_index += 1
            at_draft = self._history_index == len(self.past)
            self._show(self._draft if at_draft else self.past[self._history_index])
            return
        super().action_cursor_down(select)

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def action_complete(self) -> None:
        text = self.text
        if text.startswith("/image ") or text.startswith("/ocr "):
            command, _, partial = text.partition(" ")
            completed, self.completions = complete_path(partial, Path.cwd())
            self._show(f"{command} {completed}")
        elif text.startswith("/") and " " not in text:
            self.completions = complete_command(text)
            if len(self.completions) == 1:
                self._show(self.completions[0] + " ")
        else:
            self.screen.focus_next()
            return
        if len(self.completions) > 1:
            self.notify("  ".join(self.completions[:20]), title=t("notify.completions"), timeout=4)


class AttachmentBar(Static):
    """``[image_3] cat.png  [image_4] plot.png`` — what goes with the next question."""

    DEFAULT_CSS = """
    AttachmentBar { height: auto; color: $accent; padding: 0 1; display: none; }
    AttachmentBar.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def show(self, attachments: list[tuple[str, str]]) -> None:
        self.set_class(bool(attachments), "-shown")
        self.update("  ".join(f"[{name}] {Path(path).name}" for name, path in attachments))
