"""How every command turns errors into one sentence on stderr and an exit code.

Commands run their async body through :func:`run`; any kanjian error (from `vlm`, `tools`,
`agent` or `memory`) is printed as ``kanjian: <sentence>`` and exits with its
``exit_code`` (2 = bad usage or input, 1 = the task failed). Ctrl-C exits 130 quietly. A
bug still surfaces as a traceback only with ``KANJIAN_DEBUG=1``; otherwise it too becomes a
sentence, with the pointer to report it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer

__all__ = ["error_exit_code", "fail", "run"]

T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one sentence on stderr and exit."""
    typer.echo(f"kanjian: {message}", err=True)
    raise typer.Exit(code)


def error_exit_code(exc: BaseException) -> int | None:
    """The exit code of a kanjian error, or None when ``exc`` is not one of ours."""
    from kanjian.vlm.errors import KanjianError

    return exc.exit_code if isinstance(exc, KanjianError) else None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's async body; translate errors for people."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        typer.echo("kanjian: interrupted.", err=True)
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        code = error_exit_code(exc)
        if code is not None:
            fail(str(exc), code)
        if os.environ.get("KANJIAN_DEBUG"):
            raise
        fail(
            f"internal error ({type(exc).__name__}: {exc}); rerun with KANJIAN_DEBUG=1 "
            "and report it.",
            1,
        )


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
