"""Start-up and one question, end to end, beside a peer CLI (``llm``), in one run.

Three figures, each a median over alternating runs so machine noise hits both sides alike:

- ``kanjian --help`` beside ``llm --help`` (goal: kanjian <= 0.2 s);
- ``kanjian ask --no-memory --json`` with an image (tools on) against a local scripted
  model server that answers at once, beside ``llm prompt`` sending the same question and
  image to the same server (llm speaks to OpenAI-compatible servers through
  ``extra-openai-models.yaml``, written to a temporary ``LLM_USER_PATH``). Goal: ratio
  kanjian/llm <= 0.8, which needs LangChain, LangGraph, chromadb and torch out of the path;
- ``kanjian batch`` of one task against the same server (goal: <= 0.8 s start to end),
  beside the bare aiohttp client of :mod:`bench._bare_client` answering the same task (the
  floor of a Python process that posts one request: what the machine's load makes of it).

    python -m bench.cli [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._commands import installed, timed

ROUNDS = 9
QUESTION = "What colour is this square?"
# The same interpreter the bench runs in, importing whichever kanjian it resolves (the
# installed console script does exactly this import).
KANJIAN = [sys.executable, "-c", "from kanjian.tui.cli import main; main()"]


def _pair(
    ours: list[str], peer: list[str], env: dict[str, str], rounds: int
) -> tuple[list[float], list[float]]:
    timed(ours, env), timed(peer, env)  # warm the page cache for both
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.append(timed(ours, env))
        b.append(timed(peer, env))
    return a, b


def _line(label: str, values: list[float]) -> str:
    median = statistics.median(values)
    return f"{label:<34} median {median * 1000:7.1f} ms  (min {min(values) * 1000:.1f})"


def _answer(request: dict[str, Any]) -> str:
    return json.dumps({"thought": "look", "answer": "It is red."})


def _setup(folder: Path, url: str) -> tuple[Path, dict[str, str]]:
    from PIL import Image

    image = folder / "square.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image)
    llm_home = folder / "llm"
    llm_home.mkdir()
    (llm_home / "extra-openai-models.yaml").write_text(
        f'- model_id: scripted\n  model_name: default\n  api_base: "{url}/v1"\n  vision: true\n',
        encoding="utf-8",
    )
    home = folder / "kanjian-home"
    home.mkdir()
    env = {
        **os.environ,
        "KANJIAN_HOME": str(home),
        "LLM_USER_PATH": str(llm_home),
        "OPENAI_API_KEY": "unused",
        "NO_COLOR": "1",
    }
    return image, env


def main(argv: list[str] | None = None) -> None:
    from kanjian.vlm.fake_server import ScriptedServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    rounds = parser.parse_args(argv).rounds
    llm = installed("llm")
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(responder=_answer) as server:
        image, env = _setup(Path(tmp), server.url)
        help_k, help_l = _pair([*KANJIAN, "--help"], [llm, "--help"], env, rounds)
        ask = [*KANJIAN, "ask", QUESTION, "-i", str(image), "--url", server.url]
        prompt = [llm, "prompt", "-m", "scripted", QUESTION, "-a", str(image)]
        ask_k, ask_l = _pair([*ask, "--no-memory", "--json"], prompt, env, rounds)
        tasks = Path(tmp) / "tasks.jsonl"
        task = {"id": "t1", "question": QUESTION, "images": [str(image)]}
        tasks.write_text(json.dumps(task) + "\n", encoding="utf-8")
        batch = [*KANJIAN, "batch", str(tasks), "--url", server.url]
        bare = [sys.executable, "-m", "bench._bare_client", str(tasks), server.url, "1"]
        bare.append(str(Path(tmp) / "bare.jsonl"))
        batch_k, batch_b = _pair(batch, bare, env, rounds)
    print(_line("kanjian --help", help_k))
    print(_line("llm --help", help_l))
    k = statistics.median(help_k)
    print(
        f"  kanjian --help {k:.3f} s (goal <= 0.2 s); ratio kanjian/llm = {k / statistics.median(help_l):.2f}"
    )
    print(_line("kanjian ask --no-memory (tools on)", ask_k))
    print(_line("llm prompt (same question, image)", ask_l))
    ratio = statistics.median(ask_k) / statistics.median(ask_l)
    print(f"  ratio kanjian ask / llm prompt = {ratio:.2f} (goal <= 0.8)")
    print(_line("kanjian batch, 1 task", batch_k))
    print(_line("bare aiohttp client, 1 task", batch_b))
    b = statistics.median(batch_k)
    print(
        f"  kanjian batch start to end {b:.3f} s (goal <= 0.8 s); "
        f"ratio kanjian/bare = {b / statistics.median(batch_b):.2f}"
    )


if __name__ == "__main__":
    main()
