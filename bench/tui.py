"""``python -m bench.tui``: how fast ``kanjian chat`` paints, and how it keeps up while streaming.

Both figures are taken in a real terminal (tmux, which answers the terminal queries that
Textual and textual-image send), polling ``tmux capture-pane`` every few milliseconds:

1. Time to the first full frame: from starting the process until the screen shows everything
   the app puts on its first screen, for ``kanjian chat`` and, in the same run, for a minimal
   Textual app of the same shape (a header, a scrolling log with a line written on mount, an
   input and a footer), started the same way (a console-script wrapper that imports the
   app's module and calls its ``main()``). A full frame is the footer plus the app's own
   content: the minimal app's logged line; kanjian's status bar naming the server it talks
   to (the health dot needs the network and is left out). Goal: ratio <= 1.3. The first
   frame with the footer alone is printed too, and ``kanjian chat IMAGE`` is timed as well.
   Both apps are timed a second time as in a terminal kanjian does not recognise (TMUX unset,
   TERM=xterm-256color: tmux still answers the queries, as a terminal does), where kanjian
   asks the terminal which images it can draw before its first frame.
2. Key-to-screen latency: the time from ``tmux send-keys`` until the typed character shows
   in the prompt, while an answer streams at 200 tokens/s from ``python -m vlm.fake_server``
   (taken once the answer is a few KB long), against the same measure with nothing streaming.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
KANJIAN = Path(sys.executable).with_name("kanjian")
# Interleaved launches of each app; medians of these, and minimums (the least disturbed).
RUNS = 9
KEYS = 12
TOKENS_PER_S = 200
POLL_S = 0.01
# The streaming key latency is taken after this many words (about 5 s, 4 KB of paragraph).
LONG_AFTER = 450
MINIMAL_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Input, RichLog


class Minimal(App):
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield RichLog()
        yield Input(placeholder="say something")
        yield Footer()

    def on_mount(self):
        self.query_one(RichLog).write("hello")


def main():
    Minimal().run()
"""
# What pip writes for a console script (the shape of .venv/bin/kanjian).
CONSOLE_SCRIPT = """#!{python}
import sys
from minimal_app import main
if __name__ == "__main__":
    sys.exit(main())
"""


