"""The approval dialog: a side-effect tool waits for the user's yes or no.

The agent's approver awaits this screen's result. Text the tools returned never reaches this
dialog as an instruction: it shows only the tool's name and the arguments the model chose.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from kanjian.tui.i18n import t, translate_bindings

if TYPE_CHECKING:
    from kanjian.agent.events import ApprovalRequest

__all__ = ["ApprovalScreen"]


class ApprovalScreen(ModalScreen[bool]):
    """Dismisses with True (allow) or False (deny, also Esc)."""

    DEFAULT_CSS = """
    ApprovalScreen { align: center middle; }
    ApprovalScreen > Vertical {
        width: 70; max-width: 95%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    ApprovalScreen .args { color: $text-muted; margin: 1 0; }
    ApprovalScreen Horizontal { height: auto; align-horizontal: right; }
    ApprovalScreen Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Allow", id="kanjian.approve"),
        Binding("n,escape", "answer(False)", "Deny", id="kanjian.deny"),
    ]

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__()
        translate_bindings(self)
        self.request = request

    def compose(self) -> Any:
        args = json.dumps(self.request.args, ensure_ascii=False, indent=2)
        with Vertical():
            yield Static(t("approval.question", tool=self.request.tool), markup=False)
            yield Static(args, classes="args", markup=False)
            with Horizontal():
                yield Button(t("approval.deny"), id="deny", variant="error")
                yield Button(t("approval.allow"), id="allow", variant="success")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "allow")

    def action_answer(self, allow: bool) -> None:
        self.dismiss(allow)
