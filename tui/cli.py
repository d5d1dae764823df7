"""The ``kanjian`` command line.

Each command group lives in its own module under :mod:`tui.commands` and adds itself with a
``register(app)`` function. Those modules import only typer at import time; everything heavy
(httpx, LangChain, RapidOCR, chromadb, torch) is imported inside the command bodies, so
``kanjian --help`` stays instant.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

COMMAND_MODULES = (
    "tui.commands.chat_cmd",
    "tui.commands.ask_cmd",
    "tui.commands.batch_cmd",
    "tui.commands.direct_cmd",
    "tui.commands.tools_cmd",
    "tui.commands.memory_cmd",
    "tui.commands.doctor_cmd",
    "tui.commands.serve_cmd",
)

app = typer.Typer(
    name="kanjian",
    help="看见 kanjian — a terminal assistant that sees (InternVL 1.5 on SGLang).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not built yet
        module.register(app)


_register_commands()


def main() -> None:
    app()
