"""The ``ask`` tool: a whole kanjian run (model, tools, memory) behind one MCP call.

It goes through the Python API (:meth:`kanjian.agent.api.Kanjian.stream`), so it is the same
agent as ``kanjian ask --json``, and its result is that command's JSON object: ``answer``,
``steps``, ``session`` (pass it back as ``session`` to continue the conversation), ``images``,
``evidence``, ``usage``, followed by the images the run made (grounding overlays, zoom crops)
as image content. A run that fails is an MCP tool error whose text is the run's error.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp import types

from kanjian.agent.events import ImageAdded, RunFinished, ToolResultEvent
from kanjian.tui.mcp_server.inputs import IMAGE_DESCRIPTION, check_arguments, image_source

if TYPE_CHECKING:
    from kanjian.agent.api import Kanjian

__all__ = ["ASK_TOOL", "Progress", "run_ask"]

# (steps done, what just happened): reported to a client that asked for progress.
Progress = Callable[[float, str], Awaitable[None]]

ASK_TOOL = types.Tool(
    name="ask",
    description=(
        "Ask kanjian's vision model about images. It reads text exactly (Chinese and English "
        "OCR), finds and boxes things, zooms into details and does exact math with its own "
        "tools, then answers. Returns the answer, the tool steps it took and a session id to "
        "ask follow-up questions about the same images."
    ),
    inputSchema={
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "The question, in any language."},
            "images": {
                "type": "array",
                "items": {"type": "string", "description": IMAGE_DESCRIPTION},
                "description": "The images to ask about (the model calls them image_1, ...).",
                "default": [],
            },
            "schema": {
                "type": ["object", "string"],
                "description": (
                    "Optional: a JSON Schema the answer must follow; the answer is then that "
                    "JSON object instead of text."
                ),
            },
            "session": {
                "type": "string",
                "description": (
                    "Optional: continue this conversation (the session id an earlier ask "
                    "returned); its images keep their ids."
                ),
            },
        },
        "required": ["question"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(readOnlyHint=True, openWorldHint=False),
)


async def run_ask(
    kanjian: Kanjian, args: dict[str, Any], progress: Progress | None = None
) -> types.CallToolResult:
    check_arguments(ASK_TOOL.name, ASK_TOOL.inputSchema, args)
    question = str(args["question"])
    sources = [image_source(str(v), f"images[{n}]") for n, v in enumerate(args.get("images", []))]
    options: dict[str, Any] = {"session": args.get("session") or None}
    if args.get("schema") is not None:
        # A JSON Schema object or llm's concise form; a bad one fails before any model call.
        options["schema"] = args["schema"]
    made: list[ImageAdded] = []
    finished: RunFinished | None = None
    # Closed at once if the client cancels the call.
    async with aclosing(kanjian.stream(question, sources, **options)) as events:
        async for event in events:
            if isinstance(event, ImageAdded) and event.parent is not None and event.path:
                made.append(event)
            elif isinstance(event, RunFinished):
                finished = event
            elif progress is not None and isinstance(event, ToolResultEvent):
                status = f"failed: {event.error}" if event.error else f"{event.seconds:.1f} s"
                await progress(event.step, f"step {event.step}: {event.tool} ({status})")
    assert finished is not None  # a run always ends with its record
    record = json.loads(json.dumps(finished.to_json(), ensure_ascii=False, default=str))
    if finished.error:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=finished.error)],
            structuredContent=record,
            isError=True,
        )
    text = types.TextContent(type="text", text=json.dumps(record, ensure_ascii=False))
    images = [image for added in made if (image := await _image(added)) is not None]
    return types.CallToolResult(content=[text, *images], structuredContent=record)


async def _image(added: ImageAdded) -> types.ImageContent | None:
    """An image the run made (an overlay, a crop), as the agent stored it; None when it is
    gone (the answer still stands without it)."""
    import asyncio
    import base64
    import mimetypes

    path = Path(str(added.path))
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError:
        return None
    return types.ImageContent(
        type="image",
        data=base64.b64encode(data).decode("ascii"),
        mimeType=mimetypes.guess_type(path.name)[0] or "image/png",
        _meta={"kanjian/image": added.image_id, "kanjian/origin": added.origin},
    )
