"""vlm.schema: the forms a schema arrives in, the limits, and what xgrammar makes of the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from xgrammar import Grammar
from xgrammar.testing import _is_grammar_accept_string as accepts

from kanjian.vlm.action import action_schema, parse_action
from kanjian.vlm.schema import (
    MAX_DEPTH,
    MAX_ENUM,
    SchemaError,
    concise_schema,
    load_schema,
    schema_from_text,
)
from tests.schema.conftest import RECEIPT_SCHEMA, TICKET_SCHEMA, SignUp


class Tool:
    def __init__(self, name: str, args: dict[str, Any]) -> None:
        self.name, self.description, self.args_schema = name, name, args


TOOLS = [
    Tool(
        "zoom",
        {"type": "object", "properties": {"image": {"type": "string"}}, "required": ["image"]},
    ),
    Tool(
        "math",
        {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    ),
]


class Line(BaseModel):
    name: str
    qty: int = 1


class Order(BaseModel):
    lines: list[Line]
    note: str | None = None


# ---------------------------------------------------------------------------- forms


def test_concise_form_is_llms() -> None:
    assert concise_schema("merchant, total float, date: ISO date, paid bool, n int") == {
        "type": "object",
        "properties": {
            "merchant": {"type": "string"},
            "total": {"type": "number"},
            "date": {"type": "string", "description": "ISO date"},
            "paid": {"type": "boolean"},
            "n": {"type": "integer"},
        },
        "required": ["merchant", "total", "date", "paid", "n"],
    }


def test_concise_form_takes_newlines_with_commas_in_descriptions() -> None:
    schema = concise_schema("name: full name, as printed\nage int")
    assert schema["properties"]["name"]["description"] == "full name, as printed"
    assert schema["required"] == ["name", "age"]


def test_inline_json_file_and_dict_give_the_same_schema(tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(RECEIPT_SCHEMA), encoding="utf-8")
    inline = schema_from_text(json.dumps(RECEIPT_SCHEMA))
    assert load_schema(str(path)) is inline
    assert load_schema(path) is inline
    assert load_schema(RECEIPT_SCHEMA) is inline


def test_a_pydantic_models_refs_are_inlined() -> None:
    schema = load_schema(Order).schema
    assert "$defs" not in json.dumps(schema) and "$ref" not in json.dumps(schema)
    assert schema["properties"]["lines"]["items"]["properties"]["qty"]["type"] == "integer"


def test_property_order_is_kept_because_the_server_emits_in_that_order() -> None:
    schema = load_schema("zeta, alpha, mid").schema
    assert list(schema["properties"]) == ["zeta", "alpha", "mid"]


def test_validation_errors_name_the_place_and_the_rule() -> None:
    schema = load_schema(RECEIPT_SCHEMA)
    good = {"merchant": "A", "date": "2024-01-02", "items": [{"name": "x", "price": 1}], "total": 1}
    assert schema.error(good) is None
    bad = {**good, "items": [{"name": "x", "price": "1"}]}
    assert schema.error(bad) == "at 'items/0/price': '1' is not of type 'number'"


# ---------------------------------------------------------------------------- bad schemas


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "is empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "is a JSON list, not an object"),
        ("price.usd float", "not a plain name"),
        (" , ,", "names no fields"),
        ('{"type": "strnig"}', "not a valid JSON Schema"),
        ('{"type": "object", "not": {"required": ["a"]}}', "keyword 'not'"),
        (
            '{"type": "array", "items": {"type": "integer"}, "uniqueItems": true}',
            "keyword 'uniqueItems'",
        ),
        ('{"if": {"type": "string"}, "then": {"minLength": 2}}', "keyword 'if'"),
        ('{"allOf": [{"type": "string"}, {"maxLength": 2}]}', "keyword 'allOf'"),
        ('{"$ref": "https://example.com/s.json"}', "not local"),
        ('{"$ref": "#/$defs/Missing"}', "points at nothing"),
        ("total money", "type 'money'"),
        ("a, a int", "appears twice"),
        ("missing.json", "does not exist"),
    ],
)
def test_bad_schemas_are_one_sentence_and_exit_2(spec: str, words: str) -> None:
    with pytest.raises(SchemaError) as info:
        schema_from_text(spec)
    message = str(info.value)
    assert words in message and "\n" not in message and info.value.exit_code == 2


def test_a_recursive_schema_is_refused() -> None:
    class Node(BaseModel):
        children: list[Node]

    with pytest.raises(SchemaError, match=r"recursive .*'#/\$defs/Node'"):
        load_schema(Node)


def test_nesting_beyond_the_limit_is_refused() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(MAX_DEPTH + 1):
        schema = {"type": "object", "properties": {"x": schema}}
    with pytest.raises(SchemaError, match=f"deeper than {MAX_DEPTH} levels"):
        load_schema(schema)


def test_a_huge_enum_is_refused() -> None:
    schema = {"type": "string", "enum": [f"v{i}" for i in range(MAX_ENUM + 1)]}
    with pytest.raises(SchemaError, match=f"{MAX_ENUM + 1:,} values, over the limit of {MAX_ENUM}"):
        load_schema(schema)
    load_schema({"type": "string", "enum": [f"v{i}" for i in range(MAX_ENUM)]})


def test_a_class_that_is_not_a_model_is_refused() -> None:
    with pytest.raises(SchemaError, match="not a pydantic model"):
        load_schema(dict)


# ---------------------------------------------------------------------------- xgrammar

SAMPLES: list[tuple[Any, Any]] = [
    (
        RECEIPT_SCHEMA,
        {
            "merchant": "ACME",
            "date": "2024-01-02",
            "items": [{"name": "tea", "price": 3.5}],
            "total": 3.5,
        },
    ),
    (
        TICKET_SCHEMA,
        {
            "passenger": "Li",
            "train": "G1",
            "origin": "A",
            "destination": "B",
            "date": "d",
            "seat": "1A",
            "price": 5.0,
        },
    ),
    (SignUp, {"name": "Ana", "email": "a@b.c", "age": 30, "newsletter": True}),
    (Order, {"lines": [{"name": "x", "qty": 2}], "note": None}),
    ({"type": "string", "enum": ["yes", "no"]}, "yes"),
    ({"type": "array", "items": {"type": "integer"}, "maxItems": 3}, [1, 2]),
    (
        {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
            "required": ["n"],
        },
        {"n": 7},
    ),
    (
        {
            "type": "object",
            "properties": {"when": {"type": "string", "format": "date"}},
            "required": ["when"],
        },
        {"when": "2024-02-29"},
    ),
]


@pytest.mark.parametrize(("spec", "value"), SAMPLES)
def test_xgrammar_compiles_the_union_with_each_schema_and_accepts_answers(
    spec: Any, value: Any
) -> None:
    schema = load_schema(spec)
    assert schema.error(value) is None
    for union in (
        action_schema(TOOLS, schema=schema),
        action_schema(TOOLS, answer_only=True, schema=schema),
    ):
        grammar = Grammar.from_json_schema(json.dumps(union))
        plain = {"thought": "read it", "answer": value}
        cited = {**plain, "evidence": [{"image": "image_1", "box": [10, 20, 300, 400], "step": 1}]}
        for action in (plain, cited):
            text = json.dumps(action, ensure_ascii=False)
            assert accepts(grammar, text), text
            assert parse_action(text, {"zoom", "math"}, schema).value == value  # type: ignore[union-attr]
        # A tool call is still allowed where tools are, and only there.
        call = json.dumps({"thought": "t", "tool": "math", "args": {"expression": "1+1"}})
        assert accepts(grammar, call) is ("anyOf" in union)


def test_xgrammar_rejects_an_answer_that_breaks_the_schema() -> None:
    grammar = Grammar.from_json_schema(json.dumps(action_schema(TOOLS, schema=load_schema(SignUp))))
    assert not accepts(
        grammar,
        json.dumps(
            {"thought": "t", "answer": {"name": "A", "email": "e", "age": "30", "newsletter": True}}
        ),
    )
    assert not accepts(grammar, json.dumps({"thought": "t", "answer": "a string"}))
    # Evidence comes after the answer (first token of the answer as early as possible).
    assert not accepts(
        grammar,
        json.dumps(
            {
                "thought": "t",
                "evidence": [],
                "answer": {"name": "A", "email": "e", "age": 3, "newsletter": True},
            }
        ),
    )
    assert not accepts(
        grammar,
        json.dumps(
            {
                "thought": "t",
                "answer": {"name": "A", "email": "e", "age": 3, "newsletter": True},
                "evidence": [{"image": "photo"}],
            }
        ),
    )
