"""Images from the system clipboard: ``/paste`` and Ctrl+Shift+V, for real on X11.

The X11 tests start a private Xvfb and put a PNG on its clipboard with ``xclip``, then drive
the app with the pilot: the app runs ``xclip`` itself, as it does on a desktop. They skip only
where Xvfb or xclip are not installed (``make sysdeps`` installs both).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kanjian.agent.config import Settings
from kanjian.tui.clipboard import ClipboardError, clipboard_reader
from kanjian.tui.widgets.prompt import AttachmentBar, PromptInput
from tests.tui.conftest import SIZE, ScriptedSource, make_app, started
from tests.tui.test_app import transcript_text
from tests.tui.test_snapshots import check, normalise

needs_x11 = pytest.mark.skipif(
    shutil.which("Xvfb") is None or shutil.which("xclip") is None,
    reason="Xvfb and xclip are not installed (make sysdeps installs them)",
)


@pytest.fixture
def xvfb(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private X server; DISPLAY points at it for the test (and the app's xclip)."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "320x240x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), f"Xvfb did not start (said {number!r})"
        display = f":{number}"
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        yield display
    finally:
        # xclip serving the selection exits with the server.
        proc.terminate()
        proc.wait(timeout=10)


def contents(path: Path) -> bytes:
    return path.read_bytes()


def put_on_clipboard(data: bytes, mime: str) -> None:
    # xclip forks and keeps serving the selection; its output must not hold a pipe open.
    subprocess.run(
        ["xclip", "-selection", "clipboard", "-t", mime, "-i"],
        input=data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=10,
    )


async def paste(app: object, pilot: object, how: str = "/paste") -> None:
    if how == "/paste":
        app.query_one(PromptInput).insert("/paste")  # type: ignore[attr-defined]
        await pilot.press("enter")  # type: ignore[attr-defined]
    else:
        await pilot.press(how)  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]
    await app.workers.wait_for_complete()  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


@needs_x11
async def test_slash_paste_attaches_the_png_on_the_x11_clipboard(
    xvfb: str, settings: Settings, image_path: Path
) -> None:
    png = contents(image_path)
    put_on_clipboard(png, "image/png")
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        await paste(app, pilot)
        assert len(app.pending) == 1, transcript_text(app)
        name, path = app.pending[0]
        assert name == "image_1"
        assert Path(path).parent == settings.home / "clipboard"
        assert contents(Path(path)) == png
        assert app.query_one(PromptInput).text == "[image_1] "
        assert Path(path).name in str(app.query_one(AttachmentBar).content)
        # The key does the same; the same picture is stored once.
        await paste(app, pilot, "ctrl+shift+v")
        assert [n for n, _ in app.pending] == ["image_1", "image_2"]
        assert app.pending[1][1] == path


@needs_x11
async def test_paste_with_text_on_the_clipboard_says_so(xvfb: str, settings: Settings) -> None:
    put_on_clipboard(b"just some words", "UTF8_STRING")
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await paste(app, pilot)
        assert app.pending == []
        text = transcript_text(app)
        assert "The clipboard holds no image (xclip sees" in text
        assert "UTF8_STRING" in text


async def test_paste_without_a_display_says_what_to_do(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await paste(app, pilot)
        assert app.pending == []
        assert "No clipboard here" in transcript_text(app)


async def test_paste_without_xclip_names_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DISPLAY", ":97")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=SIZE) as pilot:
        await paste(app, pilot)
        assert "xclip is not installed, so the clipboard cannot be read; install xclip" in (
            transcript_text(app)
        )


def which_only(*names: str) -> Callable[[str], str | None]:
    return lambda name: f"/usr/bin/{name}" if name in names else None


@pytest.mark.parametrize(
    ("platform", "env", "tools", "needle"),
    [
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, (), "wl-paste is not installed"),
        ("linux", {"DISPLAY": ":0"}, ("xsel",), "xsel reads text only"),
        ("darwin", {}, (), "osascript is not installed"),
        ("win32", {}, (), "powershell is not on PATH"),
    ],
)
def test_each_platform_names_its_missing_tool(
    platform: str, env: dict[str, str], tools: tuple[str, ...], needle: str
) -> None:
    with pytest.raises(ClipboardError, match=needle):
        clipboard_reader(env, platform, which_only(*tools))


def test_a_tool_that_is_there_is_used() -> None:
    # Wayland wins over X11 where both are set (XWayland).
    both = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    assert callable(clipboard_reader(both, "linux", which_only("wl-paste")))
    with pytest.raises(ClipboardError, match="wl-paste"):
        clipboard_reader(both, "linux", which_only("xclip"))


@needs_x11
async def test_snapshot_paste(
    xvfb: str, settings: Settings, image_path: Path, tmp_path: Path
) -> None:
    put_on_clipboard(contents(image_path), "image/png")
    app = make_app(settings, ScriptedSource(), image_mode="none")
    async with app.run_test(size=(100, 24)) as pilot:
        app.query_one(PromptInput).cursor_blink = False
        await started(app)
        app.query_one("#banner").message = ""  # type: ignore[attr-defined]
        await paste(app, pilot)
        app.query_one(PromptInput).insert("what is this?")
        await pilot.pause()
        # The name is the PNG's hash, which depends on the zlib that wrote the test image.
        svg = normalise(app.export_screenshot(simplify=True), tmp_path)
        check("paste", re.sub(r"clipboard-[0-9a-f]{16}", "clipboard-HASH", svg))
