"""``@tool``: a typed Python function with a docstring becomes a :class:`~tools.base.Tool`.

    @tool
    def word_count(text: str, unique: bool = False) -> int:
        '''Count the words in a text.

        Args:
            text: The text to count.
            unique: Count each distinct word once.
        '''

Everything is checked here, when the tool is made, never mid-conversation: a missing
docstring, an untyped argument, ``*args``, a type pydantic cannot describe or a bad name is a
:class:`~tools.errors.ToolDefinitionError`. The JSON schema comes from the type hints (through
pydantic, so ``Literal``, ``Annotated[..., Field(description=...)]``, defaults and ``X | None``
all work) and each argument's description from the docstring's ``Args:`` (Google) or
``Parameters`` (NumPy) section; the docstring's first line is the tool's description.

Special parameters: one typed :class:`~tools.base.ToolContext` (or named ``ctx``) receives the
context and is not in the schema; one typed ``PIL.Image.Image`` is an image id in the schema
and receives the image itself; a ``str`` named ``image`` is an image id, checked against the
context before the function runs.

Return values: :class:`~tools.base.ToolOutput` as is; ``str`` is the text; ``dict`` becomes
JSON text and data; a ``PIL.Image.Image`` or :class:`~tools.base.DerivedImage` becomes a new
image; other JSON values become JSON text. Sync functions run on a daemon thread of their
own (:func:`~tools.isolation.in_daemon_thread`), so one that hangs can be abandoned.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args, get_origin, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
from pydantic.fields import FieldInfo

from kanjian.tools.base import DerivedImage, Tool, ToolContext, ToolOutput
from kanjian.tools.errors import ToolDefinitionError, ToolError, ToolFailed, ToolInputError
from kanjian.tools.isolation import in_daemon_thread
from kanjian.vlm.errors import VLMError

__all__ = ["FunctionTool", "make_tool", "parse_docstring", "strip_titles", "tool", "validate_name"]

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
IMAGE_ID_DESCRIPTION = "Image id, such as image_1."


@dataclass(slots=True)
class FunctionTool(Tool):
    """A :class:`Tool` made by ``@tool``; calling it calls the original function."""

    function: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.function is None:
            raise TypeError(f"Tool {self.name!r} has no Python function to call.")
        return self.function(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class _Signature:
    """What ``@tool`` learned from a function's signature."""

    model: type[BaseModel]
    ctx_param: str | None
    # Parameters typed PIL.Image.Image: the schema takes an id, the function gets the image.
    image_params: frozenset[str]
    # Parameters whose value is an image id to check against the context.
    image_id_params: frozenset[str]


@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    side_effects: bool = False,
    timeout: float | None = 60.0,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    side_effects: bool = False,
    timeout: float | None = 60.0,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a :class:`Tool` from ``fn``; usable bare (``@tool``) or with options."""

    def decorate(function: Callable[..., Any]) -> FunctionTool:
        return make_tool(function, name=name, side_effects=side_effects, timeout=timeout)

    return decorate(fn) if fn is not None else decorate


def make_tool(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    side_effects: bool = False,
    timeout: float | None = 60.0,
) -> FunctionTool:
    """The work behind ``@tool``; raises ToolDefinitionError for anything that cannot work."""
    if not callable(function):
        raise ToolDefinitionError(
            f"@tool was given {function!r}, which is not a function; decorate a def."
        )
    tool_name = validate_name(name or str(getattr(function, "__name__", "")))
    summary, arg_docs = _read_docstring(function, tool_name)
    signature = _inspect_signature(function, tool_name, arg_docs)
    return FunctionTool(
        name=tool_name,
        description=summary,
        args_schema=_json_schema(signature.model, tool_name),
        run=_make_runner(function, tool_name, signature),
        side_effects=side_effects,
        timeout=timeout,
        source=getattr(function, "__module__", None) or "builtin",
        checks_args=True,  # pydantic, in the runner
        function=function,
    )


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ToolDefinitionError(
            f"Tool name {name!r} is not allowed: use 1–64 letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'."
        )
    return name


# --- the docstring -------------------------------------------------------------------------

_GOOGLE_HEADERS = {"args:", "arguments:", "parameters:", "params:"}
# "name: text", "name (int): text", "**kwargs: text"
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _read_docstring(function: Callable[..., Any], name: str) -> tuple[str, dict[str, str]]:
    doc = inspect.getdoc(function)
    if not doc or not doc.strip():
        raise ToolDefinitionError(
            f"Tool {name!r} has no docstring; its first line is the description the model "
            "reads, so add one."
        )
    return parse_docstring(doc)


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first line, and each argument's description from an Args/Parameters section."""
    lines = inspect.cleandoc(doc).splitlines()
    summary = lines[0].strip()
    return summary, _google_args(lines) or _numpy_args(lines)


