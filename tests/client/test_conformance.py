"""Conformance with SGLang's own wire schema (sglang 0.5.23, tests/requirements-sglang.txt).

Three directions, so neither the client nor the fake server can drift from the real thing:
every body :func:`build_body` makes validates as SGLang's ``ChatCompletionRequest`` (and
names only fields SGLang knows: pydantic would silently drop a misspelt one); responses and
stream chunks made by SGLang's own models and SSE builder parse with the client; and what
the scripted server sends validates against those same models.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sglang.srt.entrypoints.openai.protocol import (
    ChatCompletionMessageContentImagePart,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatCompletionResponseChoice,
    ChatCompletionStreamResponse,
    ChatMessage,
    ErrorResponse,
    ModelList,
    PromptTokensDetails,
    UsageInfo,
)
from sglang.srt.entrypoints.openai.sse_utils import build_sse_content

from kanjian.vlm.client import SGLangClient, build_body
from kanjian.vlm.errors import BadRequestError, StreamError
from kanjian.vlm.fake_server import Reply, ScriptedServer
from kanjian.vlm.types import (
    ChatRequest,
    Finished,
    SamplingParams,
    TextDelta,
    Usage,
    UsageReport,
    image_part,
    text_part,
)

ClientFactory = Callable[..., SGLangClient]
PNG_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
JPEG_URL = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAAA//EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AN//Z"
ACTION_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "action",
        "schema": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"thought": {"type": "string"}, "answer": {"type": "string"}},
                    "required": ["thought", "answer"],
                },
                {
                    "type": "object",
                    "properties": {
                        "thought": {"type": "string"},
                        "tool": {"const": "zoom"},
                        "args": {"type": "object"},
                    },
                    "required": ["thought", "tool", "args"],
                },
            ]
        },
    },
}
GROUNDING_REGEX = r"(<ref>[^<]+</ref><box>\[\[\d+, \d+, \d+, \d+\]\]</box>)+"

# -- requests: every body build_body makes is one SGLang takes -----------------------------

texts = st.text(min_size=1, max_size=40)
user_content = st.one_of(
    texts,
    st.lists(
        st.one_of(texts.map(text_part), st.sampled_from([PNG_URL, JPEG_URL]).map(image_part)),
        min_size=1,
        max_size=4,
    ),
)
messages = st.lists(
    st.one_of(
        st.builds(lambda c: {"role": "user", "content": c}, user_content),
        st.builds(lambda t: {"role": "assistant", "content": t}, texts),
    ),
    min_size=1,
    max_size=4,
).flatmap(
    lambda rest: st.sampled_from([[], [{"role": "system", "content": "You see images."}]]).map(
        lambda head: head + rest
    )
)
optional_float = st.none() | st.floats(0, 2, allow_nan=False)
params = st.builds(
    SamplingParams,
    temperature=optional_float,
    top_p=st.none() | st.floats(0.01, 1),
    top_k=st.none() | st.integers(-1, 100),
    max_tokens=st.none() | st.integers(1, 4096),
    stop=st.none() | st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
    seed=st.none() | st.integers(0, 2**31),
    frequency_penalty=optional_float,
    presence_penalty=optional_float,
    repetition_penalty=st.none() | st.floats(0.5, 2),
)
constraints = st.sampled_from([{}, {"response_format": ACTION_SCHEMA}, {"regex": GROUNDING_REGEX}])
requests = st.builds(
    lambda m, p, c, model: ChatRequest(messages=m, params=p, model=model, **c),
    messages,
    params,
    constraints,
    st.none() | st.sampled_from(["default", "OpenGVLab/InternVL-Chat-V1-5"]),
)


def as_sglang(body: dict[str, Any]) -> ChatCompletionRequest:
    unknown = set(body) - set(ChatCompletionRequest.model_fields)
    assert not unknown, f"fields SGLang does not know: {unknown}"
    # SGLang's validators edit the dict in place; keep ours intact for the comparisons.
    return ChatCompletionRequest.model_validate(copy.deepcopy(body))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests, stream=st.booleans())
def test_every_body_validates_as_sglangs_request(request: ChatRequest, stream: bool) -> None:
    body = build_body(request, stream=stream)
    parsed = as_sglang(body)
    assert parsed.stream is stream
    assert (parsed.stream_options is not None and parsed.stream_options.include_usage) is stream
    assert parsed.model == (request.model or "default")
    assert len(parsed.messages) == len(request.messages)
    assert [m.role for m in parsed.messages] == [m["role"] for m in request.messages]
    sampling = parsed.to_sampling_params(stop=[], model_generation_config={})
    p = request.params
    for ours, theirs in [
        (p.temperature, "temperature"),
        (p.top_p, "top_p"),
        (p.top_k, "top_k"),
        (p.max_tokens, "max_new_tokens"),
        (p.seed, "sampling_seed"),
        (p.repetition_penalty, "repetition_penalty"),
    ]:
        if ours is not None:
            assert sampling[theirs] == ours
    assert parsed.stop == p.stop
    assert sampling["regex"] == request.regex
    if request.response_format is not None:
        schema = json.loads(sampling["json_schema"])
        assert schema == ACTION_SCHEMA["json_schema"]["schema"]  # type: ignore[index]


def test_images_are_image_parts_for_sglang() -> None:
    message = {"role": "user", "content": [text_part("image_1:"), image_part(PNG_URL)]}
    parsed = as_sglang(build_body(ChatRequest(messages=[message]), stream=False))
    part = parsed.messages[0].content[1]  # type: ignore[index]
    assert isinstance(part, ChatCompletionMessageContentImagePart)
    assert part.image_url.url == PNG_URL


# -- responses: what SGLang's own models serialise, the client reads -------------------------


def sglang_usage(cached: int) -> UsageInfo:
    details = PromptTokensDetails(cached_tokens=cached) if cached else None
    return UsageInfo(
        prompt_tokens=1800, completion_tokens=12, total_tokens=1812, prompt_tokens_details=details
    )


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> SGLangClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return SGLangClient("http://sglang.test", http=http, retries=0)


@pytest.mark.parametrize("cached", [0, 1536])
async def test_client_reads_sglangs_response(cached: int) -> None:
    response = ChatCompletionResponse(
        id="f2a1",
        model="default",
        choices=[
            ChatCompletionResponseChoice(
                index=0,
                message=ChatMessage(role="assistant", content="两只猫 (two cats)."),
                finish_reason="stop",
                matched_stop=2,
            )
        ],
        usage=sglang_usage(cached),
    )
    payload = response.model_dump_json().encode()
    client = mock_client(lambda _: httpx.Response(200, content=payload))
    result = await client.complete(ChatRequest(messages=[{"role": "user", "content": "?"}]))
    assert (result.text, result.finish_reason, result.model) == (
        "两只猫 (two cats).",
        "stop",
        "default",
    )
    assert result.usage == Usage(prompt_tokens=1800, completion_tokens=12, cached_tokens=cached)


def sglang_stream(pieces: list[str], cached: int) -> bytes:
    """A stream exactly as SGLang's serving_chat writes one, using its own builders."""
    head = {"chunk_id": "f2a1", "created": 1700000000, "model": "default", "index": 0}
    events = [build_sse_content(**head, role="assistant", content="")]
    events += [build_sse_content(**head, content=piece) for piece in pieces]
    events.append(build_sse_content(**head, finish_reason="length"))
    usage_chunk = ChatCompletionStreamResponse(
        id="f2a1", created=1700000000, model="default", choices=[], usage=sglang_usage(cached)
    )
    events.append(f"data: {usage_chunk.model_dump_json()}\n\n")
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


