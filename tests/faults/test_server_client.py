"""The client against a misbehaving server: each fault gives the answer or one clear sentence."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from kanjian.vlm.client import SGLangClient
from kanjian.vlm.errors import AuthError, ServerHTTPError, ServerTimeout, StreamError
from kanjian.vlm.retry import retry_after
from kanjian.vlm.types import ChatRequest, Finished, TextDelta, UsageReport
from tests.faults import fault_server as fs
from tests.faults.fault_server import FaultServer

Make = Callable[..., SGLangClient]
REQUEST = ChatRequest(messages=[{"role": "user", "content": "hi"}])


@pytest.fixture
async def make(faults: FaultServer) -> AsyncIterator[Make]:
    made: list[SGLangClient] = []

    def make(**options: Any) -> SGLangClient:
        options.setdefault("backoff", 0.0)
        client = SGLangClient(faults.url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def events(client: SGLangClient) -> list[Any]:
    return [event async for event in client.stream(REQUEST)]


def text(got: list[Any]) -> str:
    return "".join(e.text for e in got if isinstance(e, TextDelta))


async def test_429_with_retry_after_is_retried_after_the_wait_it_asks(
    faults: FaultServer, make: Make
) -> None:
    faults.play(fs.too_many("0.6"), fs.ok())
    got = await events(make())
    assert fs.ANSWER in text(got)
    first, second = faults.chats
    assert second.at - first.at >= 0.55


async def test_429_on_a_whole_answer_is_retried_too(faults: FaultServer, make: Make) -> None:
    faults.play(fs.too_many("0"), fs.too_many("0"), fs.ok())
    result = await make().complete(REQUEST)
    assert result.text  # the SSE answer read whole
    assert len(faults.chats) == 3


async def test_429_that_lasts_says_the_server_is_busy_not_check_the_url(
    faults: FaultServer, make: Make
) -> None:
    faults.play(*[fs.too_many("0")] * 3)
    with pytest.raises(ServerHTTPError) as caught:
        await events(make(retries=2))
    message = str(caught.value)
    assert "429 Too Many Requests after 3 attempts" in message
    assert "busy" in message and "check the URL" not in message


def test_retry_after_reads_seconds_and_http_dates_and_is_capped() -> None:
    assert retry_after("2") == 2.0
    assert retry_after(None) == 0.0
    assert retry_after("soon") == 0.0
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 20))
    assert 15 < retry_after(later) <= 21
    client = SGLangClient("http://127.0.0.1:9", backoff=0.0)
    busy = httpx.Response(429, headers={"Retry-After": "3600"})
    assert client._delay(1, busy) == 30.0


async def test_5xx_burst_then_the_answer(faults: FaultServer, make: Make) -> None:
    faults.play(fs.status(500), fs.status(502), fs.status(503), fs.ok())
    assert fs.ANSWER in text(await events(make()))
    assert len(faults.chats) == 4


async def test_stall_before_any_byte_times_out_at_the_read_timeout(
    faults: FaultServer, make: Make
) -> None:
    faults.play(fs.stall(30))
    started = time.monotonic()
    with pytest.raises(ServerTimeout, match="within 1 s"):
        await events(make(read_timeout=1.0))
    assert time.monotonic() - started < 3


async def test_stall_mid_answer_times_out_naming_what_came(faults: FaultServer, make: Make) -> None:
    faults.play(fs.stall_mid(30))
    with pytest.raises(ServerTimeout, match="after 16 characters"):
        await events(make(read_timeout=1.0))


async def test_stream_without_done_that_stays_open_ends_after_finish_and_usage(
    faults: FaultServer, make: Make
) -> None:
    faults.play(fs.no_done())
    started = time.monotonic()
    got = await events(make(read_timeout=60.0))
    assert time.monotonic() - started < 5  # not the 60 s read timeout
    assert fs.ANSWER in text(got)
    assert [type(e) for e in got[-2:]] == [Finished, UsageReport]


async def test_html_answer_to_a_stream_says_not_an_openai_api(
    faults: FaultServer, make: Make
) -> None:
    faults.play(fs.html())
    with pytest.raises(ServerHTTPError) as caught:
        await events(make())
    message = str(caught.value)
    assert "text/html" in message and "not an OpenAI-compatible API" in message
    assert "cut off" not in message


async def test_slow_drip_bytes_still_make_the_answer(faults: FaultServer, make: Make) -> None:
    faults.play(fs.drip(0.001))
    assert fs.ANSWER in text(await events(make()))


async def test_mid_stream_disconnect_says_cut_off(faults: FaultServer, make: Make) -> None:
    faults.play(fs.disconnect(3))
    with pytest.raises(StreamError, match="cut off mid-stream after 16 characters"):
        await events(make())
    assert len(faults.chats) == 1  # never retried once the answer began


@pytest.mark.parametrize("status", [401, 500])
async def test_server_echoing_the_authorization_header_never_gets_the_key_quoted(
    faults: FaultServer, make: Make, status: int
) -> None:
    faults.play(*[fs.echo_auth(status)] * 2)
    with pytest.raises((AuthError, ServerHTTPError)) as caught:
        await events(make(api_key="sk-secret-0123456789", retries=1))
    assert "sk-secret" not in str(caught.value)
    assert "sk-secret" not in (caught.value.body or "")
    assert "Bearer ***" in str(caught.value)
