"""The ``math`` tool: exact answers with SymPy, never by executing code (see :mod:`kanjian.tools.mathsolve`)."""

from __future__ import annotations

from typing import Any

from kanjian.tools.base import ToolOutput
from kanjian.tools.decorator import tool

__all__ = ["math", "math_data", "math_text"]

TIMEOUT = 2.0


@tool
async def math(expression: str) -> ToolOutput:
    """Compute exactly with SymPy: evaluate, simplify, solve equations (with =), derivatives, integrals, limits.

    Args:
        expression: SymPy syntax or LaTeX, e.g. "integrate(x**2, (x, 0, 3))", "x**2 - 4 = 0", "\\frac{3}{4} + \\frac{5}{6}".
    """
    import asyncio

    from kanjian.tools.mathsolve import solve_math

    result = await asyncio.to_thread(solve_math, expression, timeout=TIMEOUT)
    data = math_data(result)
    return ToolOutput(text=math_text(data), data=data)


def math_data(result: Any) -> dict[str, Any]:
    """The ``math --json`` object (DESIGN.md) for a :class:`tools.mathsolve.MathResult`."""
    return {
        "input": result.input,
        "result": result.result,
        "numeric": result.numeric,
        "latex": result.latex,
        "kind": getattr(result, "kind", None),
        "seconds": round(result.seconds, 3),
    }


def math_text(data: dict[str, Any]) -> str:
    text = f"{data['input']} → {data['result']}"
    if data.get("numeric") not in (None, "", data["result"]):
        text += f" (≈ {data['numeric']})"
    return text
