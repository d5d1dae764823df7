"""The slash commands in Textual's command palette (Ctrl+P), through one :class:`Provider`."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from kanjian.tui.slash_commands import SLASH_COMMANDS, SlashCommand

if TYPE_CHECKING:
    from kanjian.tui.app import KanjianApp

__all__ = ["SlashCommandProvider"]


class SlashCommandProvider(Provider):
    """Every ``/command``; ones that need an argument fill the prompt instead of running."""

    def _run(self, command: SlashCommand) -> None:
        app: KanjianApp = self.app  # type: ignore[assignment]
        app.palette_command(command)

    async def discover(self) -> Hits:
        for command in SLASH_COMMANDS:
            yield DiscoveryHit(
                f"/{command.name}", partial(self._run, command), help=command.description
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in SLASH_COMMANDS:
            name = f"/{command.name}"
            # Both languages' words find a command: 'paste' and '粘贴' alike.
            score = matcher.match(f"{name} {command.description} {command.help}")
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self._run, command),
                    help=command.description,
                )
