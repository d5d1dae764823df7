"""The "recalled" row: which earlier conversations memory put into this one's prompt.

When the agent recalls past turns into a new conversation (``RecallEvent`` with turns that
passed the gate), the transcript shows one collapsed row, ``▸ recalled 2 earlier
conversations``. Enter (or a click) on it expands it: each past session by its title, date
and score, best first. Enter on one posts :class:`RecallRow.Selected`, and the app opens it
as the session picker does. When nothing was recalled there is no row at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size
from textual.message import Message
from textual.widgets import Collapsible, OptionList, Static
from textual.widgets.option_list import Option

from kanjian.tui.chat_controller import RecalledSession
from kanjian.tui.i18n import t

__all__ = ["RecallRow", "recall_item", "recall_title"]

# A title wider than this (terminal cells: a Chinese character takes two) is cut, so that
# each session takes one line beside its date and score.
TITLE_CELLS = 36


def recall_title(count: int) -> str:
    """``recalled 2 earlier conversations`` in the app's language."""
    return t("recall.title.one" if count == 1 else "recall.title.many", count=count)


def recall_item(session: RecalledSession) -> str:
    """One past session as the expanded row lists it: title · date · score (one line)."""
    created = session.created[:10] or "—"
    title = session.title
    if cell_len(title) > TITLE_CELLS:
        title = set_cell_size(title, TITLE_CELLS - 1).rstrip() + "…"
    return t("recall.item", title=title, created=created, score=session.score)


class RecallRow(Collapsible):
    """The sessions memory recalled into this conversation, collapsed until asked for."""

    DEFAULT_CSS = """
    RecallRow OptionList, RecallRow OptionList:focus {
        height: auto; max-height: 8; border: none; padding: 0 1;
    }
    """

    class Selected(Message):
        """The user chose a recalled session to open."""

        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    def __init__(self, sessions: Sequence[RecalledSession]) -> None:
        self.sessions = tuple(sessions)
        options = OptionList(
            *(Option(recall_item(s), id=s.id) for s in self.sessions), classes="recall-sessions"
        )
        hint = Static(t("recall.hint"), classes="recall-hint", markup=False)
        super().__init__(
            hint,
            options,
            title=recall_title(len(self.sessions)),
            collapsed=True,
            collapsed_symbol="▸",
            expanded_symbol="▾",
        )
        self.add_class("recall-row")

    def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        # Straight to the list: Enter expands, the arrows choose, Enter opens.
        if event.collapsible is self:
            options = self.query_one(OptionList)
            options.highlighted = 0
            options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Selected(event.option.id))
