"""Per-request overhead of SGLangClient.complete against raw httpx posting the same body.

The server is the scripted fake (``python -m vlm.fake_server``, echo mode, no latency) in
its own process on 127.0.0.1, so it does not share the GIL with the client being timed. Both
sides use the same ``httpx.AsyncClient`` (same pool, same keep-alive connections) and the
identical JSON bytes; the raw side also decodes the JSON answer, which any caller must do.
Runs are interleaved (A B, B A, ...) so drift in machine load falls on both equally.

    .venv/bin/python -m bench.client [--requests N] [--concurrency C]

Prints per-request times and the ratio client / raw (goal: at most 1.05). Then the same
two, but SGLangClient with its own pool (httpx over the aiohttp transport of
:mod:`kanjian.vlm.transport`) against raw httpx on its native transport: what a user gets by
default. A last part sends bursts of 500 requests at once to a server with 200 ms latency
(a batch's shape): SGLangClient's own pool against raw httpx on one pool, in client CPU per
request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from kanjian.vlm.client import CHAT_PATH, SGLangClient, build_body, encode_body
from kanjian.vlm.types import ChatRequest, SamplingParams

Call = Callable[[], Awaitable[Any]]
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
REQUEST = ChatRequest(
    messages=[
        {"role": "system", "content": "You are kanjian, a terminal assistant that sees. " * 8},
        {"role": "user", "content": "What is written on the sign in image_1?"},
    ],
    params=SamplingParams(temperature=0.0, max_tokens=256),
)


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kanjian.vlm.fake_server", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


Sample = tuple[float, float]  # (wall seconds, this process's CPU seconds)


async def timed(call: Call) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    await call()
    return time.perf_counter() - wall, time.process_time() - cpu


async def sequential(a: Call, b: Call, n: int) -> tuple[list[Sample], list[Sample]]:
    times_a: list[Sample] = []
    times_b: list[Sample] = []
    for i in range(n):
        first, second = ((a, times_a), (b, times_b)) if i % 2 == 0 else ((b, times_b), (a, times_a))
        first[1].append(await timed(first[0]))
        second[1].append(await timed(second[0]))
    return times_a, times_b


async def concurrent(
    a: Call, b: Call, rounds: int, width: int
) -> tuple[list[Sample], list[Sample]]:
    """Per request of ``width`` requests at once, rounds interleaved."""

    async def burst(call: Call) -> None:
        await asyncio.gather(*(call() for _ in range(width)))

    times_a, times_b = await sequential(lambda: burst(a), lambda: burst(b), rounds)
    return [(w / width, c / width) for w, c in times_a], [
        (w / width, c / width) for w, c in times_b
    ]


def describe(name: str, samples: list[Sample]) -> str:
    walls = sorted(w for w, _ in samples)
    cpu = statistics.fmean(c for _, c in samples)
    return (
        f"  {name:<22} wall median {statistics.median(walls) * 1e6:8.1f} us   "
        f"p90 {walls[int(len(walls) * 0.9)] * 1e6:8.1f} us   client CPU {cpu * 1e6:7.1f} us"
    )


def report(title: str, client: list[Sample], raw: list[Sample], goal: str = "<= 1.05") -> None:
    wall = statistics.median(w for w, _ in client) / statistics.median(w for w, _ in raw)
    cpu = sum(c for _, c in client) / sum(c for _, c in raw)
    print(f"{title} ({len(client)} each, interleaved)")
    print(describe("SGLangClient.complete", client))
    print(describe("raw httpx post + json", raw))
    print(f"  ratio client/raw: wall median {wall:.3f}, client CPU {cpu:.3f}  (goal {goal})")


async def burst_cpu(n: int, width: int, url: str) -> None:
    """A batch-like burst: ``width`` requests at once against a 200 ms server, client CPU.

    SGLangClient with its own pool vs raw httpx on one AsyncClient, interleaved.
    """
    body = encode_body(build_body(REQUEST, stream=False))
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=width)
    async with (
        httpx.AsyncClient(limits=limits, trust_env=False) as http,
        SGLangClient(url) as client,
    ):

        async def raw() -> Any:
            response = await http.post(url + CHAT_PATH, content=body, headers=HEADERS)
            return json.loads(response.content)

        async def burst(call: Call) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(call() for _ in range(width)))
            return time.perf_counter() - wall, time.process_time() - cpu

        figures: dict[str, list[tuple[float, float]]] = {"client": [], "raw": []}
        for i in range(n):
            order = [("client", lambda: client.complete(REQUEST)), ("raw", raw)]
            for name, call in order if i % 2 else order[::-1]:
                figures[name].append(await burst(call))
    print(f"burst of {width} at once, 200 ms server latency ({n} bursts each, interleaved)")
    for name, label in (("client", "SGLangClient (own pool)"), ("raw", "raw httpx, one pool")):
        walls, cpus = zip(*figures[name], strict=True)
        print(
            f"  {label:<24} wall {statistics.median(walls):6.3f} s   "
            f"client CPU {statistics.median(cpus) / width * 1e6:7.1f} us/request"
        )
    ratio = statistics.median(c for _, c in figures["client"]) / statistics.median(
        c for _, c in figures["raw"]
    )
    print(f"  ratio client/raw CPU per request: {ratio:.3f}")


async def run(n: int, width: int) -> None:
    proc, url = start_server()
    try:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as http:
            client = SGLangClient(url, http=http)
            body = encode_body(build_body(REQUEST, stream=False))

            async def raw() -> Any:
                response = await http.post(url + CHAT_PATH, content=body, headers=HEADERS)
                return json.loads(response.content)

            async def ours() -> Any:
                return await client.complete(REQUEST)

            await sequential(ours, raw, 50)  # warm-up: connections, code paths
            report("sequential, one shared httpx client", *await sequential(ours, raw, n))
            report(
                f"concurrent x{width}, one shared httpx client",
                *await concurrent(ours, raw, max(n // 10, 10), width),
            )
            async with SGLangClient(url) as own:

                async def by_default() -> Any:
                    return await own.complete(REQUEST)

                await sequential(by_default, raw, 50)
                title = "sequential, SGLangClient's own pool vs raw httpx (native transport)"
                report(title, *await sequential(by_default, raw, n), goal="< 1")
                title = f"concurrent x{width}, own pool vs raw httpx"
                rounds = max(n // 10, 10)
                report(title, *await concurrent(by_default, raw, rounds, width), goal="< 1")
    finally:
        proc.terminate()
        proc.wait(10)
    proc, url = start_server("--latency", "0.2")
    try:
        await burst_cpu(6, 500, url)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency))


if __name__ == "__main__":
    main()
