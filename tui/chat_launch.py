"""Starting ``kanjian chat``: its arguments, read without typer, and the launch itself.

``kanjian chat`` is the one command whose start people watch, so :func:`tui.cli.main` sends
the plain forms of it here without importing typer, click or the other commands:
:func:`parse_chat_args` understands images, ``--resume/-r``, ``--url``, ``--theme``,
``--images`` and ``--no-recall`` (with ``--opt value``, ``--opt=value`` and ``-rVALUE``, in any order, ``--``
ending the options) and returns None for anything else — ``--help``, an unknown option, a
missing value — so typer handles those and prints its usual help or error. The typer
command in :mod:`kanjian.tui.commands.chat_cmd` calls the same :func:`launch`.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from kanjian.vlm.errors import KanjianError

if TYPE_CHECKING:
    from kanjian.agent.config import Settings
    from kanjian.tui.app import KanjianApp

__all__ = [
    "ChatArgs",
    "ChatLaunchError",
    "launch",
    "launch_or_exit",
    "parse_chat_args",
    "peek_setting",
]

IMAGE_MODES = ("auto", "halfcell", "unicode", "none")
_OPTIONS = {
    "--resume": "resume",
    "-r": "resume",
    "--url": "url",
    "--theme": "theme",
    "--images": "images_as",
}
# Options that take no value.
_SWITCHES = {"--no-recall": "no_recall"}


@dataclass(frozen=True, slots=True)
class ChatArgs:
    """What ``kanjian chat`` was asked for."""

    images: tuple[Path, ...] = ()
    resume: str | None = None
    url: str | None = None
    theme: str | None = None
    images_as: str = "auto"
    # --no-recall: memory.recall = "off" for this app (turns are still remembered).
    no_recall: bool = False


class ChatLaunchError(KanjianError):
    """A bad argument or setting: one sentence for stderr and the exit code (2 = usage)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_chat_args(argv: Sequence[str]) -> ChatArgs | None:
    """The arguments after ``chat``, or None when typer should handle them (help, errors)."""
    options: dict[str, str] = {}
    switches: set[str] = set()
    images: list[Path] = []
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        if word == "--":
            images += [Path(w) for w in rest]
            break
        if not word.startswith("-") or word == "-":
            images.append(Path(word))
            continue
        if word in _SWITCHES:
            switches.add(_SWITCHES[word])
            continue
        option = _option(word, rest)
        if option is None:
            return None
        options[option[0]] = option[1]  # given twice, the last one counts, as in click
    return ChatArgs(
        tuple(images),
        resume=options.get("resume"),
        url=options.get("url"),
        theme=options.get("theme"),
        images_as=options.get("images_as", "auto"),
        no_recall="no_recall" in switches,
    )


def _option(word: str, rest: list[str]) -> tuple[str, str] | None:
    """``(field, value)`` for one option (taking its value from ``rest`` when separate)."""
    name, eq, value = word.partition("=")
    if name.startswith("--"):
        if not eq:
            value = rest.pop(0) if rest else ""
    elif len(word) > 2:
        # A short option with its value attached: -rID.
        name, value = word[:2], word[2:]
    else:
        value = rest.pop(0) if rest else ""
    field = _OPTIONS.get(name)
    # A value that looks like an option is a mistake typer explains better.
    if field is None or not value or value.startswith("-"):
        return None
    return field, value


def launch(args: ChatArgs) -> None:
    """Check the arguments, build the app and run it until the user quits."""
    if args.images_as not in IMAGE_MODES:
        raise ChatLaunchError(
            f"--images {args.images_as!r} is not a mode; use auto, halfcell, unicode or none."
        )
    for path in args.images:
        if not path.is_file():
            raise ChatLaunchError(f"No image file at {str(path)!r}; check the path.")
    # No garbage collection while the modules load (they make only objects that live on),
    # then freeze them so later collections skip them: about 10% of the start.
    gc.disable()
    try:
        app = build_app(args)
    finally:
        gc.freeze()
        gc.enable()
    app.run()
    error = app.startup_error
    if error is not None:
        raise ChatLaunchError(str(error), int(getattr(error, "exit_code", 1))) from error


def build_app(args: ChatArgs) -> KanjianApp:
    """The app for ``args``; its settings (config file, env, flags) load after the first paint."""
    from kanjian.tui.app import KanjianApp
    from kanjian.tui.chat_controller import ChatServices

    flags = {
        "vlm.url": args.url,
        "tui.theme": args.theme,
        "memory.recall": "off" if args.no_recall else None,
    }
    return KanjianApp(
        ChatServices(partial(_load_settings, flags)),
        attachments=args.images,
        resume=args.resume,
        image_mode=args.images_as,
        status_hint=(peek_setting("vlm.url", flags), peek_setting("vlm.model", flags)),
    )


# What :func:`peek_setting` reads; the settings' defaults (agent.config) for these keys.
_PEEK_DEFAULTS = {"vlm.url": "http://127.0.0.1:30000", "vlm.model": "default"}
_PEEK_ALIASES = {"vlm.url": "KANJIAN_URL", "vlm.model": "KANJIAN_MODEL"}


def peek_setting(dotted: str, flags: dict[str, str | None]) -> str:
    """One string setting as :func:`kanjian.agent.config.load_settings` will resolve it.

    For the first frame's status bar: the settings themselves load after the first paint
    (pydantic takes a while to import), but the server and model they will name are known
    now, with only ``tomllib``: flag > env (``KANJIAN_VLM__URL`` over ``KANJIAN_URL``, as the
    env layers are applied in name order) > config file > default. A test keeps this in
    step with ``load_settings``; the settings, once in, replace what this said.
    """
    if (value := flags.get(dotted)) is not None:
        return value
    section, _, key = dotted.partition(".")
    structured = os.environ.get(f"KANJIAN_{section.upper()}__{key.upper()}")
    alias = os.environ.get(_PEEK_ALIASES[dotted])
    if structured is not None or alias is not None:
        return structured if structured is not None else str(alias)
    configured = _config_file_value(section, key)
    return configured if isinstance(configured, str) else _PEEK_DEFAULTS[dotted]


def _config_file_value(section: str, key: str) -> object:
    import tomllib

    home = os.environ.get("KANJIAN_HOME")
    if home:
        path = Path(home).expanduser() / "config.toml"
    else:
        from platformdirs import user_config_dir, user_data_dir

        path = Path(user_data_dir("kanjian", appauthor=False)) / "config.toml"
        if not path.exists():
            path = Path(user_config_dir("kanjian", appauthor=False)) / "config.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        # No file, or a broken one: the settings say what is wrong once they load.
        return None
    values = data.get(section)
    return values.get(key) if isinstance(values, dict) else None


def _load_settings(flags: dict[str, str | None]) -> Settings:
    from kanjian.agent.config import load_settings

    return load_settings(dict(flags))


def launch_or_exit(args: ChatArgs) -> None:
    """:func:`launch` for the console script: a bad argument exits with one sentence."""
    try:
        launch(args)
    except ChatLaunchError as exc:
        _exit(str(exc), exc.exit_code)


def _exit(message: str, code: int) -> NoReturn:
    print(f"kanjian: {message}", file=sys.stderr)
    raise SystemExit(code)
