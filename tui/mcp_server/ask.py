"""The ``ask`` tool: a whole kanjian run (model, tools, memory) behind one MCP call.

It goes through the Python API (:meth:`kanjian.agent.api.Kanjian.ask`), so it is the same
agent as ``kanjian ask --json``, and its result is that command's JSON object: ``answer``,
``steps``, ``session`` (pass it back as ``session`` to continue the conversation), ``images``,
``evidence``, ``usage``. A run that fails is an MCP tool error whose text is the run's error.
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

from mcp import types

from kanjian.tools.errors import ToolInputError
from kanjian.tui.mcp_server.inputs import IMAGE_DESCRIPTION, image_source

if TYPE_CHECKING:
    from kanjian.agent.api import Kanjian

__all__ = ["ASK_TOOL", "run_ask"]

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


async def run_ask(kanjian: Kanjian, args: dict[str, Any]) -> types.CallToolResult:
    question = str(args["question"])
    sources = [image_source(str(v), f"images[{n}]") for n, v in enumerate(args.get("images", []))]
    options: dict[str, Any] = {"session": args.get("session") or None}
    if args.get("schema") is not None:
        options["schema"] = _schema_option(args["schema"])
    finished = await kanjian.ask(question, sources, **options)
    record = finished.to_json()
    if finished.error:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=finished.error)],
            structuredContent=record,
            isError=True,
        )
    text = json.dumps(record, ensure_ascii=False, default=str)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structuredContent=json.loads(text),
    )


def _schema_option(schema: Any) -> Any:
    from kanjian.agent.api import Kanjian

    if "schema" not in inspect.signature(Kanjian.ask).parameters:
        raise ToolInputError(
            "This kanjian cannot constrain answers to a schema (its Python API has no schema "
            "option); ask without 'schema' or upgrade kanjian."
        )
    return schema
