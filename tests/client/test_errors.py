"""Every failure a user can meet, at the client: the error class, its sentence, its exit code.

Each runs against a real HTTP server (the scripted one) or a closed port; the server counts
requests, which is how retries are checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kanjian.vlm.client import SGLangClient
from kanjian.vlm.errors import (
    AuthError,
    BadRequestError,
    ServerError,
    ServerHTTPError,
    ServerTimeout,
    ServerUnreachable,
    StreamError,
    VLMError,
)
from kanjian.vlm.fake_server import Reply, ScriptedServer
from kanjian.vlm.types import ChatRequest, SamplingParams, TextDelta

ClientFactory = Callable[..., SGLangClient]
SGLANG_400 = "Input length (9000 tokens) exceeds the maximum allowed length (8192 tokens)."


def ask(text: str = "Describe image_1.") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], params=SamplingParams())


async def drain(client: SGLangClient, request: ChatRequest | None = None) -> str:
    return "".join(
        [e.text async for e in client.stream(request or ask()) if isinstance(e, TextDelta)]
    )


async def wait_for(condition: Callable[[], bool], budget: float = 10.0) -> None:
    """Wait for something the server will record soon (a disconnect); not a timing check."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    # The server records on its own thread: there is no event to await across threads.
    while not condition() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert condition()


async def test_unreachable_names_the_url_and_the_fix(
    closed_port_url: str, make_client: ClientFactory
) -> None:
    with pytest.raises(ServerUnreachable) as caught:
        await make_client(closed_port_url).complete(ask())
    assert str(caught.value) == (
        f"Cannot reach the model server at {closed_port_url!r}: connection refused. "
        "Start it with `kanjian serve-model`, or set KANJIAN_URL / pass --url."
    )
    assert caught.value.exit_code == 1
    assert not isinstance(caught.value.__cause__, VLMError)


async def test_unreachable_while_streaming(
    closed_port_url: str, make_client: ClientFactory
) -> None:
    with pytest.raises(ServerUnreachable, match="connection refused"):
        await drain(make_client(closed_port_url))


async def test_connect_errors_are_retried(closed_port_url: str) -> None:
    attempts: list[str] = []

    async def count(request: httpx.Request) -> None:
        attempts.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [count]}) as http:
        client = SGLangClient(closed_port_url, http=http, retries=2, backoff=0.0)
        with pytest.raises(ServerUnreachable):
            await client.complete(ask())
        assert len(attempts) == 3
        attempts.clear()
        with pytest.raises(ServerUnreachable):
            await drain(client)
        assert len(attempts) == 3


async def test_401_names_the_key_variable(make_client: ClientFactory) -> None:
    with ScriptedServer(api_key="right") as srv:
        with pytest.raises(AuthError) as caught:
            await make_client(srv.url, api_key="wrong").complete(ask())
        assert len(srv.chat_requests) == 1  # never retried
    message = str(caught.value)
    assert "rejected the API key" in message and "KANJIAN_API_KEY" in message
    assert srv.url in message
    assert (caught.value.status, caught.value.exit_code) == (401, 1)


async def test_401_without_a_key_says_one_is_needed(make_client: ClientFactory) -> None:
    with ScriptedServer(api_key="right") as srv, pytest.raises(AuthError, match="needs an API"):
        await drain(make_client(srv.url))


async def test_400_carries_sglangs_message(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply.http_error(400, SGLANG_400))
    with pytest.raises(BadRequestError) as caught:
        await make_client().complete(ask())
    assert str(caught.value) == (
        f"The model server at {server.url!r} rejected the request with 400 Bad Request: "
        f"{SGLANG_400!r}; fix the request (message, image or parameters) it names."
    )
    assert caught.value.status == 400
    assert '"object":"error"' in (caught.value.body or "")
    assert len(server.chat_requests) == 1


async def test_400_before_a_stream_begins(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply.http_error(400, SGLANG_400))
    with pytest.raises(BadRequestError, match="exceeds the maximum allowed length"):
        await drain(make_client())
    assert len(server.chat_requests) == 1


