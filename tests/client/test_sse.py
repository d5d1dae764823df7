"""SSE framing and chunk decoding, driven with plain strings (no HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kanjian.vlm.errors import StreamError
from kanjian.vlm.sse import StreamDecoder, error_message, parse_usage, sse_data
from kanjian.vlm.types import Finished, StreamEvent, TextDelta, Usage, UsageReport

URL = "http://127.0.0.1:30000"


async def lines_of(text: str) -> AsyncIterator[str]:
    for line in text.split("\n"):
        yield line


async def payloads(text: str) -> list[str]:
    return [p async for p in sse_data(lines_of(text))]


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "1", "choices": [choice], **extra})


def decode(*items: str) -> list[StreamEvent]:
    decoder = StreamDecoder(URL)
    events = [e for item in items for e in decoder.feed(item)]
    decoder.close()
    return events


async def test_sse_joins_multiline_data_and_skips_other_fields() -> None:
    text = ": keep-alive\nevent: sglext_ids\nid: 7\ndata: a\ndata: b\n\ndata:c\n\n\n"
    assert await payloads(text) == ["a\nb", "c"]


async def test_sse_drops_an_event_cut_in_half_but_keeps_a_final_done() -> None:
    assert await payloads('data: {"a": 1}\n\ndata: {"b"') == ['{"a": 1}']
    assert await payloads("data: [DONE]") == ["[DONE]"]


def test_decoder_yields_text_finish_and_usage() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 2, "prompt_tokens_details": None}
    events = decode(
        chunk(""), chunk("Hi"), chunk(" there"), chunk(finish="stop"),
        json.dumps({"id": "1", "choices": [], "usage": usage}), "[DONE]",
    )  # fmt: skip
    assert events == [
        TextDelta("Hi"),
        TextDelta(" there"),
        Finished("stop"),
        UsageReport(Usage(9, 2)),
    ]


def test_done_without_finish_still_finishes_once() -> None:
    assert decode(chunk("x"), "[DONE]") == [TextDelta("x"), Finished(None)]


def test_finish_without_done_is_complete() -> None:
    assert decode(chunk("x", finish="stop")) == [TextDelta("x"), Finished("stop")]


def test_nothing_after_done_counts() -> None:
    assert decode("[DONE]", chunk("late")) == [Finished(None)]


def test_other_choice_indexes_are_ignored() -> None:
    other = json.dumps({"choices": [{"index": 1, "delta": {"content": "no"}}]})
    assert decode(other, chunk("yes", finish="stop")) == [TextDelta("yes"), Finished("stop")]


def test_a_stream_that_just_ends_is_cut() -> None:
    decoder = StreamDecoder(URL)
    decoder.feed(chunk("Hello"))
    with pytest.raises(StreamError, match="cut off mid-stream after 5 characters"):
        decoder.close()


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ("not json", "it is not JSON"),
        ("[1, 2]", "it is not a JSON object"),
        ('{"choices": {}}', "its 'choices' is not a list"),
        ('{"choices": [7]}', "a choice is not an object"),
        ('{"choices": [{"delta": "x"}]}', "a choice is not an object"),
        ('{"choices": [{"delta": {"content": 5}}]}', "'delta.content' is not a string"),
    ],
)
def test_malformed_chunks_are_named(payload: str, why: str) -> None:
    with pytest.raises(StreamError) as caught:
        StreamDecoder(URL).feed(payload)
    assert repr(payload) in str(caught.value) and why in str(caught.value)


def test_long_malformed_chunks_are_shortened() -> None:
    with pytest.raises(StreamError) as caught:
        StreamDecoder(URL).feed("x" * 1000)
    assert "x" * 120 + "…" in str(caught.value) and "x" * 121 not in str(caught.value)


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            {"message": "OOM", "type": "InternalServerError", "code": 500},
            "500 InternalServerError: OOM",
        ),
        ({"message": "OOM"}, "'OOM'"),
        ("plain text", "'plain text'"),
    ],
)
def test_error_events_carry_their_message(error: Any, shown: str) -> None:
    with pytest.raises(StreamError, match="reported an error mid-answer") as caught:
        StreamDecoder(URL).feed(json.dumps({"error": error}))
    assert shown in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "usage"),
    [
        (None, Usage()),
        ({"prompt_tokens": 3, "completion_tokens": 4}, Usage(3, 4, 0)),
        ({"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 2}}, Usage(3, 0, 2)),
        ({"prompt_tokens": True, "completion_tokens": "7"}, Usage()),
    ],
)
def test_parse_usage(raw: Any, usage: Usage) -> None:
    assert parse_usage(raw) == usage


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '{"object": "error", "message": "Too long.", "type": "BadRequestError", "code": 400}',
            "Too long.",
        ),
        ('{"error": {"message": "Bad key.", "type": "invalid_request_error"}}', "Bad key."),
        ('{"error": "Unauthorized"}', "Unauthorized"),
        (
            '{"detail": [{"loc": ["body", "messages"], "msg": "Field required"}]}',
            '[{"loc": ["body", "messages"], "msg": "Field required"}]',
        ),
        ("<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        ("", "(empty body)"),
    ],
)
def test_error_message_finds_the_message_in_any_common_shape(body: str, message: str) -> None:
    assert error_message(body) == message
