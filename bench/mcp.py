"""``kanjian mcp``: N concurrent ``ask`` calls from one client, against the same N one by one.

A scripted model server answers every request after a fixed latency (like a busy SGLang
server); ``kanjian mcp`` runs in its own process, over stdio and over streamable HTTP, with
``--concurrency N``; the official MCP client makes the calls. The baseline, measured in the
same run against the same server: the same N calls made one after another. With calls served
concurrently, N at once take about as long as one; one after another they take N times that.

    .venv/bin/python -m bench.mcp [--calls N] [--latency S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

KANJIAN = [sys.executable, "-c", "from kanjian.tui.cli import main; main()", "mcp"]
ANSWER = json.dumps({"thought": "done", "answer": "A red square on white."})


def _env(home: Path, url: str) -> dict[str, str]:
    (home / "config.toml").write_text("[vlm]\nretries = 0\n\n[memory]\nenabled = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANJIAN_")}
    return env | {"KANJIAN_HOME": str(home), "KANJIAN_URL": url}


@asynccontextmanager
async def _stdio(env: dict[str, str], calls: int) -> AsyncIterator[Any]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    args = [*KANJIAN[1:], "--concurrency", str(calls)]
    params = StdioServerParameters(command=KANJIAN[0], args=args, env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def _http(env: dict[str, str], calls: int) -> AsyncIterator[Any]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    proc, url = await asyncio.to_thread(_start_http, env, calls)
    try:
        async with (
            streamable_http_client(url) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
    finally:
        proc.terminate()
        proc.wait(10)


def _start_http(env: dict[str, str], calls: int) -> tuple[subprocess.Popen[str], str]:
    """``kanjian mcp --http 0`` and the URL it prints once it listens."""
    proc = subprocess.Popen(
        [*KANJIAN, "--http", "0", "--concurrency", str(calls)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if found := re.search(r"serving (http://\S+/mcp)", line):
            return proc, found.group(1)
    raise RuntimeError(f"kanjian mcp --http exited with {proc.wait()}")


async def _timed(job: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await job()
    return time.perf_counter() - started


async def _measure(session: Any, calls: int) -> dict[str, float]:
    async def ask(n: int) -> None:
        result = await session.call_tool("ask", {"question": f"What is in picture {n}?"})
        if result.isError:
            raise RuntimeError(result.content[0].text)

    await ask(-1)  # warm: the agent, the backend's connection pool

    async def one_by_one() -> None:
        for n in range(calls):
            await ask(n)

    async def together() -> None:
        await asyncio.gather(*(ask(n) for n in range(calls)))

    return {
        "one": await _timed(lambda: ask(0)),
        "serial": await _timed(one_by_one),
        "concurrent": await _timed(together),
    }


async def _run(calls: int, latency: float) -> None:
    from kanjian.vlm.fake_server import ScriptedServer

    with (
        ScriptedServer(responder=lambda _: ANSWER, latency=latency, record=False) as model,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = _env(Path(tmp), model.url)
        print(f"{calls} ask calls, model latency {latency * 1000:.0f} ms per request")
        for name, opener in (("stdio", _stdio), ("http", _http)):
            async with opener(env, calls) as session:
                figures = await _measure(session, calls)
            speedup = figures["serial"] / figures["concurrent"]
            print(
                f"{name:5}  1 call {figures['one']:.2f} s  |  {calls} one by one "
                f"{figures['serial']:.2f} s  |  {calls} at once {figures['concurrent']:.2f} s  "
                f"|  speed-up {speedup:.1f}x  (at once / 1 call: "
                f"{figures['concurrent'] / figures['one']:.2f})",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mcp")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.25)
    args = parser.parse_args(argv if argv is not None else [])
    asyncio.run(_run(args.calls, args.latency))


if __name__ == "__main__":
    main(sys.argv[1:])
