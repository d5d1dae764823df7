"""SSE read from the body's bytes: the same events as line by line, whatever the reads."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from kanjian.vlm.sse import sse_batches, sse_data


async def _chunks(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    for a, b in zip([0, *points], [*points, len(data)], strict=True):
        yield data[a:b]


async def _lines(text: str) -> AsyncIterator[str]:
    """The stream's lines as the SSE spec splits them (CR LF, LF or CR; nothing else)."""
    lines = re.split("\r\n|\r|\n", text)
    last = lines.pop()
    for line in lines:
        yield line
    if last:
        yield last


async def _batched(data: bytes, cuts: list[int]) -> list[str]:
    return [p async for batch in sse_batches(_chunks(data, cuts)) for p in batch]


# Streams made of SSE pieces, with the characters that broke line splitting before.
FRAMING = ["data: ", "data:", "\n", "\r\n", "\r", "\n\n", ": ping\n", "event: x\n", "id: 3\n"]
TEXT = ["[DONE]", '{"a":"x\u2028y"}', "\u2029", "\x85", "中", "😀", " ", "q"]
piece = st.sampled_from([*FRAMING, *TEXT])


@given(pieces=st.lists(piece, max_size=40), cuts=st.lists(st.integers(0, 10_000), max_size=20))
async def test_batches_hold_the_events_sse_data_finds(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    expected = [p async for p in sse_data(_lines(text))]
    assert await _batched(text.encode(), cuts) == expected


async def test_a_raw_line_separator_inside_the_json_stays_inside_it() -> None:
    body = 'data: {"content":"a\u2028b\x85c\u2029d"}\n\ndata: [DONE]\n\n'.encode()
    assert await _batched(body, [13, 14, 15]) == ['{"content":"a\u2028b\x85c\u2029d"}', "[DONE]"]


async def test_each_read_gives_the_events_it_completes_together() -> None:
    body = b"data: 1\n\ndata: 2\n\ndata: 3"
    batches = [b async for b in sse_batches(_chunks(body + b"\n\n", [len(body) - 3]))]
    assert batches == [["1", "2"], ["3"]]
