"""Finding and timing whole commands, for the benches that count process start-up."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["installed", "scripted_server", "timed", "timed_with_cpu"]


def installed(name: str) -> str:
    """The console script ``name`` beside this interpreter (the venv's), else on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name!r} is not installed in this environment; run `make install`.")
    return found


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``command``; a failing run stops the bench with its stderr."""
    return timed_with_cpu(command, env)[0]


def timed_with_cpu(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``command``.

    On a shared machine the CPU time is the steadier of the two.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-500:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


@contextmanager
def scripted_server(folder: Path, replies: list[str], *options: str) -> Iterator[str]:
    """The scripted model server (``kanjian.vlm.fake_server``) on 127.0.0.1 giving ``replies``
    in turn (``*options``: e.g. ``--latency 0.1``); yields its URL, stops it on exit."""
    script = folder / "script.json"
    script.write_text(json.dumps(replies, ensure_ascii=False), encoding="utf-8")
    command = [sys.executable, "-m", "kanjian.vlm.fake_server", "--port", "0"]
    server = subprocess.Popen(
        [*command, "--script", str(script), *options], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)
