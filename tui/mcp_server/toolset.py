"""Which of kanjian's tools an MCP client sees, and how one call runs.

The tools are the agent's own: the registry's built-ins and installed plugins
(:func:`kanjian.tools.registry.aload_tools`) and ``memory_search``. Nothing here re-implements
a tool; a call builds a fresh :class:`~kanjian.tools.context.SimpleToolContext` with the images
the client sent, runs the tool under its timeout, and turns its
:class:`~kanjian.tools.base.ToolOutput` into MCP content: the tool's text, its JSON data
(also as ``structuredContent``) and every image it made as image content.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from mcp import types

from kanjian.tools.errors import ToolFailed
from kanjian.tui.mcp_server.inputs import BASE64_LABEL, bind_images, mcp_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from kanjian.agent.api import Kanjian
    from kanjian.agent.config import Settings
    from kanjian.memory.api import Memory
    from kanjian.tools.base import DerivedImage, Tool, ToolOutput
    from kanjian.tools.registry import PluginProblem
    from kanjian.vlm.types import ChatBackend, ChatRequest, ChatResult, ModelInfo, StreamEvent

__all__ = ["KanjianBackend", "composed", "exposed_tools", "mcp_tool", "run_tool"]


async def exposed_tools(
    settings: Settings, kanjian: Callable[[], Kanjian], *, builtin_only: bool, allow_effects: bool
) -> tuple[list[Tool], list[PluginProblem]]:
    """The tools to serve (and to give the agent behind ``ask``), and the plugins skipped.

    ``kanjian`` returns the instance whose memory ``memory_search`` uses, when it runs.
    """
    from kanjian.tools.builtin import builtin_tools
    from kanjian.tools.registry import aload_tools
    from kanjian.tools.wrappers import filtered

    if builtin_only:
        found = builtin_tools()
        problems: list[PluginProblem] = []
    else:
        registry, problems = await aload_tools(settings)
        found = registry.tools()
    if settings.memory.enabled:
        found.append(lazy_memory_search(kanjian))
    # tools.disabled applies to every tool served, memory_search and the built-ins included.
    found = filtered(found, deny=settings.tools.disabled)
    if not allow_effects:
        found = [t for t in found if not t.side_effects]
    return found, problems


def lazy_memory_search(kanjian: Callable[[], Kanjian]) -> Tool:
    """``memory_search`` over the memory kanjian opens on first use (chromadb and the
    embedder take seconds to load: a server that is only asked to OCR never pays for them)."""
    from kanjian.agent.remember import memory_search_tool

    # Only the name, description and schema of this one are used; it never runs.
    template = memory_search_tool(cast("Memory", None))

    async def run(args: dict[str, Any], ctx: Any) -> ToolOutput:
        owner = kanjian()
        memory = await owner.memory()
        if memory is None:
            raise ToolFailed(
                owner.memory_error
                or "Memory is off (memory.enabled = false); turn it on to search past sessions."
            )
        return await memory_search_tool(memory).run(args, ctx)

    return replace(template, run=run)


def mcp_tool(tool: Tool) -> types.Tool:
    """How a client sees ``tool``: image ids become images (see :mod:`.inputs`)."""
    return types.Tool(
        name=tool.name,
        description=tool.description,
        inputSchema=mcp_schema(tool.args_schema),
        annotations=types.ToolAnnotations(
            readOnlyHint=not tool.side_effects,
            destructiveHint=tool.side_effects,
            openWorldHint=tool.source.startswith("mcp server"),
        ),
    )


def composed(tool: Tool, settings: Settings, *, allow_effects: bool) -> Tool:
    """``tool`` through kanjian's one tool pipeline, as the agent calls it: arguments checked,
    plugin output kept off stdout, the timeout, JSON-safe data and text capped (whole outputs
    kept under the data dir). Served side-effect tools are approved: serving them with
    ``--allow-effects`` was the user's approval."""
    from kanjian.tools.pipeline import compose

    return compose(
        tool,
        timeout=settings.agent.tool_timeout,
        approver=_approve if allow_effects else None,
        output_limit=settings.tools.output_limit,
        keep_in=settings.home / "tool-output",
    )


async def _approve(_: object) -> bool:
    return True


async def run_tool(tool: Tool, args: dict[str, Any], backend: ChatBackend) -> types.CallToolResult:
    """Call a :func:`composed` ``tool`` on the client's arguments; kanjian errors propagate."""
    from kanjian.tools.context import SimpleToolContext

    ctx = SimpleToolContext(backend=backend)
    bound, shown = await bind_images(tool.args_schema, args, ctx)
    output = await tool.run(bound, ctx)
    return await tool_result(output, shown)


async def tool_result(output: ToolOutput, shown: dict[str, str]) -> types.CallToolResult:
    """The tool's text (its image ids renamed as the client knows them), its JSON data and
    its new images; ``shown`` maps image ids to what the client sent."""
    data = _json_ready(output.data)
    for key, value in list(data.items()):
        if isinstance(value, str) and value in shown:
            data[key] = shown[value]
    text = output.text
    for image_id, label in shown.items():
        # The text was written for the model, which knows the image as image_1; the client
        # knows it by what it sent.
        text = re.sub(
            rf"\b{image_id}\b", repr(label) if label != BASE64_LABEL else "the image", text
        )
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=text)]
    if data:
        content.append(types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False)))
    content += [await asyncio.to_thread(image_content, derived) for derived in output.images]
    return types.CallToolResult(content=content, structuredContent=data or None)


def image_content(derived: DerivedImage) -> types.ImageContent:
    buffer = io.BytesIO()
    derived.image.save(buffer, format="PNG")
    return types.ImageContent(
        type="image",
        data=base64.b64encode(buffer.getvalue()).decode("ascii"),
        mimeType="image/png",
        _meta={"kanjian/origin": derived.origin},
    )


def _json_ready(data: dict[str, Any]) -> dict[str, Any]:
    # Tools' data is JSON already in spirit; tuples, paths and numpy scalars become plain JSON.
    value = json.loads(json.dumps(data, ensure_ascii=False, default=str))
    return value if isinstance(value, dict) else {}


class KanjianBackend:
    """``kanjian``'s backend, chosen on first use: tools that never ask the model (ocr, math)
    pay no health check, and every call shares one connection pool once it exists."""

    def __init__(self, kanjian: Kanjian) -> None:
        self._kanjian = kanjian

    async def complete(self, request: ChatRequest) -> ChatResult:
        return await (await self._kanjian.backend()).complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        backend = await self._kanjian.backend()
        async for event in backend.stream(request):
            yield event

    async def model_info(self) -> ModelInfo:
        return await (await self._kanjian.backend()).model_info()

    async def aclose(self) -> None:
        # The backend belongs to ``kanjian``, which closes it when the server stops.
        return None