async def test_the_fake_rejects_a_tool_role_like_sglang(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    request = ChatRequest(messages=[{"role": "tool", "content": "42"}])
    with pytest.raises(BadRequestError, match="'tool'"):
        await make_client().complete(request)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_retried_then_reported(
    status: int, server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(*[Reply.http_error(status, "worker died")] * 3)
    server.enqueue(Reply.http_error(status, "worker died"))
    with pytest.raises(ServerHTTPError) as caught:
        await make_client(retries=3).complete(ask())
    assert len(server.chat_requests) == 4
    assert f"with {status} " in str(caught.value) and "after 4 attempts" in str(caught.value)
    assert "'worker died'" in str(caught.value)
    assert caught.value.status == status


async def test_503_then_success_is_transparent(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply.http_error(503, "loading"), Reply.http_error(500, "oops"), "fine")
    assert (await make_client(retries=3).complete(ask())).text == "fine"
    assert len(server.chat_requests) == 3


async def test_stream_is_retried_before_it_begins(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply.http_error(503, "loading"), "streamed fine")
    assert await drain(make_client(retries=1)) == "streamed fine"
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_4xx_is_never_retried(
    status: int, server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply.http_error(status, "no"), "never reached")
    with pytest.raises(VLMError):
        await make_client(retries=3).complete(ask())
    assert len(server.chat_requests) == 1


async def test_timeout_when_the_server_hangs(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(hang=True))
    with pytest.raises(ServerTimeout) as caught:
        await make_client(read_timeout=0.2).complete(ask())
    assert "did not answer /v1/chat/completions within 0.2 s" in str(caught.value)
    assert "raise the read timeout" in str(caught.value)
    assert caught.value.exit_code == 1
    await wait_for(lambda: server.disconnects == ["/v1/chat/completions"])


async def test_timeout_mid_stream(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.enqueue(Reply(text="slow words", token_delay=30))
    with pytest.raises(ServerTimeout, match="in the middle of an answer"):
        await drain(make_client(read_timeout=0.2))


async def test_stream_cut_mid_answer(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.enqueue(Reply(text="The cat sat on the mat.", cut_after=2))
    with pytest.raises(StreamError) as caught:
        await drain(make_client(retries=3))
    assert str(caught.value).startswith(
        f"The answer from the model server at {server.url!r} was cut off mid-stream after "
        "8 characters"
    )
    assert len(server.chat_requests) == 1  # an answer that began is never retried


async def test_malformed_chunk_is_named(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.enqueue(Reply(text="Hello there", malformed='{"choices": [{"delta": '))
    with pytest.raises(StreamError) as caught:
        await drain(make_client())
    assert str(caught.value) == (
        f"The model server at {server.url!r} sent a malformed stream chunk "
        '\'{"choices": [{"delta": \': it is not JSON; check that the URL points at an '
        "OpenAI-compatible server such as SGLang."
    )


async def test_mid_stream_error_event(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.enqueue(Reply(text="Partial answer", error="CUDA out of memory.", error_after=2))
    seen: list[str] = []
    with pytest.raises(StreamError) as caught:
        async for event in make_client().stream(ask()):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert "".join(seen) == "Partial "
    assert "reported an error mid-answer after 8 characters" in str(caught.value)
    assert "CUDA out of memory." in str(caught.value)


async def test_non_stream_error_is_a_server_error(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(error="boom"))
    with pytest.raises(ServerHTTPError, match="'boom'"):
        await make_client(retries=0).complete(ask())


async def test_not_a_completion(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.enqueue(Reply(status=200, body={"hello": "world"}))
    with pytest.raises(ServerHTTPError, match="which is not a chat completion"):
        await make_client().complete(ask())


async def test_cancelling_a_stream_closes_it_at_the_server(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(text="word " * 200, token_delay=0.05))
    client = make_client()
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in client.stream(ask()):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: server.disconnects == ["/v1/chat/completions"])


async def test_closing_the_generator_early_closes_the_stream(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(text="word " * 200, token_delay=0.05))
    stream = make_client().stream(ask())
    await anext(stream)
    await stream.aclose()
    await wait_for(lambda: server.disconnects == ["/v1/chat/completions"])


async def test_callers_never_see_httpx(closed_port_url: str, make_client: ClientFactory) -> None:
    failures: list[Any] = []
    for call in (
        make_client(closed_port_url, retries=0).complete(ask()),
        make_client(closed_port_url, retries=0).health(),
        make_client(closed_port_url, retries=0).model_info(),
    ):
        with pytest.raises(VLMError) as caught:
            await call
        failures.append(caught.value)
    assert all(isinstance(f.__cause__, httpx.HTTPError) for f in failures)


async def test_a_dropped_connection_is_retried(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(text="lost", cut_after=10), "fine")
    assert (await make_client(retries=1).complete(ask())).text == "fine"
    assert len(server.chat_requests) == 2


async def test_a_dropped_connection_without_retries_left(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(text="lost", cut_after=10))
    with pytest.raises(ServerError) as caught:
        await make_client(retries=0).complete(ask())
    assert str(caught.value).startswith(
        f"The connection to the model server at {server.url!r} broke during /v1/chat/completions: "
    )
    assert str(caught.value).endswith("retry, and check the server's log if it happens again.")


async def test_cancelling_before_the_answer_starts_closes_the_request(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(text="late", delay=60))
    task = asyncio.create_task(make_client().complete(ask()))
    await wait_for(lambda: len(server.chat_requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: server.disconnects == ["/v1/chat/completions"])
