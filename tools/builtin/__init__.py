"""The built-in tools: ``ocr``, ``ground``, ``zoom`` and ``math`` (DESIGN.md's table).

They load through the same entry point as any plugin (``builtin = "kanjian.tools.builtin:register"``
in the ``kanjian.tools`` group), so a plugin author can read this package as the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kanjian.tools.base import Tool
    from kanjian.tools.registry import ToolRegistry

__all__ = ["builtin_tools", "register"]


def builtin_tools() -> list[Tool]:
    from kanjian.tools.builtin.ground import ground
    from kanjian.tools.builtin.math import math
    from kanjian.tools.builtin.ocr import ocr
    from kanjian.tools.builtin.zoom import zoom

    return [ocr, ground, zoom, math]


def register(registry: ToolRegistry) -> None:
    """The plugin hook: add the four built-ins."""
    for tool in builtin_tools():
        registry.add(tool)
