"""The floor for ``bench.batch``: the least a batch client can do, as its own process.

``python -m bench._bare_client TASKS URL CONCURRENCY OUT`` answers a kanjian task file with
aiohttp alone: per task it reads the image, base64-encodes it into one chat request (system
prompt, image, question), posts it, parses the reply and the model's JSON action, and
appends the answer as one JSON line. No checks, no sessions, no tools: whatever kanjian
spends beyond this is the cost of what it does on top (image checks, the agent, sessions).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

SYSTEM = "You answer questions about images. Reply with JSON: thought, then answer."


async def _answer_all(tasks: list[dict[str, Any]], folder: Path, url: str, c: int, out: Any) -> int:
    import aiohttp

    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for task in tasks:
        queue.put_nowait(task)
    done = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while not queue.empty():
            task = queue.get_nowait()
            image = base64.b64encode((folder / task["images"][0]).read_bytes()).decode()
            user = [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
                {"type": "text", "text": task["question"]},
            ]
            body = {
                "model": "default",
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": user},
                ],
                "max_tokens": 1024,
                "temperature": 0.0,
            }
            async with session.post(f"{url}/v1/chat/completions", json=body) as response:
                reply = await response.json()
            action = json.loads(reply["choices"][0]["message"]["content"])
            out.write(json.dumps({"id": task["id"], "answer": action["answer"]}) + "\n")
            out.flush()
            done += 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(c)))
    return done


def main(argv: list[str]) -> int:
    tasks_file, url, concurrency, output = Path(argv[0]), argv[1], int(argv[2]), argv[3]
    lines = tasks_file.read_text(encoding="utf-8").splitlines()
    tasks = [json.loads(line) for line in lines if line.strip()]
    with open(output, "a", encoding="utf-8") as out:
        done = asyncio.run(_answer_all(tasks, tasks_file.parent, url, concurrency, out))
    return 0 if done == len(tasks) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
