"""The status bar (server and model, health, tokens/s, cached and image tokens) and the footer."""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Footer

from kanjian.tui.i18n import t

__all__ = ["ChatFooter", "StatusBar"]

_HEALTH_STYLE = {"ok": "green", "down": "red", "checking": "yellow"}


class StatusBar(Widget):
    """One line; each field is a reactive the app sets as events arrive."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }
    """

    server: reactive[str] = reactive("")
    model: reactive[str] = reactive("")
    health: reactive[str] = reactive("checking")
    activity: reactive[str] = reactive("")
    tokens_per_s: reactive[float] = reactive(0.0)
    cached_tokens: reactive[int] = reactive(0)
    prompt_tokens: reactive[int] = reactive(0)
    image_tokens: reactive[int] = reactive(0)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("● ", style=_HEALTH_STYLE.get(self.health, "yellow"))
        text.append(f"{t('status.health.' + self.health)} ")
        text.append(f"{self.server} · {self.model}")
        if self.activity:
            text.append(f" │ {self.activity}", style="bold")
        text.append(f" │ {t('status.rate', rate=self.tokens_per_s)}")
        text.append(
            f" │ {t('status.cached', cached=self.cached_tokens, prompt=self.prompt_tokens)}"
        )
        text.append(f" │ {t('status.image_tokens', tokens=self.image_tokens)}")
        return text


class ChatFooter(Footer):
    """Textual's footer, with its keys in the first frame.

    Textual's footer waits for the screen's first "bindings changed" signal and fills in its
    keys a frame later, so the first screen would paint without them and the whole screen
    would be laid out and painted again. This one fills itself in as it mounts.
    """

    @on(events.Mount)
    async def _keys_now(self) -> None:
        # Footer.on_mount (subscribing to later changes) runs too; this marks the bindings
        # as ready, as the signal would, and composes the keys now.
        self.bindings_changed(self.screen)
        await self.recompose()
