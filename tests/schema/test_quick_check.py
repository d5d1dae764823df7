"""The quick validity check never says yes where jsonschema (the authority) says no."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from kanjian.vlm.schema import _quick_valid, load_schema
from tests.schema.conftest import RECEIPT_SCHEMA, TICKET_SCHEMA, SignUp

SCHEMAS: list[Any] = [
    RECEIPT_SCHEMA,
    TICKET_SCHEMA,
    SignUp,
    {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "exclusiveMaximum": 10}},
        "required": ["n"],
        "additionalProperties": False,
    },
    {
        "type": "array",
        "items": {"type": ["string", "null"], "maxLength": 3},
        "minItems": 1,
        "maxItems": 2,
    },
    {"enum": ["a", 1, None, True, 2.5]},
    {"const": 1},
    {"anyOf": [{"type": "string", "minLength": 2}, {"type": "number", "maximum": 0}]},
    {"type": "object", "additionalProperties": {"type": "boolean"}},
    {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "patternProperties": {"^x": {"type": "integer"}},
        "additionalProperties": False,
    },
    {"type": "string", "pattern": "^[0-9]+$"},
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-20, 20)
    | st.floats(-20, 20, allow_nan=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "n", "x1", "merchant", "total", "age", "name"]), inner, max_size=4
        )
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, index=st.integers(0, len(SCHEMAS) - 1))
def test_quick_yes_implies_jsonschema_yes(value: Any, index: int) -> None:
    schema = load_schema(SCHEMAS[index]).schema
    if _quick_valid(schema, value):
        assert Draft202012Validator(schema).is_valid(value), (schema, value)


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(["merchant", "date", "items", "total"]),
    replacement=st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False)
    | st.text(max_size=3)
    | st.just([])
    | st.just({}),
)
def test_mutated_receipts_are_judged_like_jsonschema(key: str, replacement: Any) -> None:
    schema = load_schema(RECEIPT_SCHEMA).schema
    good = {
        "merchant": "A",
        "date": "2024-01-02",
        "items": [{"name": "x", "price": 1.5}],
        "total": 1.5,
    }
    assert _quick_valid(schema, good)
    bad = copy.deepcopy(good)
    bad[key] = replacement
    if _quick_valid(schema, bad):
        assert Draft202012Validator(schema).is_valid(bad)


def test_a_valid_answer_takes_the_quick_path() -> None:
    schema = load_schema(SignUp)
    assert _quick_valid(schema.schema, {"name": "A", "email": "e", "age": 3, "newsletter": True})
    assert schema.error({"name": "A", "email": "e", "age": 3, "newsletter": True}) is None
    assert schema.error({"name": "A", "email": "e", "age": True, "newsletter": True}) == (
        "at 'age': True is not of type 'integer'"
    )
