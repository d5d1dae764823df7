"""The chat app's start, ordered for the first paint.

The first screen needs Textual and this package's widgets only. After it is on the terminal
(and a short settle), :meth:`Startup.run` loads the settings (when ``kanjian chat`` handed
over a loader) and imports httpx and the memory store in a thread, then starts the health
check and the sidebar. Warm-ups follow in the background: one thread imports textual-image
and the agent's modules; the agent is built (backend, tools, memory) and its recall run
once (the embedder's model loaded, the lexical index read), so the first question waits for
none of it. Recall itself
always runs in a thread (:class:`kanjian.memory.api.Memory`), never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from kanjian.tui.i18n import choose_language, t

if TYPE_CHECKING:
    from kanjian.tui.app import KanjianApp

__all__ = ["SETTLE_S", "Startup"]

# After the first frame, how long the screen gets to reach the terminal before heavy work.
SETTLE_S = 0.1


class Startup:
    """What the app does between its first frame and its first question."""

    def __init__(
        self,
        app: KanjianApp,
        *,
        keymap: dict[str, str],
        theme: str | None,
        language_given: bool,
        warm_up: bool,
        status_hint: tuple[str, str] | None,
    ) -> None:
        self.app = app
        # Given to the app, these win over the settings' tui.keymap and tui.theme.
        self._keymap = keymap
        self._theme = theme
        self._language_given = language_given
        self._warm_up = warm_up
        # (server, model) the settings will name, for the first frame (see chat_launch).
        self._status_hint = status_hint
        self._settings_applied = False

    def first_frame(self) -> None:
        """On mount: what the first frame can show; the rest waits for it to be painted."""
        app = self.app
        if app.services.settings_loaded:
            self._settings_ready()
        elif self._status_hint is not None:
            app.status.server, app.status.model = self._status_hint
        app.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        # Textual's writer thread and the terminal still have to put that frame out; a busy
        # import thread started now would hold them up (the GIL) by ~0.1 s.
        self.app.set_timer(SETTLE_S, self._start)

    def _start(self) -> None:
        self.app.run_worker(self.run(), group="start", exit_on_error=False)

    async def run(self) -> None:
        """Settings, health and the sidebar, loaded off the event loop; then ``app.ready``."""
        try:
            await self._run()
        finally:
            self.app.ready.set()

    async def _run(self) -> None:
        app = self.app
        # pydantic, httpx and the memory store's modules take a while to import; on the event
        # loop they would hold up keys and paints. The settings come first, alone: the status
        # bar names the server as soon as they are in, not after every other import.
        try:
            await asyncio.to_thread(app.services.load_settings)
        except Exception as exc:
            if app.services.settings_loaded:
                raise
            # Bad settings: leave, and let the launcher print the sentence.
            app.startup_error = exc
            app.exit(return_code=int(getattr(exc, "exit_code", 1)))
            return
        if not self._settings_applied:
            self._settings_ready()
        await asyncio.to_thread(app.services.preload)
        started = [app.check_health(), app.refresh_sessions("")]
        if self._warm_up:
            app.run_worker(self._warm_imports, thread=True, group="warm-up", exit_on_error=False)
            app.run_worker(self._warm_agent(), group="warm-agent", exit_on_error=False)
        for worker in started:
            await worker.wait()

    def _settings_ready(self) -> None:
        """Apply what the settings say: keymap, theme, server; resume a session if asked."""
        self._settings_applied = True
        app = self.app
        tui = app.services.settings.tui
        if not self._language_given and tui.language != "auto":
            app.apply_language(choose_language(tui.language))
        self._apply_keymap_and_theme(dict(self._keymap or tui.keymap), self._theme or tui.theme)
        app.status.server = app.services.server
        app.status.model = app.services.model
        if app.session_id:
            app.resume_session(app.session_id)

    def _apply_keymap_and_theme(self, keymap: dict[str, str], theme: str) -> None:
        app = self.app
        if keymap:
            app.set_keymap(keymap)
        if theme in app.available_themes:
            app.theme = theme
        else:
            names = ", ".join(sorted(app.available_themes))
            app.notify(t("notify.theme", theme=theme, names=names), severity="warning")

    def _warm_imports(self) -> None:
        """Import the agent and textual-image (in a thread).

        The first question then starts fast, and the first image shows without a wait.
        """
        import importlib

        from kanjian.tui.widgets.graphics import image_widget_class

        image_widget_class(self.app.renderer)
        for name in ("kanjian.agent.loop", "kanjian.vlm.client"):
            # A part not installed shows its own error when first used.
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

    async def _warm_agent(self) -> None:
        # Only a warm-up: a part that fails here says so when it is used.
        with contextlib.suppress(Exception):
            await self.app.services.warm_up()
