"""``kanjian batch`` throughput against a model that answers every request after a fixed delay.

The scripted model server (``python -m vlm.fake_server``) runs in its own process, like a
real SGLang server, and answers each chat request after ``--latency`` seconds (200 ms) with
unlimited parallelism. So with ``-c C`` tasks in flight the ideal is ``C / latency`` tasks per
second; whatever the batch falls short of it is kanjian's own cost (image loading and
encoding, the agent graph, JSON, the progress display, writing lines).

``-c`` bounds the requests in flight and the batch paces its tasks (:mod:`kanjian.vlm.pacing`): a
few more tasks than ``-c`` prepare their requests, one at a time, while the server works.

The batch runs in this process through the very function the CLI calls
(:func:`tui.commands.batch_cmd.execute`, progress in its log-line mode), each configuration on
its own set of freshly rendered one-image tasks (no image is seen twice, so no cache helps).
The time is the runner's, from the first task's start to the last task's line; with worker
processes (``-j``, default auto) their start-up (import, agent build, server probe) is printed
separately, not hidden. Each ``-c`` runs with the default ``-j auto``, and ``-c 32`` once more
with ``-j 1`` (one process, the baseline the workers are for). The CPU time per task of kanjian
(this process plus its finished workers) and of the server process is printed too: on a busy machine
the wall-clock ratio swings with other load, while CPU per task is kanjian's own cost (at
``-c 32`` the batch is CPU-bound once kanjian plus the server need more than 1/160 s per task).

    .venv/bin/python -m bench.batch [--latency S] [--repeat N] [--only C] [--photo WxH]
    .venv/bin/python -m bench.batch --whole [--tasks N] [--photo WxH]
    .venv/bin/python -m bench.batch --schema [--repeat N]

Goal: ``-c 32`` over 500 tasks reaches at least 90% of 32 / 0.2 s = 160 tasks/s.

First, the acceptance figures of the whole command as a user runs it (``--whole`` alone
runs only these): ``kanjian batch -c 32`` in its own process over 2,000 tasks, timed from
spawn to exit, start-up included. Against a server answering at once, kanjian's CPU per task
is the process's user+sys CPU (its workers' included) / 2,000 (goal <= 3 ms); against the
200 ms server, its wall time against the ideal 2,000 x 0.2 s / 32 = 12.5 s (goal >= 0.9).
Beside each, the same tasks through a bare aiohttp client (:mod:`bench._bare_client`, the
floor: read, base64, post, parse, write a line) in the same run.

``--schema`` measures structured answers instead: 500 extraction tasks at ``-c 32 -j 1`` with
``batch --schema`` beside the same 500 tasks without it, in pairs alternating which goes
first, against one server (which answers an object when the request's answer branch asks
for one, else a string). Goal: time with / time without <= 1.05 (the schema is compiled
once, not per task). The figure is the median over the pairs, with kanjian's CPU per task
beside it: on a shared machine one run's wall time swings with other load.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# (concurrency, tasks, processes): -c 32 over 500 with -j auto is the acceptance figure; the
# others show the scaling, and -j 1 what one process reaches.
CONFIGS = ((1, 25, None), (8, 100, None), (32, 500, None), (32, 500, 1))
ANSWER = json.dumps({"thought": "I can read it", "answer": "A label that reads KANJIAN 看见."})
SCHEMA = "label: the text on the label, language, lines int"
OBJECT = {
    "thought": "I can read it",
    "answer": {"label": "KANJIAN 看见", "language": "en, zh", "lines": 1},
}


def _extraction_reply(request: dict[str, Any]) -> str:
    """An object when the step's answer branch is a schema, else the plain answer."""
    fmt = request.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema", {})
    branches = schema.get("anyOf", [schema])
    wants_object = any(
        b.get("properties", {}).get("answer", {}).get("type") == "object" for b in branches
    )
    return json.dumps(OBJECT, ensure_ascii=False) if wants_object else ANSWER


