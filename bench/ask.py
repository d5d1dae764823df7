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
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._commands import installed, scripted_server, timed_with_cpu
from bench.recall import build
from bench.recall_more import STORE

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
    with remembering_home("ask", args.embedder) as (url, env, embedder):
        ask = [installed("kanjian"), "ask", "--url", url]
        on: list[tuple[float, float]] = []
        off: list[tuple[float, float]] = []
        timed_with_cpu([*ask, QUESTIONS[0]], env)  # warm the page cache (weights, modules)
        for i in range(args.rounds):
            question = QUESTIONS[i % len(QUESTIONS)]
            on.append(timed_with_cpu([*ask, question], env))
            off.append(timed_with_cpu([*ask, question, "--no-memory"], env))
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


@contextmanager
def remembering_home(name: str, embedder: str) -> Iterator[tuple[str, dict[str, str], str]]:
    """A fresh ``KANJIAN_HOME`` holding :data:`STORE` and a scripted server answering at once:
    yields (the server's URL, the environment for kanjian's processes, the embedder's name)."""
    home = Path(tempfile.mkdtemp(prefix=f"kanjian-bench-{name}-"))
    try:
        with scripted_server(home, [json.dumps({"thought": "", "answer": "Noted."})]) as url:
            core, _ = build(home / "memory", embedder, STORE)
            embedder_name = core.embedder.name
            core.close()
            env = {**os.environ, "KANJIAN_HOME": str(home), "KANJIAN_EMBEDDER": embedder}
            # An installed kanjian has its bytecode cached; a dev shell that turned that off
            # would time compiling every module the memory-on run imports as memory's cost.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            yield url, env, embedder_name
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
