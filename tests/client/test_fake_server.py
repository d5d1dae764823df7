"""The scripted server itself: scripting, prefix-cache usage, parallelism, the process mode."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kanjian.vlm.client import SGLangClient
from kanjian.vlm.errors import BadRequestError
from kanjian.vlm.fake_server import PrefixCache, Reply, ScriptedServer, echo, split_text
from kanjian.vlm.types import ChatRequest, TextDelta, Usage

ClientFactory = Callable[..., SGLangClient]
SYSTEM = "You are kanjian. Tools: ocr, ground, zoom, math. " * 20


def chat(*messages: tuple[str, str]) -> ChatRequest:
    return ChatRequest(messages=[{"role": role, "content": text} for role, text in messages])


def test_split_text_keeps_every_character() -> None:
    text = "看见 a cat\non the mat 🐈"
    assert "".join(split_text(text, 3)) == text
    assert all(0 < len(p) <= 3 for p in split_text(text, 3))
    assert split_text("") == []


def test_prefix_cache_counts_whole_pages_of_the_common_prefix() -> None:
    cache = PrefixCache(page_chars=4)
    assert cache.match_and_insert("abcdefghij") == 0
    assert cache.match_and_insert("abcdefgXij") == 4
    assert cache.match_and_insert("abcdefghijkl") == 8
    assert cache.match_and_insert("zbcdefghij") == 0


async def test_usage_reports_prefix_cache_hits(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.responder = lambda request: "ok"
    client = make_client()
    first = await client.complete(chat(("system", SYSTEM), ("user", "Read image_1.")))
    second = await client.complete(
        chat(("system", SYSTEM), ("user", "Read image_1."), ("assistant", "ok"), ("user", "More"))
    )
    assert first.usage.cached_tokens == 0
    assert first.usage.prompt_tokens > len(SYSTEM) // 5
    assert len(SYSTEM) // 4 - 16 <= second.usage.cached_tokens < second.usage.prompt_tokens
    other = await client.complete(chat(("system", "Different."), ("user", "Read image_1.")))
    assert other.usage.cached_tokens == 0


async def test_explicit_usage_wins(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.enqueue(Reply(text="x", usage=Usage(5, 1, 0), cached_tokens=3))
    assert (await make_client().complete(chat(("user", "?")))).usage == Usage(5, 1, 3)


async def test_queue_comes_before_the_responder(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.responder = echo
    server.enqueue("queued")
    client = make_client()
    assert (await client.complete(chat(("user", "first")))).text == "queued"
    assert (await client.complete(chat(("user", "second")))).text == "second"


async def test_async_responder_sees_the_request(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    async def responder(request: dict[str, Any]) -> Reply:
        await asyncio.sleep(0)
        return Reply(text=f"{len(request['messages'])} messages", finish_reason="length")

    server.responder = responder
    result = await make_client().complete(chat(("system", "s"), ("user", "u")))
    assert (result.text, result.finish_reason) == ("2 messages", "length")


async def test_nothing_scripted_is_a_clear_400(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    with pytest.raises(BadRequestError, match="no reply scripted"):
        await make_client().complete(chat(("user", "?")))


def misconfigure(server: ScriptedServer) -> None:
    server.starting_polls = None
    server.missing.add("/model_info")
    server.enqueue("left over")
    httpx.get(server.url + "/health")


def test_reset_restores_the_settings(server: ScriptedServer) -> None:
    misconfigure(server)
    server.reset()
    assert (server.starting_polls, server.missing, server.requests) == (0, set(), [])
    assert httpx.get(server.url + "/health").status_code == 200


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="once the server started"):
        _ = ScriptedServer().url


async def test_async_with_starts_and_stops() -> None:
    async with ScriptedServer() as srv:
        srv.enqueue("hi")
        async with SGLangClient(srv.url) as client:
            assert (await client.complete(chat(("user", "?")))).text == "hi"


@pytest.mark.slow
async def test_hundreds_of_requests_are_served_at_once(make_client: ClientFactory) -> None:
    """All 500 requests are in the server at the same moment: a barrier in the responder
    releases only when the last one arrives, so any queueing (server or client pool) would
    hang it instead of passing."""
    count = 500
    arrived = 0
    everyone: asyncio.Event | None = None

    async def barrier(request: dict[str, Any]) -> Reply:
        nonlocal arrived, everyone
        everyone = everyone or asyncio.Event()
        arrived += 1
        if arrived == count:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 60)
        return Reply(text=echo(request))

    with ScriptedServer(barrier, latency=0.2, record=False) as srv:
        client = make_client(srv.url)
        answers = await asyncio.gather(
            *(client.complete(chat(("user", f"q{i}"))) for i in range(count))
        )
    assert [a.text for a in answers] == [f"q{i}" for i in range(count)]
    assert (srv.request_count, srv.requests) == (count, [])


# -- python -m vlm.fake_server --------------------------------------------------------------


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kanjian.vlm.fake_server", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        return proc, proc.stdout.readline().strip()

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.slow
async def test_process_replays_its_script_then_repeats_the_last(
    tmp_path: Path, process: Callable[..., tuple[subprocess.Popen[str], str]]
) -> None:
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(["first", {"text": "second", "finish_reason": "length"}]))
    proc, url = process("--script", str(script), "--token-delay", "0")
    assert url.startswith("http://127.0.0.1:")
    async with SGLangClient(url) as client:
        answers = [await client.complete(chat(("user", "?"))) for _ in range(3)]
        events = [e async for e in client.stream(chat(("user", "?")))]
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert [a.text for a in answers] == ["first", "second", "second"]
    assert answers[1].finish_reason == "length"
    assert streamed == "second"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


@pytest.mark.slow
async def test_process_echoes_without_a_script(
    process: Callable[..., tuple[subprocess.Popen[str], str]],
) -> None:
    _, url = process()
    async with SGLangClient(url) as client:
        result = await client.complete(chat(("user", "say this back")))
    assert result.text == "say this back"


def test_process_refuses_a_bad_script(tmp_path: Path) -> None:
    script = tmp_path / "replies.json"
    script.write_text('{"not": "a list"}')
    done = subprocess.run(
        [sys.executable, "-m", "kanjian.vlm.fake_server", "--script", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"Cannot use the script {str(script)!r}" in done.stderr