def _serve(latency: float) -> None:
    """``python -m bench.batch --serve``: the scripted server answering _extraction_reply."""
    import signal
    import threading

    from kanjian.vlm.fake_server import ScriptedServer

    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with ScriptedServer(_extraction_reply, latency=latency, record=False) as server:
        print(server.url, flush=True)
        while not done.wait(0.2):
            pass


class _Server:
    """``python -m vlm.fake_server`` in a child process, answering every request the same."""

    def __init__(self, folder: Path, latency: float, extraction: bool = False) -> None:
        script = folder / "script.json"
        script.write_text(json.dumps([ANSWER], ensure_ascii=False), encoding="utf-8")
        command = [sys.executable, "-m", "kanjian.vlm.fake_server", "--port", "0"]
        command += ["--script", str(script), "--latency", str(latency)]
        if extraction:
            command = [sys.executable, "-m", "bench.batch", "--serve", "--latency", str(latency)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used (Linux ``/proc``; None elsewhere)."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text(encoding="ascii")
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _render_tasks(
    folder: Path, count: int, seed: int, photo: tuple[int, int] | None = None
) -> Path:
    """``count`` tasks, each with its own image (distinct pixels, so distinct bytes): a
    320x240 PNG label, or with ``photo`` a JPEG of that size with a photo's texture."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True)
    lines = []
    for n in range(count):
        if photo is None:
            image = Image.new("RGB", (320, 240), ((seed * 37 + n) % 256, (n * 7) % 256, 200))
            ImageDraw.Draw(image).text((20, 100), f"label {seed}-{n}", fill="black")
            path = folder / f"{n}.png"
            image.save(path, format="PNG")
        else:
            image = _photo(photo, seed * 1000 + n)
            path = folder / f"{n}.jpg"
            image.save(path, format="JPEG", quality=90)
        task = {"id": f"{seed}-{n}", "question": "What does the label say?", "images": [path.name]}
        lines.append(json.dumps(task))
    tasks = folder / "tasks.jsonl"
    tasks.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tasks


def _photo(size: tuple[int, int], seed: int) -> Any:
    """Smooth random colour fields plus fine noise: compresses like a camera picture."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
    noise = rng.integers(-12, 13, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


WHOLE_TASKS = 2000
WHOLE_CONCURRENCY = 32


def _whole_process(folder: Path, count: int, latency: float, photo: tuple[int, int] | None) -> None:
    """``kanjian batch -c 32`` and the bare client, each a whole process, over ``count``
    tasks: CPU per task against an instant server, then wall time against ideal."""
    tasks = _render_tasks(folder, count, 7, photo)
    c = WHOLE_CONCURRENCY
    print(f"whole command, {count} tasks, -c {c} (-j auto), start-up included:")
    for wait in (0.0, latency):
        server = _Server(folder, wait)
        try:
            runs = [_run_command(who, tasks, server.url, c) for who in ("kanjian", "bare")]
        finally:
            server.close()
        (k_wall, k_cpu, k_run), (b_wall, b_cpu, _) = runs
        k_ms, b_ms = k_cpu / count * 1000, b_cpu / count * 1000
        if wait == 0:
            print(f"  server answering at once: kanjian batch cpu {k_ms:.2f} ms/task "
                  f"(user+sys of the process / {count}); bare client {b_ms:.2f} ms/task; "
                  f"ratio {k_ms / b_ms:.2f} (goal: kanjian <= 3 ms)")  # fmt: skip
            continue
        ideal = count * wait / c
        print(f"  server answering after {wait * 1000:.0f} ms: kanjian batch {k_wall:.2f} s "
              f"= {ideal / k_wall:.3f} of ideal {ideal:.2f} s (start-up and wind-down "
              f"{k_wall - k_run:.2f} s, cpu {k_ms:.2f} ms/task); bare client {b_wall:.2f} s "
              f"= {ideal / b_wall:.3f} (goal: kanjian >= 0.9)")  # fmt: skip


def _run_command(who: str, tasks: Path, url: str, c: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (the process and its waited-for children) and, for
    kanjian, the seconds its own summary counts (first task to last line)."""
    import time

    home = Path(tempfile.mkdtemp(prefix=f"{who}-", dir=tasks.parent))
    out = home / "out.jsonl"
    if who == "kanjian":
        command = [sys.executable, "-c", "from kanjian.tui.cli import main; main()", "batch"]
        command += [str(tasks), "-c", str(c), "--url", url, "-o", str(out)]
    else:
        command = [sys.executable, "-m", "bench._bare_client", str(tasks), url, str(c), str(out)]
    env = {**os.environ, "KANJIAN_HOME": str(home / "home")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = out.read_text(encoding="utf-8").count("\n") if out.exists() else 0
    if done.returncode != 0 or lines != tasks.read_text(encoding="utf-8").count("\n"):
        raise RuntimeError(f"{who} failed ({done.returncode}, {lines} lines): {done.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counted = re.search(r" in ([0-9.]+) s \(", done.stderr)
    return wall, cpu, float(counted.group(1)) if counted else wall


def _cpu_seconds() -> float:
    """CPU of this process and of its finished, waited-for children (the workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


async def _run_one(
    tasks: Path, url: str, concurrency: int, processes: int | None, schema: str | None = None
) -> tuple[float, int, str]:
    from kanjian.tui.commands.batch_cmd import BatchOptions, execute

    options = BatchOptions(
        tasks_file=tasks,
        output=tasks.with_name("out.jsonl"),
        concurrency=concurrency,
        url=url,
        live_progress=False,
        processes=processes,
        schema=schema,
    )
    log = io.StringIO()
    cpu = _cpu_seconds()
    summary = await execute(options, err=log)
    cpu = _cpu_seconds() - cpu
    if summary.failed:
        raise RuntimeError(f"{summary.failed} tasks failed: {log.getvalue()}")
    line = log.getvalue().strip().splitlines()[-1]
    startup = f"workers up in {summary.startup_seconds:.2f} s (not timed); "
    startup = startup if summary.startup_seconds else ""
    cpu_line = f"kanjian cpu {cpu / summary.done * 1000:.1f} ms/task (incl. start-up)"
    return summary.seconds, summary.done, f"{line}\n    {startup}{cpu_line}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration")
    parser.add_argument("--only", type=int, help="only this concurrency (1, 8 or 32)")
    parser.add_argument(
        "--photo", metavar="WxH", help="one JPEG photo of this size per task (default: a small PNG)"
    )
    parser.add_argument("--schema", action="store_true", help="with vs without --schema")
    parser.add_argument("--whole", action="store_true", help="only the whole-command figures")
    parser.add_argument("--tasks", type=int, default=WHOLE_TASKS, help="tasks of those (2000)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.serve:
        _serve(args.latency)
        return
    if args.schema:
        _compare_schema(args.latency, args.repeat if args.repeat > 1 else 5)
        return
    photo = tuple(int(side) for side in args.photo.lower().split("x")) if args.photo else None
    root = Path(tempfile.mkdtemp(prefix="kanjian-bench-batch-"))
    # Sessions and images go to a throwaway data dir, not the user's.
    os.environ["KANJIAN_HOME"] = str(root / "home")
    _whole_process(root / "whole", args.tasks, args.latency, photo)  # type: ignore[arg-type]
    if args.whole:
        return
    server = _Server(root, args.latency)
    image = f"a {args.photo} JPEG photo" if photo else "a 320x240 PNG"
    print(f"model latency {args.latency * 1000:.0f} ms, server {server.url} (own process)")
    print(f"one image per task: {image}")
    try:
        for run in range(args.repeat):
            for number, (concurrency, count, processes) in enumerate(CONFIGS):
                if args.only and concurrency != args.only:
                    continue
                folder = root / f"r{run}-{number}"
                tasks = _render_tasks(folder, count, run * 100 + number, photo)  # type: ignore[arg-type]
                before = server.cpu_seconds()
                seconds, done, summary = asyncio.run(
                    _run_one(tasks, server.url, concurrency, processes)
                )
                after = server.cpu_seconds()
                _report(concurrency, processes, done, seconds, args.latency)
                if before is not None and after is not None:
                    summary += f", server cpu {(after - before) / done * 1000:.1f} ms/task"
                print(f"    {summary}")
    finally:
        server.close()
    print("goal: -c 32 (-j auto) over 500 tasks at >= 90% of ideal")


def _compare_schema(latency: float, repeat: int, count: int = 500, concurrency: int = 32) -> None:
    """The same ``count`` tasks with and without ``--schema``, alternating, one server."""
    import statistics

    root = Path(tempfile.mkdtemp(prefix="kanjian-bench-schema-"))
    os.environ["KANJIAN_HOME"] = str(root / "home")
    server = _Server(root, latency, extraction=True)
    print(f"model latency {latency * 1000:.0f} ms, server {server.url} (own process)")
    print(f"{count} tasks at -c {concurrency} -j 1, schema {SCHEMA!r}, with and without")
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    try:
        for schema in (None, SCHEMA):  # warm-up, not timed: imports, server, first connects
            warm = _render_tasks(root / f"warm-{bool(schema)}", 64, 99 + bool(schema), None)
            asyncio.run(_run_one(warm, server.url, concurrency, 1, schema))
        for run in range(max(repeat, 1)):
            # Alternate which goes first, so drift in the machine's load hits both alike.
            order = (None, SCHEMA) if run % 2 == 0 else (SCHEMA, None)
            results = {bool(schema): _timed_batch(root, run, schema, server, count, concurrency)
                       for schema in order}  # fmt: skip
            (t_with, c_with), (t_without, c_without) = results[True], results[False]
            ratios.append(t_with / t_without)
            cpu_ratios.append(c_with / c_without)
            print(f"  pair {run + 1} with/without: time {ratios[-1]:.3f}, cpu {cpu_ratios[-1]:.3f}")
    finally:
        server.close()
    print(
        f"time ratio with/without --schema, median of {len(ratios)} pairs: "
        f"{statistics.median(ratios):.3f} (kanjian cpu per task: {statistics.median(cpu_ratios):.3f})"
    )
    print("goal: <= 1.05")


def _timed_batch(
    root: Path, run: int, schema: str | None, server: _Server, count: int, concurrency: int
) -> tuple[float, float]:
    """One batch of fresh images (neither run finds the other's already stored): its wall
    seconds and kanjian's CPU seconds per task."""
    label = "with" if schema else "without"
    tasks = _render_tasks(root / f"r{run}-{label}", count, 2 * run + bool(schema), None)
    cpu, served = _cpu_seconds(), server.cpu_seconds() or 0.0
    seconds, done, _ = asyncio.run(_run_one(tasks, server.url, concurrency, 1, schema))
    cpu = (_cpu_seconds() - cpu) / done
    served = ((server.cpu_seconds() or 0.0) - served) / done
    _check_answers(tasks.with_name("out.jsonl"), structured=schema is not None)
    print(f"  pair {run + 1} {label:<7} --schema: {seconds:6.2f} s, {done / seconds:6.1f} tasks/s, "
          f"kanjian cpu {cpu * 1000:.1f} ms/task, server cpu {served * 1000:.1f} ms/task")  # fmt: skip
    return seconds, cpu


def _check_answers(output: Path, *, structured: bool) -> None:
    """Every line answered, in the shape asked for (a benchmark of wrong answers is void)."""
    for line in output.read_text(encoding="utf-8").splitlines():
        answer = json.loads(line)["answer"]
        if isinstance(answer, dict) is not structured:
            raise RuntimeError(
                f"expected a {'structured' if structured else 'text'} answer: {line}"
            )


def _report(
    concurrency: int, processes: int | None, done: int, seconds: float, latency: float
) -> None:
    achieved = done / seconds
    ideal = concurrency / latency
    jobs = "auto" if processes is None else str(processes)
    print(
        f"-c {concurrency:>2} -j {jobs:<4} x {done:>3} tasks: {seconds:6.2f} s, {achieved:6.1f} tasks/s, "
        f"ideal {ideal:6.1f} tasks/s, achieved/ideal {achieved / ideal:.3f}"
    )


if __name__ == "__main__":
    main()
