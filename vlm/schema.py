"""User schemas for structured answers (``--schema``): read, checked, compiled once.

A schema arrives as a JSON Schema file, inline JSON, llm's concise form
(``'merchant, total float, date'``) or, from the Python API, a dict or a pydantic model.
:func:`load_schema` turns any of them into an :class:`AnswerSchema`: a self-contained JSON
Schema (``$ref`` inlined, so it can sit inside the action union as the answer branch) that
SGLang's xgrammar backend can compile, plus a validator for what comes back.

Everything that xgrammar would silently ignore or refuse is rejected here, before any model
call, with one sentence naming the keyword and the fix (exit 2): a constraint the server
does not enforce is a promise kanjian cannot keep. The limits:

* keywords outside :data:`SUPPORTED` (``not``, ``if``/``then``, ``uniqueItems``, ...);
* nesting deeper than :data:`MAX_DEPTH` levels (a recursive ``$ref`` always is: references
  are inlined, so a recursive schema has no fixed depth);
* an ``enum`` of more than :data:`MAX_ENUM` values, or a schema over :data:`MAX_CHARS`
  characters once inlined (each makes the server's grammar slow to compile).

Loading is cached by the schema's canonical text: a batch of 5,000 tasks with one schema
compiles it once, and sends byte-identical ``response_format`` every time (SGLang caches
compiled grammars by that text too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kanjian.vlm.errors import InputError

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_ENUM",
    "SUPPORTED",
    "AnswerSchema",
    "SchemaError",
    "concise_schema",
    "load_schema",
    "schema_from_text",
]

MAX_DEPTH = 12
MAX_ENUM = 256
MAX_CHARS = 32_000

# What xgrammar 0.2 enforces (checked against it in tests/schema), plus annotations.
SUPPORTED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "minLength", "maxLength",
        "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "multipleOf", "patternProperties", "$ref", "$defs", "definitions",
    }
)  # fmt: skip
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated"}
)
_NAME = re.compile(r"[\w$-]+")
_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}


class SchemaError(InputError):
    """A user schema that cannot be used (exit 2, before any model call)."""


@dataclass(frozen=True, slots=True, eq=False)
class AnswerSchema:
    """A checked user schema: ``schema`` is self-contained, ``key`` its canonical text."""

    schema: dict[str, Any]
    key: str
    _validator: Any = field(repr=False, default=None)

    def error(self, value: Any) -> str | None:
        """None when ``value`` matches; else one sentence saying where and why it does not."""
        # The quick check answers for the common case (a valid answer) in a few microseconds;
        # jsonschema (~50 us even for a small object) decides everything else.
        if _quick_valid(self.schema, value) or self._validator.is_valid(value):
            return None
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.path))
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(the whole answer)"
        return f"at {where!r}: {first.message}"

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnswerSchema) and other.key == self.key


def load_schema(spec: AnswerSchema | str | Path | Mapping[str, Any] | type) -> AnswerSchema:
    """An :class:`AnswerSchema` from a file path, inline JSON, the concise form, a dict or a
    pydantic model class. Raises :class:`SchemaError` with one sentence."""
    if isinstance(spec, AnswerSchema):
        return spec
    if isinstance(spec, type):
        return _from_model(spec)
    if isinstance(spec, Mapping):
        return _compiled(_canonical(dict(spec)))
    if isinstance(spec, Path):
        return _from_file(spec)
    return schema_from_text(spec)


@lru_cache(maxsize=256)
def schema_from_text(text: str) -> AnswerSchema:
    """``--schema``'s value: inline JSON (starts with ``{``), an existing file, or concise.

    Cached by the text: a script passing the same string for every question parses it once
    (a file is read once per process; edit it and start a new one)."""
    stripped = text.strip()
    if not stripped:
        raise SchemaError("--schema is empty; pass a JSON Schema file, inline JSON or 'a, b int'.")
    if stripped.startswith(("{", "[")):
        return _compiled(_canonical(_parse_json(stripped, "the inline schema")))
    path = Path(stripped).expanduser()
    if path.suffix.lower() == ".json" or path.is_file():
        return _from_file(path)
    return _compiled(_canonical(concise_schema(stripped)))


def _from_file(path: Path) -> AnswerSchema:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SchemaError(
            f"Schema file {str(path)!r} does not exist; pass a JSON Schema file, "
            "inline JSON or the concise form ('name, total float')."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"Cannot read schema file {str(path)!r}: {exc}.") from exc
    return _compiled(_canonical(_parse_json(text, f"schema file {str(path)!r}")))


def _parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{what[0].upper()}{what[1:]} is not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno}); write a JSON Schema object."
        ) from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{what[0].upper()}{what[1:]} is a JSON {type(data).__name__}, not an "
                          "object; a JSON Schema is an object such as {\"type\": \"object\"}.")  # fmt: skip
    return data


def _from_model(model: type) -> AnswerSchema:
    schema_of = getattr(model, "model_json_schema", None)
    if schema_of is None:
        raise SchemaError(
            f"{model.__name__!r} is not a pydantic model; pass a pydantic BaseModel subclass "
            "or a JSON Schema dict."
        )
    return _compiled(_canonical(schema_of()))


def _canonical(schema: dict[str, Any]) -> str:
    try:
        # Key order kept: the server emits properties in schema order.
        return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise SchemaError(
            f"The schema is not JSON-serialisable ({exc}); use plain JSON values."
        ) from exc


def concise_schema(text: str) -> dict[str, Any]:
    """llm's concise form: ``name [type][: description]`` fields, comma- or newline-separated;
    types ``str`` (default), ``int``, ``float``, ``bool``; every field required."""
    sep = "\n" if "\n" in text else ","
    properties: dict[str, Any] = {}
    for item in (f.strip() for f in text.split(sep)):
        if not item:
            continue
        head, _, description = item.partition(":")
        parts = head.split()
        if not parts:
            raise SchemaError(f"Schema field {item!r} has no name before ':'; write 'name: text'.")
        if len(parts) > 2 or (len(parts) == 2 and parts[1] not in _TYPES):
            kind = " ".join(parts[1:])
            raise SchemaError(
                f"Schema field {parts[0]!r} has type {kind!r}; the concise form knows "
                "str, int, float and bool (write e.g. 'total float')."
            )
        name = parts[0]
        if not _NAME.fullmatch(name):
            raise SchemaError(
                f"Schema field name {name!r} is not a plain name; use letters, digits, '_' or '-' "
                "(or pass a JSON Schema)."
            )
        if name in properties:
            raise SchemaError(f"Schema field {name!r} appears twice; name each field once.")
        prop: dict[str, Any] = {"type": _TYPES[parts[1]] if len(parts) == 2 else "string"}
        if description.strip():
            prop["description"] = description.strip()
        properties[name] = prop
    if not properties:
        raise SchemaError(f"Schema {text!r} names no fields; write e.g. 'merchant, total float'.")
    return {"type": "object", "properties": properties, "required": list(properties)}


# ---------------------------------------------------------------------------- checking


@lru_cache(maxsize=256)
def _compiled(key: str) -> AnswerSchema:
    """Check, inline and build the validator once per distinct schema text."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError as JSONSchemaError

    raw = json.loads(key)
    try:
        Draft202012Validator.check_schema(raw)
    except JSONSchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "the top level"
        raise SchemaError(
            f"The schema is not a valid JSON Schema at {where}: {exc.message}; fix that keyword."
        ) from None
    inlined = _Inliner(raw).run()
    text = json.dumps(inlined, ensure_ascii=False, separators=(",", ":"))
    if len(text) > MAX_CHARS:
        raise SchemaError(
            f"The schema is {len(text):,} characters once references are inlined, over the "
            f"limit of {MAX_CHARS:,}; make it smaller (fewer fields or enum values)."
        )
    return AnswerSchema(inlined, text, Draft202012Validator(inlined))


