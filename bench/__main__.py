"""``python -m bench`` (``make bench``): run every benchmark, one after another.

Each benchmark is a module ``bench.<name>`` with a ``main()`` that prints its figures and a
ratio against a baseline measured in the same run. ``python -m bench NAME ...`` runs some.
"""

from __future__ import annotations

import importlib
import sys
import time

ALL = (
    "cli",
    "client",
    "wire",
    "local",
    "gpu",
    "ocr",
    "agent",
    "batch",
    "schema",
    "recall",
    "recall_gate",
    "memory",
    "ask",
    "tui",
    "chat_memory",
    "mcp",
)


def main(argv: list[str]) -> int:
    names = argv or list(ALL)
    failed = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"(no bench.{name} yet)")
            continue
        try:
            module.main()
        except Exception as exc:
            failed.append(name)
            print(f"bench.{name} failed: {type(exc).__name__}: {exc}")
        print(f"--- {time.perf_counter() - start:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
