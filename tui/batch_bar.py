"""The live bar of ``kanjian batch`` on a terminal (see :mod:`kanjian.tui.batch_progress`)."""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from kanjian.tui.batch_progress import Tally

__all__ = ["BarProgress"]


class _RateColumn(ProgressColumn):
    """Tasks per second over rich's recent-speed window (steadier than one-task deltas)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} tasks/s" if speed else "– tasks/s", style="progress.data.speed")


class BarProgress(Tally):
    """A live bar on a terminal; the bar redraws itself 4 times a second."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]}", justify="right"),
            _RateColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=Console(file=stream, stderr=True),
            refresh_per_second=4,
            transient=True,
        )
        self._task: TaskID | None = None

    def start(self, total: int, skipped: int) -> None:
        super().start(total, skipped)
        self._task = self._progress.add_task("batch", total=total, failed="")
        self._progress.start()

    def advance(self, ok: bool) -> None:
        super().advance(ok)
        if self._task is None:
            return
        failed = f"{self.failed} failed" if self.failed else ""
        self._progress.update(self._task, advance=1, failed=failed)

    def stop(self) -> None:
        self._progress.stop()
