"""SGLangClient against the scripted server: answers, streams, bodies, health, model info."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from kanjian.vlm.client import SGLangClient, build_body
from kanjian.vlm.errors import AuthError, ConfigError, ServerStarting, ServerUnreachable
from kanjian.vlm.fake_server import Reply, ScriptedServer
from kanjian.vlm.types import (
    ChatBackend,
    ChatRequest,
    Finished,
    SamplingParams,
    StreamEvent,
    TextDelta,
    Usage,
    UsageReport,
    image_part,
    text_part,
)

ClientFactory = Callable[..., SGLangClient]


def ask(text: str = "What is in the picture?", **params: Any) -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": text}], params=SamplingParams(**params)
    )


async def collect(client: SGLangClient, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in client.stream(request)]


def test_client_is_a_chat_backend() -> None:
    assert isinstance(SGLangClient(), ChatBackend)


async def test_complete_returns_text_reason_usage_and_model(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(text="A cat.", finish_reason="length", usage=Usage(11, 3, 8)))
    result = await make_client().complete(ask())
    assert (result.text, result.finish_reason, result.model) == ("A cat.", "length", "default")
    assert result.usage == Usage(prompt_tokens=11, completion_tokens=3, cached_tokens=8)


async def test_stream_yields_pieces_then_finished_then_usage(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue(Reply(text="A tabby cat on a mat.", usage=Usage(20, 6, 0)))
    events = await collect(make_client(), ask())
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1
    assert "".join(texts) == "A tabby cat on a mat."
    assert events[-2:] == [Finished("stop"), UsageReport(Usage(20, 6, 0))]
    sent = server.chat_requests[-1].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_model_and_key_are_sent(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.enqueue("ok")
    await make_client(api_key="s3cret", model="internvl").complete(ask())
    request = server.chat_requests[-1]
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.json["model"] == "internvl"


async def test_no_authorization_header_without_a_key(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue("ok")
    await make_client().complete(ask())
    assert "authorization" not in server.chat_requests[-1].headers


async def test_server_with_key_accepts_the_right_key(make_client: ClientFactory) -> None:
    with ScriptedServer(api_key="k") as srv:
        srv.enqueue("fine")
        assert (await make_client(srv.url, api_key="k").complete(ask())).text == "fine"


def test_build_body_omits_unset_params_and_keeps_set_ones() -> None:
    body = build_body(ask(temperature=0.0, max_tokens=64, stop=["</s>"], seed=7), stream=False)
    assert body == {
        "model": "default",
        "messages": [{"role": "user", "content": "What is in the picture?"}],
        "temperature": 0.0,
        "max_tokens": 64,
        "stop": ["</s>"],
        "seed": 7,
        "stream": False,
    }


def test_build_body_passes_constraints_through() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    with_schema = ChatRequest(messages=[], response_format=schema)
    assert build_body(with_schema, stream=False)["response_format"] == schema
    assert build_body(ChatRequest(messages=[], regex=r"\d+"), stream=True)["regex"] == r"\d+"


def test_build_body_refuses_two_constraints() -> None:
    both = ChatRequest(messages=[], response_format={"type": "json_object"}, regex="x")
    with pytest.raises(ConfigError, match="one constraint per request"):
        build_body(both, stream=False)


async def test_images_travel_as_data_urls(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    message = {"role": "user", "content": [text_part("image_1:"), image_part(url)]}
    server.enqueue("seen")
    await make_client().complete(ChatRequest(messages=[message]))
    content = server.chat_requests[-1].json["messages"][0]["content"]
    assert content[1] == {"type": "image_url", "image_url": {"url": url}}


async def test_body_is_compact_utf8_json(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.enqueue("好")
    await make_client().complete(ask("看见什么?"))
    raw = server.chat_requests[-1].body
    assert "看见".encode() in raw
    assert b", " not in raw
    assert json.loads(raw)["messages"][0]["content"] == "看见什么?"


async def test_health_reports_starting_then_ok(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.starting_polls = 1
    client = make_client()
    assert await client.health() == "starting"
    assert await client.health() == "ok"


async def test_health_of_a_server_without_health_asks_for_its_models(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.missing.add("/health")
    assert await make_client().health() == "ok"
    assert [r.path for r in server.requests] == ["/health", "/v1/models"]


async def test_health_of_a_server_that_needs_a_key(make_client: ClientFactory) -> None:
    with ScriptedServer(api_key="k", missing={"/health"}) as srv:
        with pytest.raises(AuthError, match="KANJIAN_API_KEY"):
            await make_client(srv.url).health()
        assert await make_client(srv.url, api_key="k").health() == "ok"


async def test_wait_until_healthy_reports_progress(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.starting_polls = 3
    messages: list[str] = []
    await make_client().wait_until_healthy(budget=30, interval=0.01, on_progress=messages.append)
    assert len(messages) == 3
    assert all("loading the model" in m and server.url in m for m in messages)


async def test_wait_until_healthy_gives_up_after_its_budget(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.starting_polls = None
    with pytest.raises(ServerStarting, match="still starting after") as caught:
        await make_client().wait_until_healthy(budget=0.05, interval=0.01)
    assert caught.value.exit_code == 1


async def test_wait_until_healthy_fails_fast_when_nothing_listens(
    closed_port_url: str, make_client: ClientFactory
) -> None:
    with pytest.raises(ServerUnreachable):
        await make_client(closed_port_url, retries=0).wait_until_healthy(budget=5)


async def test_wait_until_listening_tolerates_refusals_within_budget(
    closed_port_url: str, make_client: ClientFactory
) -> None:
    client = make_client(closed_port_url, retries=0)
    with pytest.raises(ServerStarting):
        await client.wait_until_healthy(budget=0.05, interval=0.01, until_listening=True)


async def test_model_info_from_sglang(server: ScriptedServer, make_client: ClientFactory) -> None:
    info = await make_client().model_info()
    assert info.model == "OpenGVLab/InternVL-Chat-V1-5"
    assert (info.tile_rule, info.supports_constraints) == ("sglang", True)
    assert [r.path for r in server.requests] == ["/model_info"]


async def test_model_info_falls_back_to_get_model_info(make_client: ClientFactory) -> None:
    with ScriptedServer(missing={"/model_info"}) as srv:
        info = await make_client(srv.url).model_info()
    assert info.tile_rule == "sglang"
    assert [r.path for r in srv.requests] == ["/model_info", "/get_model_info"]


async def test_model_info_falls_back_to_v1_models_of_another_server(
    make_client: ClientFactory,
) -> None:
    missing = {"/model_info", "/get_model_info"}
    with ScriptedServer(missing=missing, owned_by="lmdeploy", model="internvl-v1.5") as srv:
        info = await make_client(srv.url).model_info()
    assert (info.model, info.tile_rule, info.supports_constraints) == (
        "internvl-v1.5",
        "official",
        True,
    )
    with ScriptedServer(missing=missing, owned_by="someone") as srv:
        assert (await make_client(srv.url).model_info()).supports_constraints is False


def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="KANJIAN_URL"):
        SGLangClient("localhost:30000")


async def test_sequential_requests_reuse_one_connection(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.responder = lambda request: "ok"
    client = make_client()
    for _ in range(5):
        await client.complete(ask())
    assert len({r.client for r in server.chat_requests}) == 1


async def test_a_burst_spreads_over_many_connections(make_client: ClientFactory) -> None:
    everyone: asyncio.Event | None = None

    async def gate(request: dict[str, Any]) -> str:
        # Runs on the server's own loop: the event is made there, on first use.
        nonlocal everyone
        everyone = everyone or asyncio.Event()
        if len(srv.chat_requests) == 40:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 30)
        return "ok"

    with ScriptedServer(gate) as srv:
        client = make_client(srv.url)
        await asyncio.gather(*(client.complete(ask()) for _ in range(40)))
    assert len({r.client for r in srv.chat_requests}) == 40


async def test_a_server_that_ignores_stream_still_gives_one_answer(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    body = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole."}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2},
    }
    server.enqueue(Reply(status=200, body=body))
    events = await collect(make_client(), ask())
    assert events == [TextDelta("Whole."), Finished(None), UsageReport(Usage(4, 2, 0))]


async def test_streams_read_to_the_end_give_their_connection_back(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.responder = lambda request: "streamed"
    client = make_client()
    for _ in range(4):
        assert [e async for e in client.stream(ask())][-2] == Finished("stop")
    assert len({r.client for r in server.chat_requests}) == 1


TWO_LOOPS = """
import asyncio
from kanjian.vlm.client import SGLangClient
from kanjian.vlm.fake_server import ScriptedServer
from kanjian.vlm.types import ChatRequest

with ScriptedServer(responder=lambda request: "hi") as server:
    client = SGLangClient(server.url)
    request = ChatRequest(messages=[{"role": "user", "content": "hello"}])
    # A script that runs asyncio.run twice with one client: each loop gets its own session.
    for _ in range(2):
        print(asyncio.run(client.complete(request)).text)
    asyncio.run(client.aclose())
"""


def test_one_client_across_two_event_loops_answers_quietly() -> None:
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", TWO_LOOPS], capture_output=True, text=True, cwd=repo, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hi", "hi"]
    assert "Unclosed" not in result.stderr, result.stderr
