"""Putting one agent run on the screen: each event to the transcript or the status bar.

The app's ``turn`` worker hands every event of the run to :meth:`EventPresenter.show`, in
order. The presenter keeps what spans events (the live tokens/s estimate) and nothing else:
the widgets hold the conversation. It also words errors for the transcript
(:func:`describe_error`), the one place where an exception becomes a sentence in the app.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from kanjian.tui.i18n import t

if TYPE_CHECKING:
    from kanjian.agent.events import Event, ImageAdded, RecallEvent, RunFinished, UsageEvent
    from kanjian.tui.app import KanjianApp

__all__ = ["EventPresenter", "describe_error"]

# Warnings a finished run may carry in ``RunFinished.extra`` (as ``kanjian ask`` prints them):
# the answer is on screen, but the turn was not kept.
RUN_WARNINGS = ("session_error", "memory_error")


def describe_error(exc: BaseException) -> str:
    """One sentence for an error inside the transcript: ours as is, others with their type."""
    from kanjian.vlm.errors import KanjianError

    if isinstance(exc, KanjianError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class EventPresenter:
    """Shows the events of the app's runs; one per app."""

    def __init__(self, app: KanjianApp) -> None:
        self.app = app
        self._stream_started = 0.0
        self._stream_deltas = 0
        self._rate_shown = 0.0

    def start_run(self) -> None:
        """A new run begins: the tokens/s estimate starts over."""
        self._stream_deltas = 0

    async def show(self, event: Event) -> None:
        """Put one agent event on the screen."""
        from kanjian.agent import events as ev

        app = self.app
        transcript = app.transcript
        if isinstance(event, ev.ImageAdded):
            await self.image_added(event)
        elif isinstance(event, ev.RecallEvent):
            await self._recalled(event)
        elif isinstance(event, ev.StepStarted):
            app.status.activity = t("activity.step", step=event.step)
        elif isinstance(event, ev.Thought):
            await transcript.add_thought(event.text)
        elif isinstance(event, ev.ToolCallEvent):
            app.status.activity = t("activity.running", tool=event.tool)
            await transcript.start_tool(event)
        elif isinstance(event, ev.ApprovalRequest):
            app.status.activity = t("activity.approval", tool=event.tool)
        elif isinstance(event, ev.ToolResultEvent):
            await transcript.finish_tool(event)
        elif isinstance(event, ev.AnswerDelta):
            self._count_delta()
            await transcript.answer_delta(event.text)
        elif isinstance(event, ev.AnswerDone):
            await transcript.answer_done(event.text, event.evidence)
        elif isinstance(event, ev.UsageEvent):
            self._usage(event)
        elif isinstance(event, ev.ErrorEvent):
            await transcript.end_turn()
            await transcript.add_error(event.message)
        elif isinstance(event, ev.RunFinished):
            await self._finished(event)

    async def image_added(self, event: ImageAdded) -> None:
        """An image entered the conversation: count it, cost it, show it."""
        app = self.app
        number = event.image_id.removeprefix("image_")
        if number.isdigit():
            app.image_count = max(app.image_count, int(number))
        # A figure the status bar can do without, should tiling be unavailable.
        with contextlib.suppress(ImportError, ValueError):
            app.status.image_tokens += app.services.image_tokens(event.width, event.height)
        await app.transcript.add_image(event)

    async def _recalled(self, event: RecallEvent) -> None:
        # Nothing passed the gate: nothing to show (the row is there only when notes went in).
        if not event.recalled:
            return
        sessions = await self.app.services.recalled_sessions(event.recalled)
        await self.app.transcript.add_recalled(sessions)

    async def _finished(self, event: RunFinished) -> None:
        self.app.session_id = event.session or self.app.session_id
        # The turn is remembered now: the sidebar lists its conversation.
        self.app.refresh_sessions(self.app.session_query)
        # The answer is shown; say so when it was not kept, as `kanjian ask` does on stderr.
        for key in RUN_WARNINGS:
            note = event.extra.get(key)
            if note:
                await self.app.transcript.add_warning(str(note))
                self.app.notify(str(note), severity="warning")

    def _count_delta(self) -> None:
        now = time.perf_counter()
        if self._stream_deltas == 0:
            self._stream_started = now
        self._stream_deltas += 1
        elapsed = now - self._stream_started
        # A few updates a second are plenty to read; one per token would repaint the bar
        # hundreds of times a second.
        if elapsed > 0.2 and now - self._rate_shown >= 0.25:
            self._rate_shown = now
            # Servers stream about one token per chunk: a live estimate until usage arrives.
            self.app.status.tokens_per_s = self._stream_deltas / elapsed

    def _usage(self, event: UsageEvent) -> None:
        usage = event.usage
        status = self.app.status
        status.prompt_tokens = usage.prompt_tokens
        status.cached_tokens = usage.cached_tokens
        if event.seconds > 0 and usage.completion_tokens:
            status.tokens_per_s = usage.completion_tokens / event.seconds
