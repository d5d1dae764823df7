"""What ``kanjian batch`` shows on stderr while it runs, and the summary at the end.

On a terminal: a live rich bar with done/total, failures, throughput (tasks/s) and ETA. Not
on a terminal (a log file, CI): no animation, a plain line at the start, one at most every
``every`` seconds, and the summary. Both count what finished, so the summary after Ctrl-C
(when the runner has no summary to return) still says how much was written.

Both implement :class:`agent.batch.BatchProgress`. Updates are cheap on purpose: the bar
redraws from its own timer a few times a second, never once per task, so a fast batch
spends nothing on drawing. The bar lives in :mod:`kanjian.tui.batch_bar`, imported only on a
terminal: rich costs a batch run from a script ~20 ms of start-up for nothing.
"""

from __future__ import annotations

import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from kanjian.agent.batch import BatchSummary
    from kanjian.tui.batch_bar import BarProgress

__all__ = [
    "LineProgress",
    "Tally",
    "format_interrupted",
    "format_summary",
    "make_progress",
]


class Tally:
    """Counts of one batch, kept by the display (read for the summary after an interrupt)."""

    def __init__(self) -> None:
        self.total = 0
        self.skipped = 0
        self.ok = 0
        self.failed = 0
        self.started = time.perf_counter()

    @property
    def finished(self) -> int:
        return self.ok + self.failed

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.finished / elapsed if elapsed > 0 else 0.0

    def start(self, total: int, skipped: int) -> None:
        self.total, self.skipped = total, skipped
        self.started = time.perf_counter()

    def advance(self, ok: bool) -> None:
        self.ok += ok
        self.failed += not ok


class LineProgress(Tally):
    """Plain lines for logs: the start, then a status line at most every ``every`` seconds."""

    def __init__(self, stream: IO[str], every: float = 10.0) -> None:
        super().__init__()
        self._stream = stream
        self._every = every
        self._last = 0.0

    def start(self, total: int, skipped: int) -> None:
        super().start(total, skipped)
        self._last = self.started
        self._stream.write(f"kanjian: running {total} tasks.\n")
        self._stream.flush()

    def advance(self, ok: bool) -> None:
        super().advance(ok)
        now = time.perf_counter()
        if now - self._last >= self._every and self.finished < self.total:
            self._last = now
            self._stream.write(f"kanjian: {self.status()}\n")
            self._stream.flush()

    def status(self) -> str:
        rate = self.rate()
        left = self.total - self.finished
        eta = f", eta {left / rate:.0f} s" if rate > 0 else ""
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.finished}/{self.total} done{failed}, {rate:.1f} tasks/s{eta}."

    def stop(self) -> None:
        pass


def make_progress(stream: IO[str], *, live: bool | None = None) -> BarProgress | LineProgress:
    """The bar when ``stream`` is a terminal (or ``live``), plain lines otherwise."""
    if live is None:
        live = stream.isatty()
    if not live:
        return LineProgress(stream)
    from kanjian.tui.batch_bar import BarProgress

    return BarProgress(stream)


def format_summary(summary: BatchSummary) -> str:
    """One line: ok, failed, skipped, seconds, throughput and the tokens summed."""
    usage = summary.usage
    return (
        f"kanjian: {summary.done} ok, {summary.failed} failed, {summary.skipped} skipped "
        f"in {summary.seconds:.1f} s ({summary.throughput:.1f} tasks/s); tokens: "
        f"{usage['prompt_tokens']} prompt, {usage['completion_tokens']} completion, "
        f"{usage['cached_tokens']} cached."
    )


def format_interrupted(tally: Tally, *, resumable: bool) -> str:
    """What an interrupted batch got done (every finished line is in the output)."""
    left = tally.total - tally.finished
    how = "run the same command again to resume" if resumable else "pass -o to make it resumable"
    return (
        f"kanjian: interrupted after {tally.ok} ok and {tally.failed} failed, "
        f"{left} tasks not run; {how}."
    )
