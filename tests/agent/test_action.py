"""vlm.action: the schema xgrammar compiles, lenient parsing, the incremental answer reader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from xgrammar import Grammar
from xgrammar.testing import _is_grammar_accept_string as accepts

from kanjian.vlm.action import (
    ActionParseError,
    AnswerAction,
    AnswerStreamer,
    ToolAction,
    UnknownToolError,
    action_schema,
    parse_action,
)


@dataclass
class Spec:
    name: str
    description: str
    args_schema: dict[str, Any]


BOX = {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4}
TOOLS = [
    Spec(
        "ocr",
        "Read text.",
        {
            "type": "object",
            "properties": {"image": {"type": "string"}, "region": BOX},
            "required": ["image"],
        },
    ),
    Spec(
        "zoom",
        "Look closer.",
        {
            "type": "object",
            "properties": {"image": {"type": "string"}, "box": BOX},
            "required": ["image", "box"],
        },
    ),
    Spec(
        "math",
        "Compute.",
        {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    ),
]
NAMES = {t.name for t in TOOLS}


@pytest.fixture(scope="module")
def builtin_grammar() -> Grammar:
    from kanjian.tools.builtin import builtin_tools

    return Grammar.from_json_schema(json.dumps(action_schema(builtin_tools())))


@pytest.fixture(scope="module")
def grammar() -> Grammar:
    return Grammar.from_json_schema(json.dumps(action_schema(TOOLS)))


@pytest.mark.parametrize(
    "text",
    [
        '{"thought": "read it", "tool": "ocr", "args": {"image": "image_1"}}',
        '{"thought": "", "tool": "ocr", "args": {"image": "image_2", "region": [0, 0, 500, 1000]}}',
        '{"thought": "closer", "tool": "zoom", "args": {"image": "image_1", "box": [1, 2, 3, 4]}}',
        '{"thought": "sum", "tool": "math", "args": {"expression": "1/3 + 1/6"}}',
        '{"thought": "done", "answer": "It says **你好** and \\"hi\\"."}',
    ],
)
def test_xgrammar_accepts_every_action_shape(grammar: Grammar, text: str) -> None:
    assert accepts(grammar, text)


@pytest.mark.parametrize(
    "text",
    [
        '{"thought": "x", "tool": "nope", "args": {}}',  # unknown tool
        '{"thought": "x", "tool": "ocr", "args": {}}',  # missing required arg
        '{"thought": "x", "tool": "ocr", "args": {"image": "i", "extra": 1}}',  # extra arg
        '{"thought": "x", "answer": "a", "more": 1}',  # extra key
        '{"answer": "a"}',  # thought is required
        '{"thought": "x", "tool": "zoom", "args": {"image": "i", "box": [1, 2]}}',  # short box
    ],
)
def test_xgrammar_rejects_what_the_protocol_forbids(grammar: Grammar, text: str) -> None:
    assert not accepts(grammar, text)


def test_answer_only_schema_when_there_are_no_tools() -> None:
    grammar = Grammar.from_json_schema(json.dumps(action_schema([])))
    assert accepts(grammar, '{"thought": "t", "answer": "a"}')
    assert not accepts(grammar, '{"thought": "t", "tool": "ocr", "args": {}}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"thought": "t", "answer": "hi"}', AnswerAction("t", "hi")),
        ('Sure!\n```json\n{"thought": "t", "answer": "hi"}\n```', AnswerAction("t", "hi")),
        ('{"thought": "t", "answer": "hi",}', AnswerAction("t", "hi")),
        ("{'thought': 't', 'answer': 'it\\'s \"x\"'}", AnswerAction("t", 'it\'s "x"')),
        ('{"thought": "t", "answer": "line1\nline2"}', AnswerAction("t", "line1\nline2")),
        ('{"thought": "t", "answer": "cut', AnswerAction("t", "cut")),
        (
            '{"thought": "t", "tool": "ocr", "args": {"image": "image_1"}',
            ToolAction("t", "ocr", {"image": "image_1"}),
        ),
        (
            '{"thought": "t", "tool": "zoom", "args": {"image": "image_1", "box": [1, 2, 3, 4,],},}',
            ToolAction("t", "zoom", {"image": "image_1", "box": [1, 2, 3, 4]}),
        ),
        (
            '{"thought": "t", "tool": "math", "args": {"expression": "x", "exact": True}}',
            ToolAction("t", "math", {"expression": "x", "exact": True}),
        ),
        ('{thought: "t", answer: "bare keys"}', AnswerAction("t", "bare keys")),
        ('{"answer": "no thought"}', AnswerAction("", "no thought")),
    ],
)
def test_parse_action_repairs_common_breakage(text: str, expected: object) -> None:
    assert parse_action(text, NAMES) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I think the answer is 4.",
        "[1, 2]",
        '{"thought": "t"}',
        '{"thought": "t", "tool": "ocr", "args": [1]}',
        '{"a": }}}',
    ],
)
def test_parse_action_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ActionParseError) as info:
        parse_action(text, NAMES)
    assert not isinstance(info.value, UnknownToolError)
    assert info.value.output == text


def test_unknown_tool_is_its_own_error_and_keeps_the_action() -> None:
    with pytest.raises(UnknownToolError, match="no tool named 'paint'") as info:
        parse_action('{"thought": "t", "tool": "paint", "args": {"x": 1}}', NAMES)
    assert info.value.action == ToolAction("t", "paint", {"x": 1})
    assert "math, ocr, zoom" in str(info.value)


def _feed_in(pieces: list[str]) -> tuple[str, AnswerStreamer]:
    streamer = AnswerStreamer()
    return "".join(streamer.feed(p) for p in pieces), streamer


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@given(
    answer=st.text(),
    thought=st.text(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    ascii_only=st.booleans(),
)
def test_streamer_decodes_any_answer_split_anywhere(
    answer: str, thought: str, cuts: list[int], ascii_only: bool
) -> None:
    raw = json.dumps({"thought": thought, "answer": answer}, ensure_ascii=ascii_only)
    streamed, streamer = _feed_in(_split(raw, cuts))
    assert streamed == answer
    assert streamer.thought == thought


def test_streamer_handles_escapes_split_across_chunks() -> None:
    pieces = ['{"thought": "a \\"q\\"", "ans', 'wer": "x\\', "n\\u4e", "2d\\ud83d", '\\ude00 end"}']
    streamed, streamer = _feed_in(pieces)
    assert streamed == "x\n中😀 end"
    assert streamer.thought == 'a "q"'


def test_streamer_ignores_nested_answer_keys_and_prose() -> None:
    raw = 'Here:\n```json\n{"thought": "t", "tool": "x", "args": {"answer": "not me"}}\n```'
    streamed, _ = _feed_in(list(raw))
    assert streamed == ""


@pytest.mark.parametrize(
    "text",
    [
        '{"thought": "t", "tool": "ocr", "args": {"image": "image_1"}}',
        '{"thought": "t", "tool": "ocr", "args": {"image": "image_1", "region": [0, 0, 500, 1000]}}',
        '{"thought": "t", "tool": "ocr", "args": {"image": "image_1", "region": null}}',
        '{"thought": "t", "tool": "zoom", "args": {"image": "image_2", "box": [10, 20, 300, 400]}}',
        '{"thought": "t", "tool": "ground", "args": {"image": "image_1", "query": "价格"}}',
        '{"thought": "t", "tool": "math", "args": {"expression": "\\\\frac{3}{4} + \\\\frac{5}{6}"}}',
        '{"thought": "t", "answer": "**45.90**"}',
    ],
)
def test_xgrammar_takes_the_schema_of_the_real_builtin_tools(
    builtin_grammar: Grammar, text: str
) -> None:
    assert accepts(builtin_grammar, text)


@pytest.mark.parametrize(
    "text",
    [
        '{"thought": "t", "tool": "ocr", "args": {}}',
        '{"thought": "t", "tool": "zoom", "args": {"image": "image_1", "box": [1, 2, 3]}}',
        '{"thought": "t", "tool": "zoom", "args": {"image": "image_1", "box": [1, 2, 3, 4000]}}',
        '{"thought": "t", "tool": "ground", "args": {"image": "image_1", "query": "x", "k": 1}}',
        '{"thought": "t", "tool": "math", "args": {"expression": 7}}',
    ],
)
def test_xgrammar_rejects_bad_args_for_the_real_builtin_tools(
    builtin_grammar: Grammar, text: str
) -> None:
    assert not accepts(builtin_grammar, text)


def test_the_first_complete_object_wins() -> None:
    text = '{"thought": "t", "answer": "one"} and then {"thought": "u", "answer": "two"}'
    assert parse_action(text, NAMES) == AnswerAction("t", "one")
