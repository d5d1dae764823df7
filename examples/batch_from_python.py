"""Ask the same question about every image in a folder, many at once, one JSON line each.

    KANJIAN_URL=http://127.0.0.1:30000 python examples/batch_from_python.py photos/ "Any text?"

One ``Kanjian`` serves every question: one connection pool, one agent graph. A semaphore
bounds how many run at once (what ``kanjian batch -c`` does); each result is printed as it
finishes, as the ``ask --json`` / batch line of DESIGN.md. Memory is off: scripts that
process many images rarely want each one remembered (pass ``memory=True`` if you do).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from kanjian import Kanjian

CONCURRENCY = 8
SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


async def main(images: list[Path], question: str) -> int:
    gate = asyncio.Semaphore(CONCURRENCY)
    failed = 0

    async with Kanjian(memory=False) as kanjian:

        async def one(path: Path) -> None:
            nonlocal failed
            async with gate:
                result = await kanjian.ask(question, [path], run_id=path.name)
            failed += bool(result.error)
            print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)

        await asyncio.gather(*(one(path) for path in images))
    print(f"{len(images) - failed} ok, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python examples/batch_from_python.py FOLDER QUESTION")
    sys.exit(asyncio.run(main(images_in(Path(sys.argv[1])), sys.argv[2])))
