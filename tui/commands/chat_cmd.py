"""``kanjian chat [IMAGE ...] [--resume ID] [--url URL]``: the terminal chat app.

Only typer at import time. The plain forms of ``kanjian chat`` never come here: the console
script hands them to :mod:`kanjian.tui.chat_launch` without loading typer at all (see
:func:`tui.cli.main`). This command serves ``--help``, argument errors and callers that go
through the typer app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["chat", "register"]


def chat(
    images: Annotated[
        list[Path] | None,
        typer.Argument(help="Images to attach to the first question (image_1, image_2, ...)."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", "-r", help="Continue a past conversation by its id.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="The model server (default: KANJIAN_URL or config).")
    ] = None,
    theme: Annotated[str | None, typer.Option("--theme", help="A Textual theme name.")] = None,
    images_as: Annotated[
        str,
        typer.Option(
            "--images",
            help="How to draw images: auto (Kitty/Sixel/half-cell), halfcell, unicode or none.",
        ),
    ] = "auto",
    no_recall: Annotated[
        bool, typer.Option("--no-recall", help="Recall no past turns (still remember them).")
    ] = False,
) -> None:
    """Chat about images in the terminal (Enter sends; Ctrl+J adds a line; Esc cancels)."""
    from kanjian.tui.chat_launch import ChatArgs, ChatLaunchError, launch
    from kanjian.tui.runner import fail

    args = ChatArgs(tuple(images or ()), resume, url, theme, images_as, no_recall)
    try:
        launch(args)
    except ChatLaunchError as exc:
        fail(str(exc), exc.exit_code)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
