"""What each slash command does in the chat app (``/image``, ``/ocr``, ``/export``, …).

:mod:`kanjian.tui.slash_commands` holds the table and the parser (no Textual); this module
holds the handlers, one small method per command, which act on the app they are given.
Commands that need no model (``/ocr``, ``/math``, ``/memory``, ``/tools``) run as a worker
and put their result, or their error, inline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

from kanjian.tui.i18n import t
from kanjian.tui.presenter import describe_error
from kanjian.tui.slash_commands import SlashCommand, help_markdown

if TYPE_CHECKING:
    from kanjian.tui.app import KanjianApp

__all__ = ["SlashActions", "export_path"]


def export_path(arg: str, session_id: str | None) -> Path:
    """Where ``/export`` writes: the path given, else a dated file in the current folder."""
    if arg:
        return Path(arg).expanduser()
    return Path.cwd() / f"kanjian-{session_id or 'chat'}-{time.strftime('%Y%m%d-%H%M%S')}.md"


class SlashActions:
    """The handlers of the slash commands, for one app."""

    def __init__(self, app: KanjianApp) -> None:
        self.app = app

    async def run(self, name: str, arg: str) -> None:
        """Run ``/name arg`` (``name`` comes from the parser, so it is a known command)."""
        handler = getattr(self, f"_slash_{name}")
        await handler(arg)

    def from_palette(self, command: SlashCommand) -> None:
        """From the command palette: fill the prompt when an argument is needed, else run."""
        prompt = self.app.prompt
        if command.needs_arg:
            prompt.load_text(f"/{command.name} ")
            prompt.move_cursor(prompt.document.end)
            prompt.focus()
        else:
            self.app.call_later(self.run, command.name, "")

    def direct(self, what: str, job: Awaitable[str]) -> None:
        """A command that needs no model: its Markdown result or its error, inline."""
        self.app.run_worker(self._direct(what, job), group="direct", exit_on_error=False)

    async def _direct(self, what: str, job: Awaitable[str]) -> None:
        app = self.app
        app.status.activity = t("activity.direct", what=what)
        try:
            await app.transcript.add_note(await job, kind="direct")
        except Exception as exc:
            await app.transcript.add_error(describe_error(exc))
        finally:
            app.watch_busy(app.busy)

    async def _error(self, key: str) -> None:
        await self.app.transcript.add_error(t(key))

    # -- the commands ----------------------------------------------------------------------

    async def _slash_image(self, arg: str) -> None:
        if not arg:
            await self._error("error.image_needs_path")
            return
        await self.app.attach(arg.strip("'\""))

    async def _slash_paste(self, arg: str) -> None:
        self.app.paste_from_clipboard()

    async def _slash_ocr(self, arg: str) -> None:
        path = arg.strip("'\"") or self._latest_image()
        if not path:
            await self._error("error.ocr_needs_image")
            return
        self.direct(t("direct.ocr"), self.app.services.ocr(path))

    async def _slash_math(self, arg: str) -> None:
        if not arg:
            await self._error("error.math_needs_expr")
            return
        self.direct(t("direct.math"), self.app.services.math(arg))

    async def _slash_memory(self, arg: str) -> None:
        if not arg:
            await self._error("error.memory_needs_query")
            return
        self.direct(t("direct.memory"), self.app.services.memory_markdown(arg))

    async def _slash_tools(self, arg: str) -> None:
        self.direct(t("direct.tools"), self.app.services.tools_markdown())

    async def _slash_model(self, arg: str) -> None:
        app = self.app
        health = t(f"status.health.{app.status.health}")
        await app.transcript.add_note(
            t("note.model", server=app.services.server, model=app.status.model, health=health)
        )

    async def _slash_new(self, arg: str) -> None:
        await self.app.new_conversation()

    async def _slash_resume(self, arg: str) -> None:
        if not arg:
            self.app.show_sessions()
            return
        self.app.resume_session(arg)

    async def _slash_export(self, arg: str) -> None:
        app = self.app
        target = export_path(arg, app.session_id)
        text = "\n\n".join(app.transcript.log_lines) + "\n"
        try:
            await asyncio.to_thread(target.write_text, text, encoding="utf-8")
        except OSError as exc:
            await app.transcript.add_error(t("error.export", path=str(target), reason=exc.strerror))
            return
        app.notify(t("notify.saved", target=target))

    async def _slash_help(self, arg: str) -> None:
        keys = [
            (binding.key, binding.description)
            for _key, binding in self.app._bindings
            if binding.description and binding.id and binding.id.startswith("kanjian.")
        ]
        keys += [
            ("enter", t("key.send")),
            ("ctrl+j", t("key.newline")),
            ("up/down", t("key.history")),
            ("ctrl+p", t("key.palette")),
        ]
        await self.app.transcript.add_note(help_markdown(keys))

    async def _slash_quit(self, arg: str) -> None:
        self.app.exit()

    def _latest_image(self) -> str | None:
        """The image ``/ocr`` reads without a path: the one queued last, else the last shown."""
        if self.app.pending:
            return self.app.pending[-1][1]
        views = self.app.transcript.query("ImageView")
        return str(views.last().path) if views else None  # type: ignore[attr-defined]
