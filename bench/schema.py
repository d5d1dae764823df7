"""``python -m bench.schema``: structured answers cost no throughput (``bench.batch --schema``).

500 extraction tasks at ``-c 32 -j 1`` with ``batch --schema`` beside the same tasks without,
in pairs against one scripted server; prints the median time ratio (goal <= 1.05) and
kanjian's CPU per task ratio. See :mod:`bench.batch` for the set-up.
"""

from __future__ import annotations

from bench.batch import _compare_schema


def main() -> None:
    _compare_schema(latency=0.2, repeat=5)


if __name__ == "__main__":
    main()
