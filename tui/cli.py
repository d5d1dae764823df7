"""The ``kanjian`` command line.

Each command group lives in its own module under :mod:`kanjian.tui.commands` and adds itself with a
``register(app)`` function. Those modules import only typer at import time; everything heavy
(httpx, LangChain, RapidOCR, chromadb, torch) is imported inside the command bodies, so
``kanjian --help`` stays instant.

``kanjian chat`` starts without typer: :func:`main` hands its plain forms to
:mod:`kanjian.tui.chat_launch`, so the first screen is not kept waiting for typer, click and the
other command modules. The typer app (``tui.cli.app``) is built on first access.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    # Built on first access by the module __getattr__ below.
    app: typer.Typer

__all__ = ["app", "build_app", "main"]

COMMAND_MODULES = (
    "kanjian.tui.commands.chat_cmd",
    "kanjian.tui.commands.ask_cmd",
    "kanjian.tui.commands.batch_cmd",
    "kanjian.tui.commands.direct_cmd",
    "kanjian.tui.commands.tools_cmd",
    "kanjian.tui.commands.memory_cmd",
    "kanjian.tui.commands.doctor_cmd",
    "kanjian.tui.commands.serve_cmd",
    "kanjian.tui.commands.mcp_cmd",
)


@cache
def build_app() -> typer.Typer:
    """The typer app with every command group registered (made once)."""
    import typer

    cli = typer.Typer(
        name="kanjian",
        help="看见 kanjian — a terminal assistant that sees (InternVL 1.5 on SGLang).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode=None,
    )
    _register_commands(cli)
    return cli


def _register_commands(cli: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not built yet
        module.register(cli)


def __getattr__(name: str) -> Any:
    # `from tui.cli import app` (tests, docs) gets the typer app, built on first access.
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["chat"]:
        from kanjian.tui.chat_launch import launch_or_exit, parse_chat_args

        args = parse_chat_args(argv[1:])
        if args is not None:
            launch_or_exit(args)
            return
    try:
        build_app()()
    except SystemExit as done:
        _exit(done.code)


def _exit(code: object) -> None:
    """End the process as ``sys.exit(code)`` would, without tearing the interpreter down.

    Freeing every object of the ~600 modules a command imported costs 0.1-0.3 s at exit
    (``kanjian batch`` on a loaded 2-core machine), for a process that is about to vanish.
    What an exit must still do is done here: the atexit handlers run (logging, libraries)
    and stdout and stderr are flushed. A thread still running (a library's) gets the
    normal exit, which waits for it.
    """
    import atexit
    import os
    import threading

    if threading.active_count() > 1:
        raise SystemExit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            status = status or 1
    os._exit(status)
