"""The request body and the stream: long image URLs spliced in, raw separators kept inside."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kanjian.vlm.client import SGLangClient, build_body, encode_body
from kanjian.vlm.fake_server import ScriptedServer
from kanjian.vlm.types import ChatRequest, TextDelta, image_part, text_part

from .helpers import answer


def _plain(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _long(seed: str) -> str:
    """A string of at least 16,384 characters made of ``seed`` (long enough to be spliced)."""
    return seed * (20_000 // len(seed) + 1)


part = st.one_of(
    st.builds(text_part, st.text()),
    st.builds(image_part, st.text()),
    st.builds(lambda s: image_part(_long(s)), st.text(min_size=1)),
    # A text that looks like the stand-in the encoder uses must come through as itself.
    st.builds(lambda s: text_part(f"kanjian-splice-{s}-0"), st.text()),
)
message = st.one_of(
    st.fixed_dictionaries({"role": st.just("user"), "content": st.lists(part, max_size=5)}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": st.text()}),
)


@given(messages=st.lists(message, max_size=4), stream=st.booleans())
def test_encode_body_is_json_dumps_byte_for_byte(messages: list[Any], stream: bool) -> None:
    body = build_body(ChatRequest(messages), stream=stream)
    before = json.dumps(messages)
    assert encode_body(body) == _plain(body)
    assert encode_body(body) == _plain(body)  # the second time from what was kept
    assert json.dumps(messages) == before  # the caller's messages are left as they were


async def test_a_long_image_url_reaches_the_server_whole_at_every_step(
    server: ScriptedServer, client: SGLangClient
) -> None:
    url = "data:image/png;base64," + base64.b64encode(os.urandom(60_000)).decode()
    messages = [{"role": "user", "content": [text_part("image_1:"), image_part(url)]}]
    server.enqueue(answer("A."), answer("B."))
    for _ in range(2):
        async for _ in client.stream(ChatRequest(messages)):
            pass
    expected = _plain(build_body(ChatRequest(messages), stream=True, default_model="default"))
    assert [r.body for r in server.chat_requests] == [expected, expected]
    assert server.chat_requests[1].json["messages"][0]["content"][1]["image_url"]["url"] == url


async def test_an_answer_with_raw_line_separators_streams_whole(
    server: ScriptedServer, client: SGLangClient
) -> None:
    # The scripted server, like SGLang, writes non-ASCII raw: U+2028, U+2029 and U+0085 are
    # inside the JSON of a chunk, and reading the stream line by line used to cut it there.
    text = "Line one\u2028line two\u2029end\x85."
    server.enqueue(answer(text))
    events = [e async for e in client.stream(ChatRequest([{"role": "user", "content": "Hi"}]))]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == answer(text)
