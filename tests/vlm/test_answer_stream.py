"""The answer streamer's shortcuts keep what it hands out (the full cases: tests/agent/test_action.py)."""

from __future__ import annotations

from kanjian.vlm.answer_stream import AnswerStreamer


def _fed(text: str, size: int) -> tuple[str, AnswerStreamer]:
    streamer = AnswerStreamer()
    out = "".join(streamer.feed(text[i : i + size]) for i in range(0, len(text), size))
    return out, streamer


def test_after_a_tool_key_nothing_is_streamed_as_the_answer() -> None:
    # parse_action reads any object with "tool" as a tool call, so this "answer" is never one.
    text = '{"thought": "look", "tool": "zoom", "args": {"a": "b"}, "answer": "not this"}'
    for size in (1, 3, 4, 80):
        out, streamer = _fed(text, size)
        assert (out, streamer.thought) == ("", "look")


def test_a_thought_after_the_tool_key_is_still_read() -> None:
    out, streamer = _fed('{"tool": "zoom", "args": {}, "thought": "late"}', 4)
    assert (out, streamer.thought) == ("", "late")


def test_tokens_inside_the_answer_come_out_as_they_are() -> None:
    text = '{"thought": "t", "answer": "plain run, then \\"quoted\\" and \\u4e2d"}'
    for size in (1, 2, 4, 7):
        out, _ = _fed(text, size)
        assert out == 'plain run, then "quoted" and 中'