@pytest.mark.parametrize("cached", [0, 1024])
async def test_client_reads_sglangs_stream(cached: int) -> None:
    body = sglang_stream(["<ref>", "cat</ref>", "<box>[[1, 2, 3, 4]]", "</box>"], cached)
    client = mock_client(
        lambda _: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )
    events = [e async for e in client.stream(ChatRequest(messages=[]))]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "<ref>cat</ref><box>[[1, 2, 3, 4]]</box>"
    assert events[-2:] == [Finished("length"), UsageReport(Usage(1800, 12, cached))]


async def test_client_reads_sglangs_streaming_error() -> None:
    # serving_chat.create_streaming_error_response: json.dumps({"error": ErrorResponse...})
    error = ErrorResponse(message="Generation aborted.", type="ServiceUnavailable", code=503)
    head = {"chunk_id": "f2a1", "created": 1, "model": "default", "index": 0}
    body = (
        build_sse_content(**head, role="assistant", content="")
        + build_sse_content(**head, content="The ")
        + f"data: {json.dumps({'error': error.model_dump()})}\n\n"
        + "data: [DONE]\n\n"
    ).encode()
    client = mock_client(lambda _: httpx.Response(200, content=body))
    with pytest.raises(StreamError, match=r"503 ServiceUnavailable: Generation aborted\."):
        _ = [e async for e in client.stream(ChatRequest(messages=[]))]