class _Inliner:
    """Copies the schema with every ``$ref`` replaced by its target, checking the limits."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def run(self) -> dict[str, Any]:
        result = self._node(self.root, "", 0, ())
        assert isinstance(result, dict)
        return result

    def _node(self, node: Any, where: str, depth: int, refs: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        if depth > MAX_DEPTH:
            raise SchemaError(
                f"The schema nests deeper than {MAX_DEPTH} levels at {where or '/'!r}; flatten it."
            )
        if "$ref" in node:
            return self._ref(node, where, depth, refs)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "definitions", "$schema", "$id", "$comment"):
                continue
            self._check_keyword(key, value, where)
            out[key] = self._value(key, value, f"{where}/{key}", depth, refs)
        return out

    def _value(self, key: str, value: Any, where: str, depth: int, refs: tuple[str, ...]) -> Any:
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            return {
                name: self._node(sub, f"{where}/{name}", depth + 1, refs)
                for name, sub in value.items()
            }
        if key in ("items", "additionalProperties") and isinstance(value, dict):
            return self._node(value, where, depth + 1, refs)
        if key in ("anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            return [self._node(sub, f"{where}/{i}", depth + 1, refs) for i, sub in enumerate(value)]
        return value

    def _ref(self, node: dict[str, Any], where: str, depth: int, refs: tuple[str, ...]) -> Any:
        ref = node["$ref"]
        if ref in refs:
            raise SchemaError(
                f"The schema is recursive ($ref {ref!r} at {where or '/'!r} refers back to "
                f"itself); references are inlined and nesting is limited to {MAX_DEPTH} levels, "
                "so give the structure a fixed depth."
            )
        target = self._resolve(ref, where)
        skip = {"$ref", "$defs", "definitions", *_ANNOTATIONS}
        extra = {k: v for k, v in node.items() if k not in skip}
        if extra:
            raise SchemaError(
                f"The $ref at {where or '/'!r} has sibling keywords {sorted(extra)!r}, which the "
                "server's grammar would ignore; move them into the referenced schema."
            )
        return self._node(target, where, depth, (*refs, ref))

    def _resolve(self, ref: Any, where: str) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise SchemaError(
                f"The $ref {ref!r} at {where or '/'!r} is not local; only '#/$defs/...' "
                "references are supported (put the definition in the same schema)."
            )
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"The $ref {ref!r} at {where or '/'!r} points at nothing; "
                                  "define it under $defs.")  # fmt: skip
            node = node[part]
        return node

    @staticmethod
    def _check_keyword(key: str, value: Any, where: str) -> None:
        if key in _ANNOTATIONS:
            return
        if key not in SUPPORTED:
            raise SchemaError(
                f"The schema keyword {key!r} at {where or '/'!r} is not supported: the server's "
                "grammar cannot enforce it; remove it (supported: "
                f"{', '.join(sorted(SUPPORTED - {'$defs', 'definitions'}))})."
            )
        if key == "enum" and isinstance(value, list) and len(value) > MAX_ENUM:
            raise SchemaError(
                f"The enum at {where or '/'!r} has {len(value):,} values, over the limit of "
                f"{MAX_ENUM}; use a string with a pattern or fewer values."
            )


# ---------------------------------------------------------------------------- quick check

_SCALARS = (str, int, float, bool, type(None))


def _quick_valid(schema: Any, value: Any) -> bool:
    """True only when ``value`` certainly matches ``schema`` (refs inlined); False means "ask
    jsonschema", which is the authority. Keywords whose semantics are subtle here (``pattern``
    is ECMA-262 there, ``oneOf``, ``multipleOf``, ``prefixItems``, ``patternProperties``, enums of
    containers) always defer; tests check it never says True where jsonschema says no."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, dict):
        return False
    for key, rule in schema.items():
        check = _CHECKS.get(key)
        if check is None:
            if key not in _ANNOTATIONS and key != "format":  # format: annotation by default
                return False
        elif not check(rule, value, schema):
            return False
    return True


