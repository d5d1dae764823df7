"""Helpers shared by the agent tests: images and scripted model replies."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

from PIL import Image

from kanjian.agent.events import Event


def png(width: int = 64, height: int = 48, colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def tool_call(tool: str, thought: str = "use a tool", **args: Any) -> str:
    return json.dumps({"thought": thought, "tool": tool, "args": args})


def answer(text: str, thought: str = "done") -> str:
    return json.dumps({"thought": thought, "answer": text}, ensure_ascii=False)


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def texts(message: dict[str, Any]) -> list[str]:
    """A wire message's parts as text, images shown as ``<img>``."""
    content = message["content"]
    if isinstance(content, str):
        return [content]
    return [p["text"] if p["type"] == "text" else "<img>" for p in content]
