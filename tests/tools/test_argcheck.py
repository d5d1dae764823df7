"""The quick argument check: it only ever says yes where jsonschema says yes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from kanjian.tools.argcheck import quick_check
from kanjian.tools.base import Tool, ToolContext, ToolOutput
from kanjian.tools.errors import ToolInputError
from kanjian.tools.wrappers import checked

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5)
    | st.sampled_from([1.0, 2.0, float("nan"), float("inf"), 10**30])
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner),
    max_leaves=8,
)
small = st.integers(0, 4)
number = st.integers(-3, 3) | st.floats(-3, 3)
types = st.sampled_from(["string", "integer", "number", "boolean", "null", "array", "object"])
keyword = st.one_of(
    st.tuples(st.just("type"), types | st.lists(types, min_size=1, max_size=2)),
    st.tuples(st.just("enum"), st.lists(st.text(max_size=2), max_size=3)),
    st.tuples(st.just("const"), st.text(max_size=2)),
    st.tuples(st.sampled_from(["minimum", "maximum", "exclusiveMinimum"]), number),
    st.tuples(st.just("exclusiveMaximum"), number),
    st.tuples(st.sampled_from(["minLength", "maxLength", "minItems", "maxItems"]), small),
    st.tuples(st.just("description"), st.text(max_size=3)),
)
# A few keywords each, so that most schemas get a quick check to test.
leaf_schema = st.lists(keyword, max_size=3).map(dict)
schemas = st.recursive(
    leaf_schema | st.booleans(),
    lambda inner: st.fixed_dictionaries(
        {"type": st.just("object")},
        optional={
            "properties": st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
            "required": st.lists(st.sampled_from("abc"), max_size=2),
            "additionalProperties": st.booleans(),
            "items": inner,
        },
    ),
    max_leaves=6,
)


@settings(max_examples=400)
@given(schema=schemas, value=json_values)
def test_a_quick_yes_is_always_a_jsonschema_yes(schema: Any, value: Any) -> None:
    quick = quick_check(schema)
    if quick is not None and quick(value):
        assert Draft202012Validator(schema).is_valid(value), (schema, value)


SCHEMA = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "description": "Image id.", "minLength": 1},
        "k": {"type": "integer", "minimum": 1, "maximum": 20},
        "mode": {"enum": ["fast", "full"]},
        "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
    },
    "required": ["image"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "args",
    [{"image": "image_1"}, {"image": "x", "k": 3.0, "mode": "full", "box": [0, 1.5, 2, 3]}],
)
def test_simple_schemas_get_a_quick_yes(args: dict[str, Any]) -> None:
    quick = quick_check(SCHEMA)
    assert quick is not None and quick(args)


@pytest.mark.parametrize(
    "args",
    [{}, {"image": ""}, {"image": "x", "k": True}, {"image": "x", "k": 21}, {"image": "x", "z": 1}],
)
def test_wrong_arguments_get_no_quick_yes(args: dict[str, Any]) -> None:
    quick = quick_check(SCHEMA)
    assert quick is not None and not quick(args)


def test_keywords_outside_the_small_set_get_no_quick_check() -> None:
    assert quick_check({"type": "object", "properties": {"a": {"pattern": "^x"}}}) is None
    assert quick_check({"anyOf": [{"type": "string"}, {"type": "null"}]}) is None


async def test_wrong_arguments_still_get_jsonschema_s_message() -> None:
    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        return ToolOutput(text="ran")

    tool = checked(Tool("pick", "Pick.", SCHEMA, run))
    assert (await tool.run({"image": "image_1"}, None)).text == "ran"  # type: ignore[arg-type]
    with pytest.raises(ToolInputError, match="at 'k': 21 is greater than the maximum of 20"):
        await tool.run({"image": "image_1", "k": 21}, None)  # type: ignore[arg-type]


VALUES: list[Any] = [None, True, False, 0, 1, -2, 1.0, 1.5, float("nan"), float("inf")]
VALUES += [10**30, "", "ab", "abcde", [], [1, 2], ["a"], {}, {"a": 1}, {"a": "x", "b": 2}]
TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")
ONE_KEYWORD: list[dict[str, Any]] = [{"type": t} for t in TYPES]
ONE_KEYWORD += [{"type": ["integer", "null"]}]
ONE_KEYWORD += [{"enum": ["ab", ""]}, {"const": "ab"}, {"minimum": 1}, {"maximum": 1}]
ONE_KEYWORD += [{"exclusiveMinimum": 1}, {"exclusiveMaximum": 1}, {"minLength": 2}]
ONE_KEYWORD += [{"maxLength": 2}, {"minItems": 1}, {"maxItems": 1}, {"items": {"type": "integer"}}]
ONE_KEYWORD += [{"required": ["a"]}, {"properties": {"a": {"type": "string"}}}]
ONE_KEYWORD += [{"properties": {"a": {}}, "additionalProperties": False}, {}]


@pytest.mark.parametrize("schema", ONE_KEYWORD)
def test_each_keyword_agrees_with_jsonschema(schema: dict[str, Any]) -> None:
    quick = quick_check(schema)
    assert quick is not None
    validator = Draft202012Validator(schema)
    # NaN passes jsonschema's bounds (every comparison with it is false); the quick check
    # leaves it to jsonschema, which is allowed: only a quick yes must be right.
    plain = [v for v in VALUES if v == v]
    assert [quick(v) for v in plain] == [validator.is_valid(v) for v in plain]
    assert all(validator.is_valid(v) for v in VALUES if quick(v))
