"""Finding and timing whole commands, for the benches that count process start-up."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["installed", "timed"]


def installed(name: str) -> str:
    """The console script ``name`` beside this interpreter (the venv's), else on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name!r} is not installed in this environment; run `make install`.")
    return found


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of ``command``; a failing run stops the bench with its stderr."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds
