"""What the agent can do: the built-in tools and the plugin platform.

The names a plugin author needs are importable from here (loaded lazily, so importing
``tools`` stays cheap)::

    from kanjian.tools import ToolContext, ToolOutput, tool
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kanjian.tools.base import DerivedImage, Tool, ToolContext, ToolOutput
    from kanjian.tools.decorator import tool
    from kanjian.tools.errors import ToolFailed, ToolInputError
    from kanjian.tools.registry import ToolRegistry

__all__ = [
    "DerivedImage",
    "Tool",
    "ToolContext",
    "ToolFailed",
    "ToolInputError",
    "ToolOutput",
    "ToolRegistry",
    "tool",
]

_WHERE = {
    "DerivedImage": "kanjian.tools.base",
    "Tool": "kanjian.tools.base",
    "ToolContext": "kanjian.tools.base",
    "ToolOutput": "kanjian.tools.base",
    "ToolFailed": "kanjian.tools.errors",
    "ToolInputError": "kanjian.tools.errors",
    "ToolRegistry": "kanjian.tools.registry",
    "tool": "kanjian.tools.decorator",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tools' has no attribute {name!r}")
