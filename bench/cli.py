"""``kanjian --help`` start-up time beside a peer CLI's (``llm --help``), in one run.

Goal (issue 2): at most half of the peer's, which is only possible when heavy modules
(httpx, LangChain, RapidOCR, chromadb, torch) load where they are used, not at start-up.
Runs alternate between the two commands so machine noise hits both alike.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 15


def _bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name!r} is not installed; run `make install` (the test extra has llm).")
    return found


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    kanjian, llm = [_bin("kanjian"), "--help"], [_bin("llm"), "--help"]
    _time(kanjian), _time(llm)  # warm the page cache for both
    ours, peer = [], []
    for _ in range(ROUNDS):
        ours.append(_time(kanjian))
        peer.append(_time(llm))
    k, p = statistics.median(ours), statistics.median(peer)
    print(f"kanjian --help  median {k * 1000:7.1f} ms  (min {min(ours) * 1000:.1f})")
    print(f"llm --help      median {p * 1000:7.1f} ms  (min {min(peer) * 1000:.1f})")
    print(f"ratio kanjian/llm = {k / p:.2f}  (goal <= 0.50)")


if __name__ == "__main__":
    main()
