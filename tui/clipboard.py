"""Images from the system clipboard, for ``/paste`` and Ctrl+Shift+V in the chat app.

Terminals paste text only, so a copied screenshot never reaches the app as a paste. This
module asks the platform's clipboard tool for the image instead:

- Wayland (``WAYLAND_DISPLAY``): ``wl-paste --list-types``, then ``wl-paste --type MIME``;
- X11 (``DISPLAY``): ``xclip -selection clipboard -t TARGETS -o``, then ``-t MIME -o``
  (``xsel`` reads text only, so with only xsel the sentence says to install xclip);
- macOS: ``osascript`` (the clipboard as PNG, printed as hex);
- Windows and WSL: PowerShell's ``Get-Clipboard -Format Image``, saved as PNG and printed
  as base64 (WSL runs ``powershell.exe`` of the Windows side).

Each failure is one :class:`ClipboardError` sentence that names the tool to install or what
the clipboard holds instead. The image is written under the given folder, named by its
content, and then attached like any other file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kanjian.tui.i18n import t
from kanjian.vlm.errors import KanjianError

__all__ = [
    "ClipboardError",
    "ClipboardImage",
    "ClipboardReader",
    "clipboard_reader",
    "paste_image",
    "save_image",
]

# The clipboard tools answer at once; a tool that hangs (a dead X server) must not.
TIMEOUT_S = 5.0
# Which image types are taken, best first, and the suffix each is saved with.
_MIME_SUFFIX = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
}
_PS_SCRIPT = (
    "$img = Get-Clipboard -Format Image; "
    "if ($img) { $ms = New-Object System.IO.MemoryStream; "
    "$img.Save($ms, [System.Drawing.Imaging.ImageFormat]::Png); "
    "[Convert]::ToBase64String($ms.ToArray()) }"
)
_OSA_SCRIPT = "the clipboard as «class PNGf»"
_OSA_HEX = re.compile(r"«data PNGf([0-9A-Fa-f]+)»")


class ClipboardError(KanjianError):
    """No image could be read from the clipboard; the message says why and what to do."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class ClipboardImage:
    data: bytes
    mime: str
    # The tool that read it, e.g. "xclip".
    tool: str


async def _run(argv: Sequence[str]) -> tuple[int, bytes, bytes]:
    """Run ``argv``; its exit status, stdout and stderr (killed after ``TIMEOUT_S``)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ClipboardError(t("clip.timeout", tool=argv[0], seconds=TIMEOUT_S)) from None
    return proc.returncode or 0, out, err


def _is_wsl(platform: str) -> bool:
    if platform != "linux":
        return False
    try:
        return "microsoft" in Path("/proc/version").read_text(encoding="utf-8").lower()
    except OSError:
        return False


# Reads the clipboard's image: what :func:`clipboard_reader` returns.
ClipboardReader = Callable[[], Awaitable[ClipboardImage]]


def clipboard_reader(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> ClipboardReader:
    """The coroutine function that reads the image on this system's clipboard.

    Raises :class:`ClipboardError` at once when no clipboard tool can be used here.
    """
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if platform == "darwin":
        return _need(which, "osascript", t("clip.fix.osascript"), _read_macos)
    if platform == "win32" or _is_wsl(platform):
        name = "powershell.exe" if platform != "win32" else "powershell"
        tool = which(name) or which("pwsh")
        if tool is None:
            raise ClipboardError(t("clip.no_powershell", tool=name))
        return lambda: _read_powershell(tool)
    if env.get("WAYLAND_DISPLAY"):
        return _need(which, "wl-paste", t("clip.fix.wl"), _read_wayland)
    if env.get("DISPLAY"):
        if which("xclip") is None and which("xsel") is not None:
            raise ClipboardError(t("clip.xsel_only"))
        return _need(which, "xclip", t("clip.fix.xclip"), _read_x11)
    raise ClipboardError(t("clip.no_display"))


def _need(
    which: Callable[[str], str | None],
    name: str,
    fix: str,
    read: Callable[[str], Awaitable[ClipboardImage]],
) -> ClipboardReader:
    tool = which(name)
    if tool is None:
        raise ClipboardError(t("clip.missing_tool", tool=name, fix=fix))
    return lambda: read(tool)


def _pick(types: Sequence[str], tool: str) -> str:
    """The best image type the clipboard offers; a sentence naming what it holds if none."""
    offered = [t.strip() for t in types if t.strip()]
    for mime in _MIME_SUFFIX:
        if mime in offered:
            return mime
    raise _no_image(tool, offered)


def _no_image(tool: str, offered: Sequence[str]) -> ClipboardError:
    holds = ", ".join(offered[:4]) or t("clip.nothing")
    return ClipboardError(t("clip.no_image", tool=tool, holds=holds))


async def _read_x11(tool: str) -> ClipboardImage:
    code, out, _err = await _run([tool, "-selection", "clipboard", "-t", "TARGETS", "-o"])
    types = out.decode("utf-8", "replace").splitlines() if code == 0 else []
    mime = _pick(types, "xclip")
    code, data, err = await _run([tool, "-selection", "clipboard", "-t", mime, "-o"])
    return _checked(code, data, err, mime, "xclip")


async def _read_wayland(tool: str) -> ClipboardImage:
    code, out, _err = await _run([tool, "--list-types"])
    types = out.decode("utf-8", "replace").splitlines() if code == 0 else []
    mime = _pick(types, "wl-paste")
    code, data, err = await _run([tool, "--no-newline", "--type", mime])
    return _checked(code, data, err, mime, "wl-paste")


async def _read_macos(tool: str) -> ClipboardImage:
    code, out, _err = await _run([tool, "-e", _OSA_SCRIPT])
    match = _OSA_HEX.search(out.decode("utf-8", "replace"))
    if code != 0 or match is None:
        raise _no_image("osascript", [])
    return ClipboardImage(binascii.unhexlify(match.group(1)), "image/png", "osascript")


async def _read_powershell(tool: str) -> ClipboardImage:
    code, out, _err = await _run([tool, "-NoProfile", "-NonInteractive", "-Command", _PS_SCRIPT])
    text = out.decode("ascii", "replace").strip()
    if code != 0 or not text:
        raise _no_image("Get-Clipboard", [])
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ClipboardError(t("clip.not_base64", text=text[:40])) from None
    return ClipboardImage(data, "image/png", "Get-Clipboard")


def _checked(code: int, data: bytes, err: bytes, mime: str, tool: str) -> ClipboardImage:
    if code != 0 or not data:
        reason = err.decode("utf-8", "replace").strip().splitlines()
        said = reason[0] if reason else "no data"
        raise ClipboardError(t("clip.unreadable", tool=tool, mime=mime, reason=said))
    return ClipboardImage(data, mime, tool)


async def paste_image(folder: Path, reader: ClipboardReader | None = None) -> Path:
    """Read the clipboard's image and save it under ``folder``; the file's path."""
    read = reader or clipboard_reader()
    image = await read()
    return await asyncio.to_thread(save_image, image, folder)


def save_image(image: ClipboardImage, folder: Path) -> Path:
    """Write the image as ``clipboard-<hash>.<ext>``; the same picture pasted twice is one file.

    The bytes are checked with Pillow first: a tool that answers with something else (an
    error page, a truncated file) gets a sentence, not an attachment the model cannot read.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image.data)) as img:
            img.verify()
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise ClipboardError(
            t("clip.bad_image", mime=image.mime, tool=image.tool, reason=exc)
        ) from None
    digest = hashlib.sha256(image.data).hexdigest()[:16]
    path = folder / f"clipboard-{digest}{_MIME_SUFFIX.get(image.mime, '.png')}"
    folder.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(image.data)
        tmp.replace(path)
    return path
