"""What memory costs a ``kanjian ask``: wall time with memory on beside ``--no-memory``.

    .venv/bin/python -m bench.ask [--rounds 7] [--embedder auto]

A scripted model server (``python -m kanjian.vlm.fake_server``) answers at once, so the
time is kanjian's own. A fresh ``KANJIAN_HOME`` holds the 160 conversations of
:mod:`bench.recall_more` (indexed with the default embedder before timing starts). Each
round runs one ``kanjian ask`` with memory on (recall, then remembering the turn) and one
with ``--no-memory``, alternating so machine noise hits both alike. Goal (issue 10):
memory adds at most 0.2 s at the median. Wall time and CPU time (user + system of the
``kanjian`` process) are both printed: on a shared machine the CPU time is the steadier.
The rounds cycle through three questions (one in Chinese), so each one also pays for embedding the
turn the previous round remembered (indexing is deferred to the next reader).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._commands import installed
from bench.recall import build
from bench.recall_more import STORE


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; a failing run stops the bench."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-500:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


# English and Chinese: a Chinese question also pays for the word tables (jieba, CC-CEDICT).
QUESTIONS = (
    "How much tax was on my Walmart shopping?",
    "这张发票上的税是多少？",
    "What instrument is this man playing?",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--embedder", default="auto", help="auto, minilm or hash")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kanjian-bench-ask-"))
    script = home / "script.json"
    script.write_text(json.dumps([json.dumps({"thought": "", "answer": "Noted."})]))
    server = subprocess.Popen(
        [sys.executable, "-m", "kanjian.vlm.fake_server", "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        core, _ = build(home / "memory", args.embedder, STORE)
        embedder = core.embedder.name
        core.close()
        env = {**os.environ, "KANJIAN_HOME": str(home), "KANJIAN_EMBEDDER": args.embedder}
        # An installed kanjian has its bytecode cached; a dev shell that turned that off
        # would time compiling every module the memory-on run imports as memory's cost.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        ask = [installed("kanjian"), "ask", "--url", url]
        on: list[tuple[float, float]] = []
        off: list[tuple[float, float]] = []
        timed([*ask, QUESTIONS[0]], env)  # warm the page cache (model weights, modules)
        for i in range(args.rounds):
            question = QUESTIONS[i % len(QUESTIONS)]
            on.append(timed([*ask, question], env))
            off.append(timed([*ask, question, "--no-memory"], env))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"kanjian ask, {len(STORE)} stored conversations, embedder {embedder}, {args.rounds} rounds"
    )
    for i, what in enumerate(("wall", "CPU")):
        m_on = statistics.median(r[i] for r in on)
        m_off = statistics.median(r[i] for r in off)
        low_on, low_off = min(r[i] for r in on), min(r[i] for r in off)
        print(f"{what:4s} memory on    median {m_on:5.2f} s  (min {low_on:.2f})")
        print(f"{what:4s} --no-memory  median {m_off:5.2f} s  (min {low_off:.2f})")
        print(
            f"{what:4s} memory adds {m_on - m_off:+.2f} s at the median, ratio "
            f"{m_on / m_off:.2f}x (goal <= +0.20 s)"
        )


if __name__ == "__main__":
    main()
