"""The action protocol: one JSON object per agent step, its schema, parsing and streaming.

Each step the model emits exactly one of::

    {"thought": "...", "tool": "<name>", "args": {...}}
    {"thought": "...", "answer": "<markdown>", "evidence": [{"image": "image_1", "box": [...]}]}

``evidence`` is optional: what the answer rests on, an image id with an optional box in the
0–1000 frame and an optional step number. It comes after the answer (the server emits keys
in schema order), so the answer starts streaming as early as without it. With a user schema
(``--schema``, :mod:`kanjian.vlm.schema`) the answer branch's ``answer`` is that schema
instead of a string, so a constraining server guarantees its shape; :func:`parse_action`
validates it either way, and a mismatch is an :class:`AnswerSchemaError` (the adapter's one
retry then carries the validation error back to the model).

:func:`action_schema` builds the json_schema union sent as ``response_format`` where the
server can constrain decoding (one branch per tool, one for the answer). Where it cannot,
:func:`parse_action` reads what the model wrote leniently: prose and code fences around the
object are dropped and common breakage is repaired (trailing commas, single quotes, raw
newlines in strings, Python literals, a missing closing brace; :mod:`kanjian.vlm.json_repair`).
:class:`AnswerStreamer` (:mod:`kanjian.vlm.answer_stream`) decodes the ``"answer"`` string
while it is still being generated, so the final answer reaches the user token by token.

Errors (both :class:`vlm.errors.ModelOutputError`, so the CLI maps them the same way):

    ActionParseError        the text is not a usable action; the adapter retries once
    ├── AnswerSchemaError   an answer that does not match the user's schema
    └── UnknownToolError    a well-formed action naming a tool that does not exist; the
                            agent turns it into an observation the model can react to
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from kanjian.vlm.answer_stream import AnswerStreamer
from kanjian.vlm.errors import ModelOutputError
from kanjian.vlm.json_repair import repair

if TYPE_CHECKING:
    from kanjian.vlm.schema import AnswerSchema

__all__ = [
    "EVIDENCE_SCHEMA",
    "Action",
    "ActionParseError",
    "AnswerAction",
    "AnswerSchemaError",
    "AnswerStreamer",
    "Citation",
    "ToolAction",
    "ToolSpec",
    "UnknownToolError",
    "action_schema",
    "answer_schema",
    "citations",
    "dump_action",
    "parse_action",
]


class ToolSpec(Protocol):
    """What the protocol needs to know about a tool (``tools.base.Tool`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def args_schema(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ToolAction:
    thought: str
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Citation:
    """One ``evidence`` item as the model wrote it (checked for shape, not for existence)."""

    image: str
    # [x1, y1, x2, y2] in the 0–1000 frame of ``image``; None: the whole image.
    box: tuple[int, int, int, int] | None = None
    # The step whose observation the answer rests on, when the model said so.
    step: int | None = None


@dataclass(frozen=True, slots=True)
class AnswerAction:
    thought: str
    # The answer as text: the Markdown answer, or with a user schema the JSON text of
    # ``value`` (a string value stays itself, so what was streamed matches).
    answer: str
    evidence: tuple[Citation, ...] = ()
    # The validated object when the step was asked for with a user schema, else None.
    value: Any = None


Action: TypeAlias = ToolAction | AnswerAction


class ActionParseError(ModelOutputError):
    """The model's text is not one usable action object."""


class AnswerSchemaError(ActionParseError):
    """An answer whose value does not match the user's schema."""


class UnknownToolError(ActionParseError):
    """A well-formed action that names a tool the agent does not have."""

    def __init__(self, message: str, *, action: ToolAction, output: str | None = None):
        super().__init__(message, output=output)
        self.action = action


# ---------------------------------------------------------------------------- schema


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The args schema with ``additionalProperties: false`` (xgrammar then emits no extras)."""
    closed = dict(schema)
    closed.setdefault("type", "object")
    closed.setdefault("properties", {})
    closed.setdefault("additionalProperties", False)
    return closed


# Where the model points: an image id, optionally a box in its 0–1000 frame and a step.
EVIDENCE_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "image": {"type": "string", "pattern": "^image_[1-9][0-9]*$"},
            "box": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 1000},
                "minItems": 4,
                "maxItems": 4,
            },
            "step": {"type": "integer", "minimum": 1},
        },
        "required": ["image"],
        "additionalProperties": False,
    },
    "maxItems": 8,
}


def answer_schema(schema: AnswerSchema | None = None) -> dict[str, Any]:
    """The answer branch: ``answer`` a string, or the user's schema when there is one."""
    return _answer_branch(schema)


@lru_cache(maxsize=64)
def _answer_branch(schema: AnswerSchema | None) -> dict[str, Any]:
    # "thought" first: constrained decoding emits properties in schema order, and the
    # answer streamer wants the reasoning out of the way before the answer starts;
    # "evidence" last, so it never delays the first token of the answer.
    answer = schema.schema if schema is not None else {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string"},
            "answer": answer,
            "evidence": EVIDENCE_SCHEMA,
        },
        "required": ["thought", "answer"],
        "additionalProperties": False,
    }


def _tool_branch(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string"},
            "tool": {"const": tool.name},
            "args": _closed(tool.args_schema),
        },
        "required": ["thought", "tool", "args"],
        "additionalProperties": False,
    }


def action_schema(
    tools: Sequence[ToolSpec], *, answer_only: bool = False, schema: AnswerSchema | None = None
) -> dict[str, Any]:
    """The JSON schema of one step: a union of one branch per tool and the answer branch
    (whose ``answer`` is ``schema`` when the user gave one)."""
    if answer_only or not tools:
        return answer_schema(schema)
    return {"anyOf": [*(_tool_branch(t) for t in tools), answer_schema(schema)]}


def dump_action(action: Action) -> str:
    """The canonical text of an action (fixed key order and separators)."""
    if isinstance(action, ToolAction):
        data: dict[str, Any] = {"thought": action.thought, "tool": action.tool, "args": action.args}
    else:
        answer = action.value if action.value is not None else action.answer
        data = {"thought": action.thought, "answer": answer}
        if action.evidence:
            data["evidence"] = [_citation_json(c) for c in action.evidence]
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))


def _citation_json(citation: Citation) -> dict[str, Any]:
    item: dict[str, Any] = {"image": citation.image}
    if citation.box is not None:
        item["box"] = list(citation.box)
    if citation.step is not None:
        item["step"] = citation.step
    return item


# ---------------------------------------------------------------------------- parsing

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*")
_DECODER = json.JSONDecoder()


def _extract_object(text: str) -> str:
    """The object's text: from the first ``{`` to the last ``}`` (or the end if unclosed)."""
    if "```" in text:
        text = _FENCE.sub("", text)
    start = text.find("{")
    if start < 0:
        raise ActionParseError(
            f"The model's output {_preview(text)!r} contains no JSON object; "
            'reply with one object like {"thought": "...", "answer": "..."}.',
            output=text,
        )
    end = text.rfind("}")
    return text[start : end + 1] if end > start else text[start:]


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load_object(text: str, original: str) -> Any:
    try:
        # The first complete value wins: models sometimes add prose or a second object.
        return _DECODER.raw_decode(text)[0]
    except json.JSONDecodeError:
        pass
    repaired = repair(text)
    try:
        return json.loads(repaired)
    except json.JSONDecodeError as exc:
        raise ActionParseError(
            f"The model's output {_preview(original)!r} is not valid JSON ({exc.msg} at "
            f"character {exc.pos}); reply with exactly one JSON object.",
            output=original,
        ) from exc


def parse_action(
    text: str, tool_names: Collection[str] | None = None, schema: AnswerSchema | None = None
) -> Action:
    """Read one action from the model's text, repairing what can safely be repaired.

    With ``schema`` the answer must be a value matching it (:class:`AnswerSchemaError` if
    not). Malformed ``evidence`` items are dropped, never fatal: they only support the answer.
    Raises :class:`UnknownToolError` for a tool not in ``tool_names`` (when given) and
    :class:`ActionParseError` for anything else that is not an action.
    """
    data = _load_object(_extract_object(text), text)
    if not isinstance(data, dict):
        raise ActionParseError(
            f"The model's output {_preview(text)!r} is a JSON {type(data).__name__}, not an "
            "object; reply with one object holding 'answer' or 'tool' and 'args'.",
            output=text,
        )
    return _validate(data, text, tool_names, schema)


def _validate(
    data: dict[str, Any],
    text: str,
    tool_names: Collection[str] | None,
    schema: AnswerSchema | None = None,
) -> Action:
    thought = data.get("thought", "")
    thought = thought if isinstance(thought, str) else json.dumps(thought, ensure_ascii=False)
    if "answer" in data and "tool" not in data:
        if schema is not None:
            return _structured_answer(data, thought, text, schema)
        if isinstance(data["answer"], str):
            return AnswerAction(thought, data["answer"], citations(data.get("evidence")))
    tool = data.get("tool")
    if not isinstance(tool, str) or not tool:
        raise ActionParseError(
            f"The model's output {_preview(text)!r} has neither a string 'answer' nor a "
            "string 'tool'; reply with one of the two action shapes.",
            output=text,
        )
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise ActionParseError(
            f"The 'args' of tool {tool!r} must be a JSON object, not {args!r}; "
            "pass the arguments as an object.",
            output=text,
        )
    action = ToolAction(thought=thought, tool=tool, args=args)
    if tool_names is not None and tool not in tool_names:
        known = ", ".join(sorted(tool_names)) or "none"
        raise UnknownToolError(
            f"There is no tool named {tool!r}; the tools are: {known}. "
            "Use one of them or give the answer.",
            action=action,
            output=text,
        )
    return action


def _structured_answer(
    data: dict[str, Any], thought: str, text: str, schema: AnswerSchema
) -> AnswerAction:
    value = data["answer"]
    problem = schema.error(value)
    if problem is not None and isinstance(value, str):
        # A model that was not constrained may write the object as a JSON string.
        try:
            unquoted = json.loads(value)
        except json.JSONDecodeError:
            unquoted = None
        if unquoted is not None and schema.error(unquoted) is None:
            value, problem = unquoted, None
    if problem is not None:
        raise AnswerSchemaError(
            f"The answer does not match the requested schema {problem}; reply with an "
            "'answer' value that matches the JSON Schema given with the question.",
            output=text,
        )
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return AnswerAction(thought, shown, citations(data.get("evidence")), value)


def citations(raw: Any) -> tuple[Citation, ...]:
    """The well-formed items of an ``evidence`` list; anything else is dropped."""
    if not isinstance(raw, list):
        return ()
    found = (_citation(item) for item in raw[: EVIDENCE_SCHEMA["maxItems"]])
    return tuple(c for c in found if c is not None)


def _citation(item: Any) -> Citation | None:
    if isinstance(item, str):
        item = {"image": item}  # "evidence": ["image_1"], a common shorthand
    if not isinstance(item, dict) or not isinstance(item.get("image"), str):
        return None
    box = item.get("box")
    step = item.get("step")
    return Citation(
        image=item["image"].strip(),
        box=_box(box),
        step=step if isinstance(step, int) and not isinstance(step, bool) and step > 0 else None,
    )


def _box(raw: Any) -> tuple[int, int, int, int] | None:
    """Four numbers, clamped to 0–1000 and put in order; anything else is no box."""
    if not isinstance(raw, list | tuple) or len(raw) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        return None
    x1, y1, x2, y2 = (min(1000, max(0, round(v))) for v in raw)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
