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
    AnswerSchemaError,
    AnswerStreamer,
    Citation,
    ToolAction,
    UnknownToolError,
    action_schema,
    dump_action,
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


# ---------------------------------------------------------------------------- evidence


def test_xgrammar_accepts_answers_with_and_without_evidence(grammar: Grammar) -> None:
    assert accepts(grammar, '{"thought": "t", "answer": "a"}')
    assert accepts(grammar, '{"thought": "t", "answer": "a", "evidence": []}')
    cited = '{"thought": "t", "answer": "a", "evidence": [{"image": "image_2", "box": [0, 0, 1000, 500], "step": 2}, {"image": "image_1"}]}'
    assert accepts(grammar, cited)
    assert not accepts(
        grammar,
        '{"thought": "t", "answer": "a", "evidence": [{"image": "image_1", "box": [0, 0, 1001, 5]}]}',
    )
    assert not accepts(
        grammar, '{"thought": "t", "answer": "a", "evidence": [{"box": [0, 0, 1, 5]}]}'
    )


def test_evidence_is_parsed_and_malformed_items_are_dropped() -> None:
    text = json.dumps(
        {
            "thought": "t",
            "answer": "42",
            "evidence": [
                {"image": "image_1", "box": [900, 10, 100, 500.4], "step": 1},  # corners swapped
                "image_2",  # shorthand
                {"image": "image_3", "box": [1, 2, 3], "step": "x"},  # bad box and step: kept bare
                {"box": [1, 2, 3, 4]},  # no image: dropped
                {"image": "image_4", "box": [-5, 0, 2000, 10]},  # clamped
                7,
            ],
        }
    )
    action = parse_action(text, NAMES)
    assert isinstance(action, AnswerAction) and action.answer == "42"
    assert action.evidence == (
        Citation("image_1", (100, 10, 900, 500), 1),
        Citation("image_2"),
        Citation("image_3"),
        Citation("image_4", (0, 0, 1000, 10)),
    )


def test_evidence_that_is_not_a_list_is_no_evidence() -> None:
    action = parse_action('{"thought": "t", "answer": "a", "evidence": "image_1"}', NAMES)
    assert isinstance(action, AnswerAction) and action.evidence == ()


def test_an_object_answer_without_a_schema_is_still_an_error() -> None:
    with pytest.raises(ActionParseError, match="neither a string 'answer'"):
        parse_action('{"thought": "t", "answer": {"a": 1}}', NAMES)


def test_a_structured_answer_written_as_a_json_string_is_unwrapped() -> None:
    from kanjian.vlm.schema import load_schema

    schema = load_schema("a int")
    action = parse_action('{"thought": "t", "answer": "{\\"a\\": 1}"}', NAMES, schema)
    assert isinstance(action, AnswerAction) and action.value == {"a": 1}
    assert action.answer == '{"a": 1}'
    with pytest.raises(AnswerSchemaError, match="at 'a': 'x' is not of type 'integer'"):
        parse_action('{"thought": "t", "answer": {"a": "x"}}', NAMES, schema)


def test_dump_action_round_trips_value_and_evidence() -> None:
    action = AnswerAction("t", '{"a": 1}', (Citation("image_1", (1, 2, 3, 4), 2),), {"a": 1})
    text = dump_action(action)
    assert json.loads(text) == {
        "thought": "t",
        "answer": {"a": 1},
        "evidence": [{"image": "image_1", "box": [1, 2, 3, 4], "step": 2}],
    }


def test_streamer_streams_the_answer_and_skips_the_evidence_after_it() -> None:
    streamer = AnswerStreamer()
    text = '{"thought": "t", "answer": "on the sign", "evidence": [{"image": "image_1", "box": [1, 2, 3, 4]}]}'
    out = "".join(streamer.feed(text[i : i + 3]) for i in range(0, len(text), 3))
    assert out == "on the sign"


def test_streamer_emits_nothing_for_an_object_answer() -> None:
    streamer = AnswerStreamer()
    assert (
        streamer.feed('{"thought": "t", "answer": {"answer": "inner", "n": [1]}, "evidence": []}')
        == ""
    )
