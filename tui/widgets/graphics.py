"""Which way the terminal can draw images, decided before the first paint without slowing it.

textual-image picks its renderer when it is first imported, by writing queries to the
terminal and reading the answers from stdin. That costs a NumPy import and up to 0.2 s of
waiting, and it cannot happen once Textual runs (Textual's input thread would read the
answers as keystrokes). So ``kanjian chat`` decides in two steps:

1. :func:`choose_renderer` reads the environment: tmux, screen and SSH get half cells (Kitty
   placements do not get through a multiplexer, and a slow link could answer a query after
   Textual has taken the terminal); Kitty and Ghostty get the Terminal Graphics Protocol;
   WezTerm and foot get Sixel; a pipe gets Unicode. Only a local terminal it does not know
   is asked, before the app starts (:func:`prepare_graphics`), in one round trip
   (:func:`probe_terminal`: the Kitty graphics query and then DA1, which every terminal
   answers, so no timeout is waited out). textual-image's own probe would import NumPy and
   wait 0.1 s for a Kitty answer that most terminals never send: in an unknown terminal that
   put the first frame at 1.65× a minimal app's instead of about 1.2×.
2. :func:`image_widget_class` imports textual-image on first use (the first image shown, or
   the app's warm-up thread after the first paint) with its terminal queries turned off,
   since the renderer is already chosen.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from textual.widget import Widget

__all__ = [
    "IMAGE_MODES",
    "RENDERERS",
    "Renderer",
    "choose_renderer",
    "graphics_loaded",
    "image_widget_class",
    "prepare_graphics",
    "probe_terminal",
]

Renderer = Literal["tgp", "sixel", "halfcell", "unicode", "none"]
RENDERERS: tuple[Renderer, ...] = ("tgp", "sixel", "halfcell", "unicode", "none")
# What people may pass as ``kanjian chat --images``.
IMAGE_MODES: tuple[str, ...] = ("auto", "halfcell", "unicode", "none")

# Terminals that say who they are, and what they draw best. Sixel comes before TGP where a
# terminal has both, as textual-image prefers: its TGP placeholders work well only in Kitty.
_TGP_TERMS = frozenset({"xterm-kitty", "xterm-ghostty"})
_TGP_PROGRAMS = frozenset({"ghostty"})
_SIXEL_PROGRAMS = frozenset({"wezterm"})
_SIXEL_TERM_PREFIXES = ("foot",)
_MULTIPLEXER_TERM_PREFIXES = ("screen", "tmux")

_load_lock = threading.Lock()
# Set once textual-image is fully imported (sys.modules has it from the import's first line).
_loaded = threading.Event()


def choose_renderer(mode: str, env: Mapping[str, str], isatty: bool) -> Renderer | None:
    """The renderer for ``mode`` (a renderer's name, or "auto") in this environment.

    None when only asking the terminal can tell.
    """
    if mode in RENDERERS:
        return mode  # type: ignore[return-value]
    if not isatty:
        return "unicode"
    term = env.get("TERM", "").lower()
    program = env.get("TERM_PROGRAM", "").lower()
    if env.get("TMUX") or term.startswith(_MULTIPLEXER_TERM_PREFIXES):
        return "halfcell"
    if env.get("KITTY_WINDOW_ID") or term in _TGP_TERMS or program in _TGP_PROGRAMS:
        return "tgp"
    if program in _SIXEL_PROGRAMS or term.startswith(_SIXEL_TERM_PREFIXES):
        return "sixel"
    if env.get("SSH_TTY") or env.get("SSH_CONNECTION"):
        # An answer that arrives after the timeout would be typed into the prompt.
        return "halfcell"
    return None


def prepare_graphics(mode: str) -> Renderer:
    """Decide the renderer before the app starts; asks the terminal only when it must.

    Must run before Textual takes the terminal. Also measures the cell size in pixels where
    the picture's size depends on it (Kitty, Sixel) so textual-image never asks later.
    """
    isatty = bool(sys.__stdout__ and sys.__stdout__.isatty())
    chosen = choose_renderer(mode, os.environ, isatty)
    if chosen is None:
        chosen = probe_terminal()
    if chosen is None:
        with _load_lock:
            # No termios (Windows): textual-image asks the terminal and loads everything.
            import textual_image.widget  # noqa: F401

            _loaded.set()
        return _probed_renderer()
    if chosen in ("tgp", "sixel"):
        from textual_image._terminal import get_cell_size

        # ioctl, or one query answered by the local terminal; cached by textual-image.
        get_cell_size()
    return chosen


# The Kitty graphics protocol's query (a 1×1 image, answered "OK" where supported), then DA1.
_KITTY_QUERY = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
_DA1_QUERY = b"\x1b[c"
_DA1_ANSWER = re.compile(rb"\x1b\[\?([\d;]*)c")
_KITTY_OK = re.compile(rb"\x1b_Gi=31;OK\x1b\\")


def probe_terminal(timeout: float = 0.3) -> Renderer | None:
    """Ask the terminal which images it draws: Sixel, TGP, else half cells.

    Both questions go out together, Kitty's first: a terminal answers DA1 after anything it
    answers before, so DA1's answer ends the wait. Sixel wins where both work, as in
    textual-image. None where the terminal cannot be asked this way (no termios).
    """
    try:
        import termios
        import tty
    except ImportError:
        return None
    stdin, stdout = sys.__stdin__, sys.__stdout__
    if stdin is None or stdout is None or not stdin.isatty():
        return "halfcell"
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        # No echo and no line editing, so the answer is neither shown nor held back.
        tty.setcbreak(fd, termios.TCSANOW)
        os.write(stdout.fileno(), _KITTY_QUERY + _DA1_QUERY)
        answer = _read_until_da1(fd, timeout)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    match = _DA1_ANSWER.search(answer)
    if match is not None and b"4" in match.group(1).split(b";"):
        return "sixel"
    if _KITTY_OK.search(answer):
        return "tgp"
    return "halfcell"


def _read_until_da1(fd: int, timeout: float) -> bytes:
    import select
    import time

    answer = b""
    deadline = time.monotonic() + timeout
    while _DA1_ANSWER.search(answer) is None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break  # a terminal that never answers: half cells
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        answer += chunk
    return answer


def graphics_loaded() -> bool:
    """Whether textual-image is imported, so an image widget can be made without waiting."""
    return _loaded.is_set()


def image_widget_class(renderer: Renderer) -> Callable[..., Widget] | None:
    """textual-image's widget for ``renderer`` (None for ``"none"``); imports it on first use."""
    if renderer == "none":
        return None
    with _load_lock:
        if not _loaded.is_set():
            with _terminal_queries_off():
                import textual_image.widget  # noqa: F401
            _loaded.set()
    from textual_image import widget as tiw

    classes: dict[str, Callable[..., Widget]] = {
        "tgp": tiw.TGPImage,
        "sixel": tiw.SixelImage,
        "halfcell": tiw.HalfcellImage,
        "unicode": tiw.UnicodeImage,
    }
    return classes[renderer]


def _probed_renderer() -> Renderer:
    """The renderer textual-image chose when it asked the terminal (imported already)."""
    from textual_image import renderable as tir

    chosen = {
        tir.SixelImage: "sixel",
        tir.TGPImage: "tgp",
        tir.HalfcellImage: "halfcell",
        tir.UnicodeImage: "unicode",
    }
    return chosen.get(tir.Image, "halfcell")  # type: ignore[return-value]


class _NotATerminal:
    """Stands in for ``sys.__stdout__`` while textual-image is imported: no tty, no query."""

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _terminal_queries_off() -> Iterator[None]:
    # textual-image queries the terminal at import time when sys.__stdout__ is a tty; once
    # Textual runs, the answers would reach Textual's input thread as keys. The renderer is
    # chosen already, so the import must not ask. Textual's Linux driver writes to
    # sys.__stderr__ and never reads sys.__stdout__, so the swap is invisible to it.
    real = sys.__stdout__
    sys.__stdout__ = _NotATerminal()  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        sys.__stdout__ = real  # type: ignore[misc]