def _is_type(name: str, value: Any) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return name == "number" or isinstance(value, int) or value.is_integer()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality for scalars of one Python type; anything else defers (False)."""
    return type(a) is type(b) and isinstance(a, _SCALARS) and a == b


def _properties(rule: Any, value: Any, _: Any) -> bool:
    if not isinstance(value, dict):
        return True
    return all(_quick_valid(rule[k], v) for k, v in value.items() if k in rule)


def _additional(rule: Any, value: Any, schema: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True  # the keyword applies to objects only
    if "patternProperties" in schema:
        return False  # defer
    extra = [v for k, v in value.items() if k not in schema.get("properties", {})]
    if rule is False:
        return not extra
    return all(_quick_valid(rule, v) for v in extra)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_CHECKS: dict[str, Any] = {
    "type": lambda r, v, _: any(_is_type(t, v) for t in (r if isinstance(r, list) else [r])),
    "properties": _properties,
    "required": lambda r, v, _: not isinstance(v, dict) or all(k in v for k in r),
    "additionalProperties": _additional,
    "items": lambda r, v, _: not isinstance(v, list) or all(_quick_valid(r, i) for i in v),
    "minItems": lambda r, v, _: not isinstance(v, list) or len(v) >= r,
    "maxItems": lambda r, v, _: not isinstance(v, list) or len(v) <= r,
    "minLength": lambda r, v, _: not isinstance(v, str) or len(v) >= r,
    "maxLength": lambda r, v, _: not isinstance(v, str) or len(v) <= r,
    "minimum": lambda r, v, _: not _number(v) or v >= r,
    "maximum": lambda r, v, _: not _number(v) or v <= r,
    "exclusiveMinimum": lambda r, v, _: not _number(v) or v > r,
    "exclusiveMaximum": lambda r, v, _: not _number(v) or v < r,
    "enum": lambda r, v, _: any(_same(c, v) for c in r),
    "const": lambda r, v, _: _same(r, v),
    "anyOf": lambda r, v, _: any(_quick_valid(sub, v) for sub in r),
    # re.search, as jsonschema itself checks "pattern".
    "pattern": lambda r, v, _: not isinstance(v, str) or _regex(r).search(v) is not None,
}
