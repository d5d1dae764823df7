"""LangChain tools mounted as kanjian tools, as they are.

Any ``langchain_core.tools.BaseTool`` (a ``@tool``-decorated LangChain function, a community
tool, an MCP tool from ``langchain-mcp-adapters``) becomes a :class:`~tools.base.Tool`:
its name, the first line of its description, the JSON schema of its arguments, and a run
that invokes it with a tool call so that content and artifact both come back.

LangChain cannot say whether a tool changes the world, so a mounted tool counts as having
side effects (it needs approval) unless the caller says otherwise.
"""

from __future__ import annotations

import base64
import io
import json
from typing import TYPE_CHECKING, Any

from kanjian.tools.base import DerivedImage, Tool, ToolContext, ToolOutput
from kanjian.tools.errors import ToolDefinitionError, ToolError, ToolFailed, ToolInputError

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["from_langchain"]


def from_langchain(
    lc_tool: BaseTool, *, side_effects: bool = True, timeout: float | None = 60.0
) -> Tool:
    """A kanjian Tool that runs ``lc_tool``."""
    name = lc_tool.name
    return Tool(
        name=name,
        description=_first_line(lc_tool.description) or name,
        args_schema=_schema(lc_tool),
        run=_runner(lc_tool),
        side_effects=side_effects,
        timeout=timeout,
        source=f"langchain {type(lc_tool).__name__}",
        checks_args=True,  # LangChain validates against the tool's own args_schema
    )


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _schema(lc_tool: BaseTool) -> dict[str, Any]:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    try:
        parameters = convert_to_openai_tool(lc_tool)["function"].get("parameters") or {}
    except Exception as exc:
        raise ToolDefinitionError(
            f"LangChain tool {lc_tool.name!r} has no usable argument schema ({exc}); give it "
            "an args_schema."
        ) from exc
    from kanjian.tools.decorator import strip_titles

    schema: dict[str, Any] = {"type": "object", "properties": {}} | strip_titles(parameters)
    return schema


def _runner(lc_tool: BaseTool) -> Any:
    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        message = await _invoke(lc_tool, args)
        if getattr(message, "status", "success") == "error":
            raise ToolFailed(
                f"Tool {lc_tool.name!r} failed: {_content_text(message.content)[:500]}"
            )
        return _to_output(lc_tool.name, message.content, getattr(message, "artifact", None))

    return run


async def _invoke(lc_tool: BaseTool, args: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    # Invoking with a tool call (not bare args) returns a ToolMessage: content, artifact, status.
    call = {"type": "tool_call", "name": lc_tool.name, "args": args, "id": "kanjian"}
    try:
        message = await _ainvoke(lc_tool, call)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        raise ToolInputError(
            f"Argument {where!r} of tool {lc_tool.name!r} is invalid: {error['msg']}."
        ) from exc
    except ToolError:
        raise
    except Exception as exc:
        raise ToolFailed(f"Tool {lc_tool.name!r} failed: {type(exc).__name__}: {exc}") from exc
    return message


async def _ainvoke(lc_tool: BaseTool, call: dict[str, Any]) -> Any:
    """``lc_tool.ainvoke(call)``; a sync-only tool runs on a daemon thread of its own.

    LangChain runs sync tools on the loop's default executor, whose threads Python joins at
    exit: one that hangs would keep kanjian alive after its answer.
    """
    from langchain_core.tools import BaseTool, StructuredTool

    sync_only = type(lc_tool)._arun is BaseTool._arun or (
        isinstance(lc_tool, StructuredTool) and lc_tool.coroutine is None
    )
    if sync_only:
        from kanjian.tools.isolation import in_daemon_thread

        return await in_daemon_thread(lc_tool.invoke, call)
    return await lc_tool.ainvoke(call)


def _to_output(name: str, content: Any, artifact: Any) -> ToolOutput:
    text = _content_text(content)
    images = [
        DerivedImage(image=image, origin=f"image from {name}") for image in _content_images(content)
    ]
    structured = getattr(artifact, "structured_content", None)
    if structured is None and isinstance(artifact, dict):
        structured = artifact.get("structured_content")
    data = structured if isinstance(structured, dict) else {"result": text}
    return ToolOutput(text=text, data=data, images=images)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_block_text(block) for block in content]
        return "\n".join(part for part in parts if part)
    return json.dumps(content, ensure_ascii=False, default=str)


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, dict):
        if block.get("type") == "text":
            return str(block.get("text", ""))
        if block.get("type") == "image":
            return ""  # carried as an image, not as text
    return json.dumps(block, ensure_ascii=False, default=str)


def _content_images(content: Any) -> list[Any]:
    if not isinstance(content, list):
        return []
    images = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "image" and block.get("base64"):
            images.append(_decode_image(str(block["base64"])))
    return images


def _decode_image(data: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
    except (ValueError, OSError, UnidentifiedImageError) as exc:
        raise ToolFailed(f"A tool returned an image that cannot be decoded ({exc}).") from exc
    return image.convert("RGB")
