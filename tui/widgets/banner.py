"""A one-line warning across the top of the chat: no server, server lost, reconnecting."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

__all__ = ["Banner"]


class Banner(Static):
    """Hidden while ``message`` is empty."""

    DEFAULT_CSS = """
    Banner {
        display: none;
        background: $warning 30%;
        color: $text;
        padding: 0 1;
        height: auto;
    }
    Banner.-shown { display: block; }
    """

    message: reactive[str] = reactive("")

    def __init__(self, *, id: str | None = None) -> None:
        # Messages name shell commands with brackets ('kanjian[local]'): no markup.
        super().__init__("", id=id, markup=False)

    def watch_message(self, message: str) -> None:
        self.set_class(bool(message), "-shown")
        self.update(message)
