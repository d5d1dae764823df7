"""The sidebar of past conversations: a search box over a list; selecting one resumes it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from kanjian.tui.chat_controller import SessionSummary
from kanjian.tui.i18n import t

__all__ = ["SessionSidebar"]


class SessionSidebar(Vertical):
    """The app sets ``sessions``; the sidebar posts :class:`Search` and :class:`Selected`."""

    DEFAULT_CSS = """
    SessionSidebar { width: 30; dock: left; border-right: vkey $primary 50%; }
    SessionSidebar > Input { margin: 0; }
    SessionSidebar > OptionList { height: 1fr; border: none; }
    """

    sessions: reactive[tuple[SessionSummary, ...]] = reactive(())

    class Search(Message):
        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class Selected(Message):
        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    def compose(self) -> Any:
        yield Input(placeholder=t("sidebar.search"), id="session-search")
        yield OptionList(id="session-list")

    def watch_sessions(self, sessions: tuple[SessionSummary, ...]) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        if not sessions:
            options.add_option(Option(t("sidebar.empty"), disabled=True))
            return
        options.add_options(
            Option(
                Text.assemble(
                    s.title[:40],
                    "\n",
                    (t("sidebar.turns", created=s.created[:16], turns=s.turns), "dim"),
                ),
                id=s.id,
            )
            for s in sessions
        )

    def retranslate(self) -> None:
        """Show the placeholder and the list in the current language."""
        self.query_one(Input).placeholder = t("sidebar.search")
        self.watch_sessions(self.sessions)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Search(event.value))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Selected(event.option.id))