async def test_client_reads_sglangs_error_response() -> None:
    error = ErrorResponse(message="The image is too large.", type="BadRequestError", code=400)
    client = mock_client(lambda _: httpx.Response(400, content=error.model_dump_json().encode()))
    with pytest.raises(BadRequestError, match=r"'The image is too large\.'"):
        await client.complete(ChatRequest(messages=[{"role": "user", "content": "?"}]))


# -- the scripted server speaks SGLang's dialect ------------------------------------------


def sse_payloads(raw: bytes) -> list[str]:
    events = raw.decode().split("\n\n")
    assert events[-1] == ""
    assert all(e.startswith("data: ") for e in events[:-1])
    return [e[len("data: ") :] for e in events[:-1]]


def same_but_ids(ours: str, theirs: str) -> bool:
    a, b = json.loads(ours), json.loads(theirs)
    for chunk in (a, b):
        chunk.pop("id"), chunk.pop("created")
    return bool(a == b)


def test_fake_stream_matches_sglangs_chunks(server: ScriptedServer) -> None:
    server.enqueue(Reply(text="Two cats.", cached_tokens=64))
    body = {**build_body(ChatRequest(messages=[{"role": "user", "content": "?"}]), stream=True)}
    raw = httpx.post(server.url + "/v1/chat/completions", json=body).content
    payloads = sse_payloads(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [ChatCompletionStreamResponse.model_validate_json(p) for p in payloads[:-1]]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Two cats."
    head = {"chunk_id": "x", "created": 0, "model": "default", "index": 0}
    assert same_but_ids(payloads[0], build_sse_content(**head, role="assistant", content="")[6:])
    assert same_but_ids(payloads[1], build_sse_content(**head, content="Two ")[6:])
    assert same_but_ids(payloads[-3], build_sse_content(**head, finish_reason="stop")[6:])
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 64


def test_fake_completion_and_errors_validate(server: ScriptedServer) -> None:
    server.enqueue("Two cats.", Reply.http_error(400, "bad"))
    body = build_body(ChatRequest(messages=[{"role": "user", "content": "?"}]), stream=False)
    ok = httpx.post(server.url + "/v1/chat/completions", json=body)
    parsed = ChatCompletionResponse.model_validate_json(ok.content)
    assert parsed.choices[0].message.content == "Two cats."
    assert parsed.choices[0].finish_reason == "stop"
    bad = httpx.post(server.url + "/v1/chat/completions", json=body)
    assert ErrorResponse.model_validate_json(bad.content).code == 400
    error = Reply(text="ab", error="Generation aborted.", error_after=1)
    server.enqueue(error)
    raw = httpx.post(server.url + "/v1/chat/completions", json={**body, "stream": True}).content
    event = json.loads(sse_payloads(raw)[-2])
    assert ErrorResponse.model_validate(event["error"]).message == "Generation aborted."


def test_fake_model_list_validates(server: ScriptedServer) -> None:
    models = ModelList.model_validate_json(httpx.get(server.url + "/v1/models").content)
    assert models.data[0].id == server.model and models.data[0].owned_by == "sglang"
