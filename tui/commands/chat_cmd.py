"""``kanjian chat [IMAGE ...] [--resume ID] [--url URL]``: the terminal chat app.

Only typer at import time; Textual, the app and everything behind it load in the command body.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tui.app import KanjianApp

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
) -> None:
    """Chat about images in the terminal (Enter sends; Ctrl+J adds a line; Esc cancels)."""
    from tui.runner import fail

    if images_as not in ("auto", "halfcell", "unicode", "none"):
        fail(f"--images {images_as!r} is not a mode; use auto, halfcell, unicode or none.")
    for path in images or []:
        if not path.is_file():
            fail(f"No image file at {str(path)!r}; check the path.")
    app = _build_app(images or [], resume, url, theme, images_as)
    app.run()


def _build_app(
    images: list[Path], resume: str | None, url: str | None, theme: str | None, images_as: str
) -> KanjianApp:
    from agent.config import load_settings
    from agent.errors import ConfigError
    from tui.runner import fail

    try:
        settings = load_settings({"vlm.url": url, "tui.theme": theme})
    except ConfigError as exc:
        fail(str(exc), exc.exit_code)
    if images_as != "none":
        from tui.widgets.image_view import probe_terminal

        # textual-image asks the terminal what it can draw; Textual must not be running yet.
        probe_terminal()
    from tui.app import KanjianApp
    from tui.chat_controller import ChatServices

    return KanjianApp(
        ChatServices(settings),
        attachments=images,
        resume=resume,
        image_mode=images_as,
        keymap=settings.tui.keymap,
        theme=settings.tui.theme,
    )


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
