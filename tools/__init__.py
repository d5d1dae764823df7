"""What the agent can do: the built-in tools and the plugin platform.

The names a plugin author needs are importable from here (loaded lazily, so importing
``tools`` stays cheap)::

    from tools import ToolContext, ToolOutput, tool
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.base import DerivedImage, Tool, ToolContext, ToolOutput
    from tools.decorator import tool
    from tools.errors import ToolFailed, ToolInputError
    from tools.registry import ToolRegistry

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
    "DerivedImage": "tools.base",
    "Tool": "tools.base",
    "ToolContext": "tools.base",
    "ToolOutput": "tools.base",
    "ToolFailed": "tools.errors",
    "ToolInputError": "tools.errors",
    "ToolRegistry": "tools.registry",
    "tool": "tools.decorator",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'tools' has no attribute {name!r}")