class Tmux:
    """One private tmux server; each app runs in its own session of it."""

    def __init__(self) -> None:
        self.socket = f"kanjian-bench-{os.getpid()}"
        # A session that outlives the measured ones: a tmux server exits with its last
        # session, and a new-session that races that exit is lost.
        self("new-session", "-d", "-s", "keeper", "sleep 3600")

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        return done.stdout

    def screen(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", session)

    def start(self, session: str, command: str, cwd: Path) -> None:
        self("new-session", "-d", "-s", session, "-x", "100", "-y", "32", "-c", str(cwd), command)

    def wait_for(self, session: str, needle: str, within: float = 60.0) -> float:
        """Seconds until ``needle`` is on the screen (polled every 10 ms)."""
        start = time.perf_counter()
        while time.perf_counter() - start < within:
            if needle in self.screen(session):
                return time.perf_counter() - start
            # Polling much faster starves tmux (and the app) of the machine's CPU.
            time.sleep(POLL_S)
        raise TimeoutError(f"{needle!r} never appeared:\n{self.screen(session)}")

    def close(self) -> None:
        self("kill-server")


@contextmanager
def fake_server(answer: str, token_delay: float) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "replies.json"
        script.write_text(json.dumps([json.dumps({"thought": "ok", "answer": answer})]))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kanjian.vlm.fake_server",
                "--script",
                str(script),
                "--token-delay",
                str(token_delay),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            yield proc.stdout.readline().strip()
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def chat_command(url: str, home: Path, *flags: str) -> str:
    # English words on screen (the needles), whatever the machine's locale.
    env = (
        f"KANJIAN_HOME={home} KANJIAN_URL={url} KANJIAN_EMBEDDER=hash HF_HUB_OFFLINE=1 "
        "LC_ALL=C.UTF-8"
    )
    return f"env {env} {KANJIAN} chat {' '.join(flags)}"


def first_paint(
    tmux: Tmux, name: str, command: str, cwd: Path, content: str
) -> tuple[float, float]:
    """Seconds from launch until the footer shows, and until ``content`` shows as well."""
    start = time.perf_counter()
    tmux.start(name, command, cwd)
    tmux.wait_for(name, "Quit")
    footer = time.perf_counter() - start
    tmux.wait_for(name, content)
    full = time.perf_counter() - start
    tmux("kill-session", "-t", name)
    return footer, full


def minimal_script(tmp: Path) -> Path:
    """The minimal app as a module plus a console-script wrapper, like ``kanjian`` itself."""
    (tmp / "minimal_app.py").write_text(MINIMAL_APP)
    script = tmp / "minimal"
    script.write_text(CONSOLE_SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    return script


def test_image(tmp: Path) -> Path:
    from PIL import Image

    path = tmp / "photo.png"
    Image.new("RGB", (640, 480), "teal").save(path)
    return path


Paint = tuple[float, float]


# Runs an app as if in a terminal kanjian does not know (it then asks the terminal).
UNKNOWN_TERMINAL = "env -u TMUX TERM=xterm-256color "


def paint_figures(tmux: Tmux, url: str, tmp: Path) -> dict[str, list[Paint]]:
    minimal = minimal_script(tmp)
    image = test_image(tmp)
    # The status bar names the server once the settings are in.
    server = url.removeprefix("http://").rstrip("/")
    runs: dict[str, list[Paint]] = {
        "ours": [],
        "image": [],
        "base": [],
        "ours-unknown": [],
        "base-unknown": [],
    }
    for i in range(RUNS):
        # Interleaved, so machine load hits all alike.
        chat = chat_command(url, tmp / f"home{i}")
        for name, command, content in (
            ("base", str(minimal), "hello"),
            ("ours", chat, server),
            ("image", chat_command(url, tmp / f"home{i}", str(image)), server),
            ("base-unknown", UNKNOWN_TERMINAL + str(minimal), "hello"),
            ("ours-unknown", UNKNOWN_TERMINAL + chat, server),
        ):
            runs[name].append(first_paint(tmux, f"{name}{i}", command, tmp, content))
    return runs


def key_latencies(
    tmux: Tmux, session: str, marker: str, streaming: Callable[[], bool]
) -> list[float]:
    """Type ``KEYS`` distinct characters; seconds each took to show (only while ``streaming``)."""
    latencies: list[float] = []
    typed = marker
    tmux("send-keys", "-t", session, "-l", marker)
    tmux.wait_for(session, marker)
    for i in range(KEYS):
        if not streaming():
            break
        typed += "abcdefghijklmnopqrstuvwxyz"[i % 26]
        start = time.perf_counter()
        tmux("send-keys", "-t", session, "-l", typed[-1])
        while typed not in tmux.screen(session):
            if time.perf_counter() - start > 30:
                raise TimeoutError(f"{typed!r} never appeared:\n{tmux.screen(session)}")
            time.sleep(POLL_S / 2)
        latencies.append(time.perf_counter() - start)
    return latencies


def latency_figures(tmux: Tmux, tmp: Path) -> tuple[list[float], list[float]]:
    words = " ".join(f"word{i}" for i in range(1200))
    # The fake server streams 4-character pieces (about one token each).
    with fake_server(words, 1 / TOKENS_PER_S) as url:
        tmux.start("lat", chat_command(url, tmp / "home-lat"), tmp)
        tmux.wait_for("lat", "● ok")
        idle = key_latencies(tmux, "lat", "idle:", lambda: True)
        tmux("send-keys", "-t", "lat", "C-u")
        tmux("send-keys", "-t", "lat", "-l", "stream please")
        tmux("send-keys", "-t", "lat", "Enter")
        # Keys typed once the answer is long: each append re-parses the growing paragraph.
        tmux.wait_for("lat", f"word{LONG_AFTER}")
        busy = key_latencies(tmux, "lat", "busy:", lambda: "word1199" not in tmux.screen("lat"))
        tmux("kill-session", "-t", "lat")
    return busy, idle


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


def _median(values: list[Paint], which: int) -> float:
    return statistics.median(v[which] for v in values)


def print_paint(runs: dict[str, list[Paint]]) -> None:
    ours, with_image, base = runs["ours"], runs["image"], runs["base"]
    full, footer = 1, 0
    ratio = _median(ours, full) / _median(base, full)
    print(
        f"first full frame: kanjian chat {_median(ours, full) * 1000:.0f} ms, minimal Textual app "
        f"{_median(base, full) * 1000:.0f} ms (medians of {RUNS}); ratio {ratio:.2f} (goal <= 1.3)"
    )
    print(
        f"  fastest of {RUNS} (least disturbed by other load): kanjian {min(v[full] for v in ours) * 1000:.0f} ms, "
        f"minimal {min(v[full] for v in base) * 1000:.0f} ms; ratio "
        f"{min(v[full] for v in ours) / min(v[full] for v in base):.2f}"
    )
    print(
        f"  footer alone: kanjian {_median(ours, footer) * 1000:.0f} ms, minimal "
        f"{_median(base, footer) * 1000:.0f} ms; ratio "
        f"{_median(ours, footer) / _median(base, footer):.2f}"
    )
    print(
        f"  kanjian chat IMAGE: full frame median {_median(with_image, full) * 1000:.0f} ms, "
        f"ratio {_median(with_image, full) / _median(base, full):.2f}"
    )
    print(f"  raw ms kanjian (footer/full): {_ms_pairs(ours)}")
    print(f"  raw ms kanjian IMAGE: {_ms_pairs(with_image)}")
    print(f"  raw ms minimal: {_ms_pairs(base)}")
    unknown, base_unknown = runs["ours-unknown"], runs["base-unknown"]
    print(
        f"  in an unrecognised terminal (asked for image support): kanjian "
        f"{_median(unknown, full) * 1000:.0f} ms, minimal {_median(base_unknown, full) * 1000:.0f} ms; "
        f"ratio {_median(unknown, full) / _median(base_unknown, full):.2f}; fastest "
        f"{min(v[full] for v in unknown) / min(v[full] for v in base_unknown):.2f}"
    )
    print(f"  raw ms kanjian: {_ms_pairs(unknown)}; minimal: {_ms_pairs(base_unknown)}")


def _ms_pairs(values: list[Paint]) -> str:
    return ", ".join(f"{a * 1000:.0f}/{b * 1000:.0f}" for a, b in values)


def main(argv: list[str] | None = None) -> None:
    """``--paint`` measures the first frame only (no key latency)."""
    paint_only = "--paint" in (sys.argv[1:] if argv is None else argv)
    tmux = Tmux()
    try:
        with tempfile.TemporaryDirectory() as tmp_name, fake_server("ok", 0.0) as url:
            tmp = Path(tmp_name)
            print_paint(paint_figures(tmux, url, tmp))
            if paint_only:
                return
            print("first paint measured; now key latency", file=sys.stderr, flush=True)
            busy, idle = latency_figures(tmux, tmp)
    finally:
        tmux.close()
    lat_ratio = statistics.median(busy) / statistics.median(idle)
    print(
        f"key-to-screen: {statistics.median(busy) * 1000:.0f} ms while streaming at {TOKENS_PER_S} tok/s, "
        f"{statistics.median(idle) * 1000:.0f} ms idle (medians); ratio {lat_ratio:.2f}"
    )
    print(f"  raw ms streaming: {_ms(busy)}")
    print(f"  raw ms idle: {_ms(idle)}")


if __name__ == "__main__":
    main()
