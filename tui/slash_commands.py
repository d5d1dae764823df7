"""The chat app's slash commands: their table, the parser, and path completion for ``/image``.

Pure functions and data, no Textual, so the input widget, the command palette and the help
text all read the same table and the parsing rules are tested on their own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from kanjian.tui.i18n import t

__all__ = [
    "IMAGE_SUFFIXES",
    "SLASH_COMMANDS",
    "SlashCommand",
    "complete_command",
    "complete_path",
    "help_markdown",
    "image_path_in",
    "parse_slash",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True, slots=True)
class SlashCommand:
    name: str
    # Shown after the name in help, e.g. "PATH".
    usage: str
    # What it does, in English (the catalogue's ``cmd.NAME`` is what the app shows).
    help: str
    # Whether the palette should fill the input and wait for an argument instead of running.
    needs_arg: bool = False

    @property
    def description(self) -> str:
        """What it does, in the app's language."""
        return t(f"cmd.{self.name}")


SLASH_COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("image", "PATH", "attach an image to the next question (Tab completes)", True),
    SlashCommand("paste", "", "attach the image on the system clipboard (Ctrl+Shift+V)"),
    SlashCommand("ocr", "[PATH]", "read the text in an image (no model needed)"),
    SlashCommand("math", "EXPR", "solve or simplify with SymPy (no model needed)", True),
    SlashCommand("new", "", "start a new conversation"),
    SlashCommand("resume", "ID", "resume a past conversation with its images", True),
    SlashCommand("memory", "QUERY", "search past conversations", True),
    SlashCommand("tools", "", "list the tools the agent can use"),
    SlashCommand("model", "", "show the server, the model and its health"),
    SlashCommand("export", "[PATH]", "save this conversation as Markdown"),
    SlashCommand("help", "", "show these commands and the keys"),
    SlashCommand("quit", "", "leave kanjian"),
)
_BY_NAME = {c.name: c for c in SLASH_COMMANDS}
_ATTACHMENT_TOKENS = re.compile(r"^(?:\[image_\d+\]\s*)+")


def parse_slash(text: str) -> tuple[str, str] | None:
    """``("image", "cat.png")`` for ``"/image cat.png"``; None when ``text`` is not a command.

    A leading ``//`` escapes a question that really starts with a slash. Attachment tokens
    (``[image_1] /math 2+2``) typed before a command do not hide it.
    """
    stripped = _ATTACHMENT_TOKENS.sub("", text.strip())
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None
    name, _, arg = stripped[1:].partition(" ")
    if name.lower() not in _BY_NAME:
        return None
    return name.lower(), arg.strip()


def complete_command(prefix: str) -> list[str]:
    """Command names (with the slash) that start with ``prefix`` (``"/im"`` → ``["/image"]``)."""
    word = prefix.lstrip("/").lower()
    return [f"/{c.name}" for c in SLASH_COMMANDS if c.name.startswith(word)]


def complete_path(partial: str, cwd: Path | None = None) -> tuple[str, list[str]]:
    """Complete a file path the way a shell does: the longest common completion and the choices.

    Directories complete with a trailing ``/``; hidden entries appear only when the partial
    name starts with a dot.
    """
    base = Path(cwd) if cwd else Path.cwd()
    expanded = os.path.expanduser(partial) if partial else ""
    head, sep, name = expanded.rpartition("/")
    folder = Path(head or "/") if sep else Path(".")
    search = folder if folder.is_absolute() else base / folder
    try:
        entries = sorted(os.scandir(search), key=lambda e: e.name)
    except OSError:
        return partial, []
    choices = [
        e.name + ("/" if e.is_dir() else "")
        for e in entries
        if e.name.startswith(name) and (name.startswith(".") or not e.name.startswith("."))
    ]
    if not choices:
        return partial, []
    # A character-wise prefix is the point here: it is what the shell completes to.
    common = os.path.commonprefix(choices)  # noqa: RUF071
    prefix = partial[: len(partial) - len(name)] if name else partial
    return prefix + common, choices


def image_path_in(text: str, cwd: Path | None = None) -> Path | None:
    """The image file that pasted ``text`` names (quotes and ``file://`` stripped), or None."""
    candidate = text.strip().strip("'\"")
    candidate = candidate.removeprefix("file://")
    if not candidate or "\n" in candidate:
        return None
    path = Path(os.path.expanduser(candidate))
    if not path.is_absolute() and cwd is not None:
        path = cwd / path
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return path
    return None


def help_markdown(keys: list[tuple[str, str]]) -> str:
    """The ``/help`` text: every command, then the key bindings ``(key, what)``."""
    lines = [f"**{t('help.commands')}**", ""]
    lines += [
        f"- `/{c.name}{' ' + c.usage if c.usage else ''}` — {c.description}" for c in SLASH_COMMANDS
    ]
    lines += ["", f"**{t('help.keys')}**", ""]
    lines += [f"- `{key}` — {what}" for key, what in keys]
    return "\n".join(lines)
