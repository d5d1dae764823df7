"""How plugin code runs: sync functions in daemon threads, and ``print()`` sent to stderr.

Two promises to the user, whatever a plugin does:

- **A hung sync tool never keeps kanjian alive.** ``asyncio.to_thread`` runs a function on
  the loop's default executor, whose threads Python joins at exit (and ``asyncio.run`` waits
  for before it returns): a ``while True`` tool made ``ask``, ``batch`` and ``tools run`` hang
  after their answer, and a second Ctrl-C died in a traceback. :func:`in_daemon_thread` runs
  each call on a daemon thread of its own instead; a call past its timeout is abandoned, and
  the process exits when its work is done.
- **stdout is kanjian's.** ``ask --json`` and ``batch`` print JSON there; a plugin's
  ``print()`` would break it. While plugin code runs (importing, registering, one call),
  :func:`plugin_code` marks the running context, and the stdout installed by
  :func:`route_plugin_prints` sends writes made in a marked context to stderr. The mark is a
  context variable, so a plugin running in one task never redirects another task's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

__all__ = ["in_daemon_thread", "plugin_code", "route_plugin_prints"]

T = TypeVar("T")

_IN_PLUGIN: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kanjian_in_plugin", default=False
)


async def in_daemon_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` on a new daemon thread, in a copy of this context.

    Cancelling the await abandons the thread: it runs on, but nothing waits for it, not even
    the interpreter at exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return  # abandoned (timed out or cancelled)
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def work() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = context.run(function, *args, **kwargs)
        except BaseException as exc:  # handed to the awaiting task, whatever it is
            error = exc
        # RuntimeError: the loop is closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, error)

    name = f"kanjian-tool {getattr(function, '__name__', 'call')}"
    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


class _RoutedStdout:
    """stdout that sends writes from plugin code to stderr; everything else passes through."""

    def __init__(self, stdout: TextIO) -> None:
        self._stdout = stdout

    def _target(self) -> TextIO:
        return sys.stderr if _IN_PLUGIN.get() else self._stdout

    def write(self, text: str) -> int:
        return self._target().write(text)

    def writelines(self, lines: Any) -> None:
        self._target().writelines(lines)

    def flush(self) -> None:
        self._stdout.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stdout, name)


def route_plugin_prints() -> None:
    """Install the routing stdout (once; a no-op when it is already in place)."""
    if not isinstance(sys.stdout, _RoutedStdout) and sys.stdout is not None:
        sys.stdout = _RoutedStdout(sys.stdout)  # type: ignore[assignment]


@contextmanager
def plugin_code() -> Iterator[None]:
    """Mark the code run inside as a plugin's: its ``print()`` goes to stderr."""
    route_plugin_prints()
    token = _IN_PLUGIN.set(True)
    try:
        yield
    finally:
        _IN_PLUGIN.reset(token)
