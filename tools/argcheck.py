"""A quick yes for the arguments of a plain Tool whose JSON schema is simple.

jsonschema checks a call's arguments in about 40 us warm, several times that in the first
step after the model's wait (cold caches): a third of the agent's own CPU in a tool step.
Most tools' schemas are an object of typed properties, so :func:`quick_check` compiles such a
schema into a plain Python predicate. It only ever says yes for arguments the schema accepts;
anything it cannot vouch for (a keyword outside the small set below, or arguments it finds
wrong) goes to jsonschema, which decides and words the error. A schema using any other
keyword gets no quick check at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["quick_check"]

Check = Callable[[Any], bool]

# Keywords that never change whether a value is valid.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "deprecated", "readOnly"}
    | {"writeOnly", "$schema"}
)
_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "enum", "const", "items"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength"}
    | {"minItems", "maxItems"}
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    # JSON Schema counts 1.0 as an integer.
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
}


def quick_check(schema: Any) -> Check | None:
    """A predicate true only for values ``schema`` accepts, or None if the schema is not simple."""
    return _compile(schema)


def _compile(schema: Any) -> Check | None:
    if schema is True:
        return lambda _: True
    if not isinstance(schema, dict) or not set(schema) <= _KEYWORDS | _ANNOTATIONS:
        return None
    checks: list[Check] = []
    for build in (_type, _choices, _numbers, _strings, _arrays, _objects):
        made = build(schema)
        if made is None:
            return None  # a keyword's value this module does not vouch for
        checks += made
    return lambda value: all(check(value) for check in checks)


# A builder's checks, or None where a keyword's value is not one it vouches for.
Built = list[Check] | None


def _type(schema: dict[str, Any]) -> Built:
    if "type" not in schema:
        return []
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not names or not all(isinstance(n, str) and n in _TYPES for n in names):
        return None
    tests = [_TYPES[n] for n in names]
    return [lambda v: any(test(v) for test in tests)]


def _choices(schema: dict[str, Any]) -> Built:
    """``enum`` and ``const`` of strings only (numbers and booleans compare by JSON rules)."""
    checks: list[Check] = []
    if "enum" in schema:
        allowed = schema["enum"]
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            return None
        members = frozenset(allowed)
        checks.append(lambda v: isinstance(v, str) and v in members)
    if "const" in schema:
        const = schema["const"]
        if not isinstance(const, str):
            return None
        checks.append(lambda v: isinstance(v, str) and v == const)
    return checks


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "minimum": lambda v, n: v >= n,
    "maximum": lambda v, n: v <= n,
    "exclusiveMinimum": lambda v, n: v > n,
    "exclusiveMaximum": lambda v, n: v < n,
    "minLength": lambda v, n: v >= n,
    "maxLength": lambda v, n: v <= n,
    "minItems": lambda v, n: v >= n,
    "maxItems": lambda v, n: v <= n,
}


def _bounded(key: str, bound: float, measure: Callable[[Any], float | None]) -> Check:
    """``key``'s test of ``measure(value)`` against ``bound``; a value it does not measure
    (None: another type) passes, since the keyword does not apply to it."""
    compare = _COMPARE[key]

    def check(value: Any) -> bool:
        measured = measure(value)
        return measured is None or compare(measured, bound)

    return check


def _number(value: Any) -> float | None:
    return value if _is_number(value) else None


def _str_length(value: Any) -> float | None:
    return len(value) if isinstance(value, str) else None


def _list_length(value: Any) -> float | None:
    return len(value) if isinstance(value, list) else None


def _numbers(schema: dict[str, Any]) -> Built:
    checks: list[Check] = []
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key in schema:
            if not _is_number(schema[key]):
                return None
            checks.append(_bounded(key, schema[key], _number))
    return checks


def _strings(schema: dict[str, Any]) -> Built:
    return _lengths(schema, ("minLength", "maxLength"), _str_length)


def _arrays(schema: dict[str, Any]) -> Built:
    checks = _lengths(schema, ("minItems", "maxItems"), _list_length)
    if checks is None or "items" not in schema:
        return checks
    item = _compile(schema["items"])
    if item is None:
        return None

    def items(value: Any) -> bool:
        return not isinstance(value, list) or all(item(x) for x in value)

    return [*checks, items]


def _lengths(
    schema: dict[str, Any], keys: tuple[str, str], measure: Callable[[Any], float | None]
) -> Built:
    checks: list[Check] = []
    for key in keys:
        if key in schema:
            bound = schema[key]
            if not isinstance(bound, int) or isinstance(bound, bool):
                return None
            checks.append(_bounded(key, bound, measure))
    return checks


def _objects(schema: dict[str, Any]) -> Built:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not isinstance(extra, bool):
        return None
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return None
    subs: dict[str, Check] = {}
    for name, sub in properties.items():
        made = _compile(sub)
        if made is None:
            return None
        subs[name] = made
    known = frozenset(subs)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True  # these keywords apply to objects only
        if not all(name in value for name in required):
            return False
        if not extra and not known.issuperset(value):
            return False
        return all(sub(value[name]) for name, sub in subs.items() if name in value)

    return [check] if subs or required or not extra else []