def _google_args(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    section_indent: int | None = None
    entry_indent: int | None = None
    current = ""
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.lower() in _GOOGLE_HEADERS:
            section_indent, entry_indent, current = indent, None, ""
            continue
        if section_indent is None or not stripped:
            continue
        if indent <= section_indent:
            section_indent = None  # a dedent ends the section (Returns:, prose)
            continue
        entry_indent = indent if entry_indent is None else entry_indent
        match = _ARG_LINE.match(stripped)
        if indent == entry_indent and match:
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif current:
            found[current] = f"{found[current]} {stripped}".strip()
    return found


def _numpy_args(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for i, line in enumerate(lines[:-1]):
        if line.strip().lower() == "parameters" and set(lines[i + 1].strip()) == {"-"}:
            return _numpy_entries(lines[i + 2 :])
    return found


def _numpy_entries(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    current = ""
    for i, line in enumerate(lines):
        next_line = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and set(next_line.strip()) == {"-"}:
            break  # the next section begins
        if line and not line[0].isspace():
            current = re.split(r"\s*:", line.strip(), maxsplit=1)[0]
            found[current] = ""
        elif current and line.strip():
            found[current] = f"{found[current]} {line.strip()}".strip()
    return found


# --- the signature -------------------------------------------------------------------------


def _inspect_signature(
    function: Callable[..., Any], name: str, arg_docs: dict[str, str]
) -> _Signature:
    hints = _type_hints(function, name)
    fields: dict[str, Any] = {}
    ctx_param: str | None = None
    image_params: set[str] = set()
    image_id_params: set[str] = set()
    for param in inspect.signature(function).parameters.values():
        _check_kind(param, name)
        hint = hints.get(param.name, inspect.Parameter.empty)
        if hint is ToolContext or (param.name == "ctx" and hint is inspect.Parameter.empty):
            ctx_param = param.name
            continue
        if hint is inspect.Parameter.empty:
            raise ToolDefinitionError(
                f"Argument {param.name!r} of tool {name!r} has no type hint; annotate it "
                "(str, int, list[str], Literal[...]) so its schema can be derived."
            )
        if _is_pil_image(hint):
            image_params.add(param.name)
            hint = str
        if param.name in image_params or (param.name == "image" and hint is str):
            image_id_params.add(param.name)
        fields[param.name] = _field(
            param, hint, arg_docs.get(param.name), param.name in image_id_params
        )
    return _Signature(
        model=_build_model(name, fields),
        ctx_param=ctx_param,
        image_params=frozenset(image_params),
        image_id_params=frozenset(image_id_params),
    )


def _type_hints(function: Callable[..., Any], name: str) -> dict[str, Any]:
    try:
        return get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(
            f"The type hints of tool {name!r} cannot be resolved ({exc}); import every "
            "type the signature names at module level."
        ) from exc


def _check_kind(param: inspect.Parameter, name: str) -> None:
    if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise ToolDefinitionError(
            f"Tool {name!r} takes *{param.name}; the model passes named arguments only, so "
            "list each argument explicitly."
        )


def _is_pil_image(hint: Any) -> bool:
    try:
        from PIL.Image import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return hint is Image


def _field(
    param: inspect.Parameter, hint: Any, doc: str | None, is_image_id: bool
) -> tuple[Any, Any]:
    default = ... if param.default is inspect.Parameter.empty else param.default
    if isinstance(default, FieldInfo):
        return (hint, default)
    if _annotated_description(hint):
        return (hint, default)  # Annotated[..., Field(description=...)] wins over the docstring
    description = doc or (IMAGE_ID_DESCRIPTION if is_image_id else None)
    from pydantic import Field

    return (hint, Field(default, description=description))


def _annotated_description(hint: Any) -> bool:
    if get_origin(hint) is None or not hasattr(hint, "__metadata__"):
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in get_args(hint)[1:])


def _build_model(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    try:
        return create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
        raise ToolDefinitionError(
            f"Tool {name!r} has an argument type pydantic cannot describe as JSON ({exc}); "
            "use JSON-friendly types (str, int, float, bool, list, dict, Literal, BaseModel)."
        ) from exc


def _json_schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    try:
        schema = model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError) as exc:
        raise ToolDefinitionError(
            f"Tool {name!r} has an argument type with no JSON schema ({exc}); use "
            "JSON-friendly types (str, int, float, bool, list, dict, Literal, BaseModel)."
        ) from exc
    stripped: dict[str, Any] = strip_titles(schema)
    return stripped


def strip_titles(node: Any) -> Any:
    """Drop pydantic's generated titles: they add tokens to the prompt and say nothing."""
    if isinstance(node, dict):
        return {
            key: (
                {k: strip_titles(v) for k, v in value.items()}
                if key in ("properties", "$defs")
                else strip_titles(value)
            )
            for key, value in node.items()
            if key != "title"
        }
    if isinstance(node, list):
        return [strip_titles(item) for item in node]
    return node


# --- calling -------------------------------------------------------------------------------


def _make_runner(
    function: Callable[..., Any], name: str, signature: _Signature
) -> Callable[[dict[str, Any], ToolContext], Any]:
    is_async = inspect.iscoroutinefunction(function)

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        kwargs = _validate(signature.model, name, args)
        _check_image_ids(signature, kwargs, ctx, name)
        if is_async and signature.image_id_params:
            # A photo's first decode takes tens of milliseconds: done on a worker thread, the
            # event loop (32 concurrent tasks in a batch) keeps streaming meanwhile. Sync
            # functions run on a thread of their own already.
            await asyncio.to_thread(_decode_images, signature, kwargs, ctx)
        for param in signature.image_params:
            kwargs[param] = ctx.image(kwargs[param])
        if signature.ctx_param:
            kwargs[signature.ctx_param] = ctx
        try:
            if is_async:
                result = await function(**kwargs)
            else:
                result = await in_daemon_thread(function, **kwargs)
        except (ToolError, VLMError):
            raise  # already one clear sentence, with its own exit code
        except Exception as exc:
            raise ToolFailed(f"Tool {name!r} failed: {type(exc).__name__}: {exc}") from exc
        return to_output(result, name)

    return run


def _validate(model: type[BaseModel], name: str, args: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise ToolInputError(f"Arguments for tool {name!r} must be a JSON object, not {args!r}.")
    try:
        parsed = model.model_validate(args)
    except ValidationError as exc:
        raise ToolInputError(describe_validation_error(exc, name, model)) from exc
    # Keep nested models as models: the function was typed with them.
    return {field: getattr(parsed, field) for field in type(parsed).model_fields}


def describe_validation_error(exc: ValidationError, name: str, model: type[BaseModel]) -> str:
    """One sentence naming the first bad argument, the rule and what is expected."""
    errors = exc.errors()
    # A misspelt name shows up as one extra and one missing argument; the extra says more.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = ".".join(str(p) for p in error["loc"]) or "arguments"
    expected = ", ".join(model.model_fields) or "no arguments"
    if error["type"] == "extra_forbidden":
        return f"Tool {name!r} has no argument {where!r}; its arguments are: {expected}."
    if error["type"] == "missing":
        return f"Tool {name!r} needs argument {where!r}; its arguments are: {expected}."
    return (
        f"Argument {where!r} of tool {name!r} is invalid ({error.get('input')!r}): {error['msg']}."
    )


def _decode_images(signature: _Signature, kwargs: dict[str, Any], ctx: ToolContext) -> None:
    for param in signature.image_id_params:
        if kwargs.get(param) is not None:
            ctx.image(kwargs[param])  # decoded once and kept by the context


def _check_image_ids(
    signature: _Signature, kwargs: dict[str, Any], ctx: ToolContext, name: str
) -> None:
    for param in signature.image_id_params:
        value = kwargs.get(param)
        if value is None:
            continue
        known = ctx.image_ids()
        if value not in known:
            listed = ", ".join(known) or "none yet"
            raise ToolInputError(
                f"Image {value!r} given to tool {name!r} does not exist; the images are: {listed}."
            )


def to_output(result: Any, name: str) -> ToolOutput:
    """Turn whatever a tool function returned into a :class:`ToolOutput`."""
    if isinstance(result, ToolOutput):
        return result
    if isinstance(result, DerivedImage):
        return _image_output(result)
    if _is_pil_instance(result):
        return _image_output(DerivedImage(image=result, origin=f"output of {name}"))
    if isinstance(result, str):
        return ToolOutput(text=result, data={"result": result})
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    if isinstance(result, dict):
        return ToolOutput(text=_json_text(result, name), data=result)
    if result is None or isinstance(result, (int, float, bool, list, tuple)):
        return ToolOutput(text=_json_text(result, name), data={"result": result})
    raise ToolFailed(
        f"Tool {name!r} returned a {type(result).__name__}, which is not a tool result; "
        "return str, dict, a JSON value, a PIL image or a ToolOutput."
    )


def _is_pil_instance(value: Any) -> bool:
    from PIL.Image import Image

    return isinstance(value, Image)


def _image_output(derived: DerivedImage) -> ToolOutput:
    width, height = derived.image.size
    text = f"Made a new {width}x{height} image ({derived.origin}); it follows."
    return ToolOutput(text=text, data={"width": width, "height": height}, images=[derived])


def _json_text(value: Any, name: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError) as exc:
        raise ToolFailed(
            f"Tool {name!r} returned {type(value).__name__} that cannot be written as JSON "
            f"({exc}); return plain str, int, float, bool, list and dict values."
        ) from exc
