"""How ``kanjian chat`` starts: what the first screen loads, the typer-free argument path,
the renderer chosen from the environment, textual-image loaded late without terminal
queries, answers appended once per frame, and settings that fail after the first paint.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from textual.widgets import Markdown

from kanjian.tui.chat_launch import ChatArgs, build_app, parse_chat_args
from kanjian.tui.cli import build_app as build_cli
from kanjian.tui.widgets.graphics import choose_renderer
from kanjian.tui.widgets.transcript import FrameStream
from tests.tui.conftest import SIZE

REPO = Path(__file__).resolve().parents[2]
KANJIAN = [sys.executable, "-c", "from kanjian.tui.cli import main; main()"]

FIRST_PAINT = """
import json, sys
sys.argv = ["kanjian", "chat"]
from kanjian.tui.chat_launch import build_app, parse_chat_args
from kanjian.tui.startup import Startup

loaded = []

def first_paint(self):
    loaded.extend(sorted({name.split(".")[0] for name in sys.modules}))
    self.app.exit()

Startup._after_first_paint = first_paint
build_app(parse_chat_args(sys.argv[1:])).run(headless=True, size=(100, 32))
print(json.dumps(loaded))
"""
# What the first screen must not wait for.
HEAVY = {
    "textual_image",
    "numpy",
    "PIL",
    "langchain",
    "langchain_core",
    "langgraph",
    "httpx",
    "pydantic",
    "chromadb",
    "torch",
    "typer",
    "click",
    "markdown_it",
    "agent",
    "memory",
}


def test_first_screen_loads_nothing_heavy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_PAINT],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=os.environ.copy(),
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "textual" in loaded
    assert loaded & HEAVY == set()


def test_the_cli_module_does_not_import_typer() -> None:
    code = "import sys, tui.cli; print('typer' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["a.png"],
        ["a.png", "b.jpg"],
        ["--resume", "s1"],
        ["-r", "s1", "a.png"],
        ["-rs1"],
        ["--resume=s1", "--url", "http://h:1", "a.png"],
        ["a.png", "--theme", "nord", "--images", "none", "b.png"],
        ["--images=halfcell", "--url=http://x", "--", "-odd.png"],
        ["--url", "http://a", "--url", "http://b"],
        ["--no-recall"],
        ["a.png", "--no-recall", "--url", "http://h:1"],
    ],
)
def test_fast_path_reads_arguments_as_typer_does(argv: list[str]) -> None:
    command = typer.main.get_command(build_cli())
    assert isinstance(command, typer.core.TyperGroup)
    params = command.commands["chat"].make_context("chat", list(argv)).params
    expected = ChatArgs(
        tuple(params["images"] or ()),
        params["resume"],
        params["url"],
        params["theme"],
        params["images_as"],
        params["no_recall"],
    )
    assert parse_chat_args(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["-h"], ["a.png", "--help"], ["--bogus"], ["--resume"], ["--url", "--theme"]],
)
def test_help_and_mistakes_are_left_to_typer(argv: list[str]) -> None:
    assert parse_chat_args(argv) is None


def test_chat_help_and_a_bad_option_through_the_console_entry() -> None:
    shown = subprocess.run(
        [*KANJIAN, "chat", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "--resume" in shown.stdout
    bad = subprocess.run(
        [*KANJIAN, "chat", "--bogus"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "No such option" in bad.stderr
    missing = subprocess.run(
        [*KANJIAN, "chat", "nope.png"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == "kanjian: No image file at 'nope.png'; check the path."


@pytest.mark.parametrize(
    ("mode", "env", "isatty", "expected"),
    [
        ("none", {}, True, "none"),
        ("halfcell", {"KITTY_WINDOW_ID": "1"}, True, "halfcell"),
        ("auto", {}, False, "unicode"),
        ("auto", {"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "xterm-kitty"}, True, "halfcell"),
        ("auto", {"TERM": "screen-256color"}, True, "halfcell"),
        ("auto", {"KITTY_WINDOW_ID": "3", "TERM": "xterm-kitty"}, True, "tgp"),
        ("auto", {"TERM_PROGRAM": "ghostty"}, True, "tgp"),
        ("auto", {"TERM_PROGRAM": "WezTerm"}, True, "sixel"),
        ("auto", {"TERM": "foot"}, True, "sixel"),
        ("auto", {"TERM": "xterm-256color", "SSH_TTY": "/dev/pts/3"}, True, "halfcell"),
        ("auto", {"TERM": "xterm-256color"}, True, None),
    ],
)
def test_renderer_from_the_environment(
    mode: str, env: dict[str, str], isatty: bool, expected: str | None
) -> None:
    assert choose_renderer(mode, env, isatty) == expected


LATE_IMPORT = """
import sys
from kanjian.tui.widgets.graphics import image_widget_class
cls = image_widget_class("halfcell")
print("LOADED", cls.__name__, sys.__stdout__.isatty(), flush=True)
"""


def test_textual_image_loads_late_without_querying_the_terminal() -> None:
    # In a real terminal (a pty), a plain import of textual-image writes its queries (and
    # waits for answers); loaded through graphics, nothing but our line reaches the terminal.
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", LATE_IMPORT],
        cwd=REPO,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while proc.poll() is None or select.select([leader], [], [], 0)[0]:
        if select.select([leader], [], [], 1.0)[0]:
            try:
                output += os.read(leader, 4096)
            except OSError:
                break
    os.close(leader)
    assert proc.wait(timeout=30) == 0, output
    text = output.decode()
    assert "LOADED HalfcellImage True" in text
    assert "\x1b" not in text


class CountingMarkdown(Markdown):
    """A real Markdown widget that counts its appends."""

    appends = 0

    def append(self, markdown: str):  # type: ignore[no-untyped-def]
        self.appends += 1
        return super().append(markdown)


async def test_frame_stream_appends_once_per_frame() -> None:
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield CountingMarkdown()

    deltas = [f"word{i} " for i in range(200)]
    app = One()
    async with app.run_test(size=SIZE) as pilot:
        markdown = app.query_one(CountingMarkdown)
        stream = FrameStream(markdown)
        for delta in deltas:
            await stream.write(delta)
        await stream.stop()
        await pilot.pause()
        assert markdown.source == "".join(deltas)
        assert markdown.appends < len(deltas) / 4


@pytest.fixture
def bad_config() -> None:
    home = Path(os.environ["KANJIAN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[vlm]\nmax_num = 0\n", encoding="utf-8")


@pytest.mark.usefixtures("bad_config")
async def test_bad_settings_end_the_app_after_the_first_paint() -> None:
    app = build_app(ChatArgs())
    async with app.run_test(size=SIZE):
        await asyncio.wait_for(app.ready.wait(), 30)
    assert app.startup_error is not None
    assert "max_num" in str(app.startup_error)
    assert app.return_code == 2


@pytest.mark.parametrize(
    ("config", "env", "flags"),
    [
        ("", {}, {}),
        ('[vlm]\nurl = "http://config:1"\nmodel = "config-model"\n', {}, {}),
        ('[vlm]\nurl = "http://config:1"\n', {"KANJIAN_URL": "http://env:2"}, {}),
        ("", {"KANJIAN_URL": "http://env:2", "KANJIAN_VLM__URL": "http://env:3"}, {}),
        ("", {"KANJIAN_MODEL": "env-model"}, {"vlm.url": "http://flag:4"}),
        ("[vlm]\nurl = 7\n", {}, {}),  # not a string: the settings reject it later
    ],
)
def test_the_first_frame_names_the_server_the_settings_will(
    config: str,
    env: dict[str, str],
    flags: dict[str, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kanjian.agent.config import load_settings
    from kanjian.agent.errors import ConfigError
    from kanjian.tui.chat_launch import peek_setting

    monkeypatch.delenv("KANJIAN_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    home = Path(os.environ["KANJIAN_HOME"])
    (home / "config.toml").write_text(config, encoding="utf-8")
    try:
        settings = load_settings(dict(flags))
    except ConfigError:
        return  # the app exits with the sentence; what the first frame said does not matter
    assert peek_setting("vlm.url", flags) == settings.vlm.url
    assert peek_setting("vlm.model", flags) == settings.vlm.model


PROBE = """
import sys, time
from kanjian.tui.widgets.graphics import graphics_loaded, probe_terminal
start = time.perf_counter()
chosen = probe_terminal()
print("CHOSE", chosen, round(time.perf_counter() - start, 3), graphics_loaded(), flush=True)
"""


@pytest.mark.parametrize(
    ("answers", "expected", "quick"),
    [
        # xterm -ti vt340: DA1 lists 4 (Sixel).
        ({b"\x1b[c": b"\x1b[?63;1;2;4;6;9;15;22c"}, "sixel", True),
        # Kitty: answers the graphics query, and DA1 without Sixel.
        ({b"\x1b_G": b"\x1b_Gi=31;OK\x1b\\", b"\x1b[c": b"\x1b[?62;c"}, "tgp", True),
        # GNOME Terminal and most others: DA1 only.
        ({b"\x1b[c": b"\x1b[?65;1;9c"}, "halfcell", True),
        # A terminal that answers nothing: half cells after the timeout.
        ({}, "halfcell", False),
    ],
)
def test_an_unknown_terminal_is_asked_in_one_round_trip(
    answers: dict[bytes, bytes], expected: str, quick: bool
) -> None:
    # The test plays the terminal on the leader side of a pty.
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE], cwd=REPO, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = b""
    answered: set[bytes] = set()
    while proc.poll() is None or select.select([leader], [], [], 0)[0]:
        if not select.select([leader], [], [], 1.0)[0]:
            continue
        try:
            output += os.read(leader, 4096)
        except OSError:
            break
        for query, reply in answers.items():
            if query in output and query not in answered:
                answered.add(query)
                os.write(leader, reply)
    os.close(leader)
    assert proc.wait(timeout=30) == 0, output
    chose = output.decode(errors="replace").split("CHOSE ", 1)[1].split()
    assert chose[0] == expected, output
    # One round trip, the 0.3 s timeout not waited out, and textual-image (NumPy) not loaded.
    assert (float(chose[1]) < 0.3) == quick, chose
    assert chose[2] == "False"
