"""The one tool pipeline: how every tool call is made, whoever makes it.

:func:`compose` stacks the wrappers of :mod:`kanjian.tools.wrappers` around a tool, once, when
the caller builds its tool set; :func:`invoke` makes one call and always returns a
:class:`ToolResult`. In order, a call:

1. has its arguments checked against the schema (once: ``@tool`` functions and LangChain
   tools check their own, so they are not checked twice);
2. for a side-effect tool, is reported and waits for the approver (only a True runs it);
3. runs plugin code with its ``print()`` sent to stderr, sync functions on daemon threads,
   bounded by the timeout (the smaller of the tool's own and the caller's);
4. has its result shaped: a ToolOutput, data JSON-safe, text capped for the model;
5. any failure becomes a result whose text starts ``Error:`` and says what went wrong, for
   the model to read; it never raises (except cancellation).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kanjian.tools.base import Approver, DerivedImage, Tool, ToolContext
from kanjian.tools.errors import ToolError
from kanjian.tools.results import DEFAULT_OUTPUT_LIMIT
from kanjian.tools.wrappers import checked, isolated, requiring_approval, shaped, with_timeout

__all__ = [
    "CallInfo",
    "ToolResult",
    "compose",
    "current_call",
    "failed",
    "invoke",
    "unknown_tool",
]


def _ignore(_: object) -> None:
    return None


@dataclass(frozen=True, slots=True)
class CallInfo:
    """The call being made: its step and id, and where it reports what happens while it runs."""

    step: int = 0
    call_id: str = ""
    # Called with records such as an ApprovalRequest, as they happen.
    report: Callable[[object], None] = _ignore


_CALL: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar(
    "kanjian_tool_call", default=None
)
_NO_CALL = CallInfo()


def current_call() -> CallInfo:
    """The call the pipeline is making in this context (a blank one outside :func:`invoke`)."""
    return _CALL.get() or _NO_CALL


@dataclass(slots=True)
class ToolResult:
    """The outcome of one call, failures included: what the model reads and what people get."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    images: list[DerivedImage] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def compose(
    tool: Tool,
    *,
    timeout: float | None = None,
    approver: Approver | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    keep_in: Path | None = None,
) -> Tool:
    """``tool`` with every rule of the pipeline applied (see the module docstring).

    ``timeout`` caps the tool's own timeout; a side-effect tool without an ``approver`` is
    always denied.
    """
    limit = tool.timeout if timeout is None else min(tool.timeout or timeout, timeout)
    wrapped = with_timeout(isolated(tool), limit)
    if tool.side_effects:
        wrapped = requiring_approval(wrapped, approver)
    return shaped(checked(wrapped), output_limit, keep_in)


async def invoke(
    tool: Tool,
    args: dict[str, Any],
    ctx: ToolContext,
    *,
    step: int = 0,
    call_id: str = "",
    report: Callable[[object], None] = _ignore,
) -> ToolResult:
    """Call a :func:`compose`\\ d ``tool``; every failure becomes a result saying what went wrong."""
    started = time.perf_counter()
    token = _CALL.set(CallInfo(step, call_id, report))
    try:
        output = await tool.run(args, ctx)
    except (ToolError, TimeoutError) as exc:
        result = failed(str(exc) or f"Tool {tool.name!r} failed ({type(exc).__name__}).")
    except Exception as exc:  # a plugin's bug must not take the agent down
        result = failed(f"Tool {tool.name!r} failed: {type(exc).__name__}: {exc}")
    else:
        result = ToolResult(output.text, output.data, list(output.images))
    finally:
        _CALL.reset(token)
    result.seconds = time.perf_counter() - started
    return result


def failed(message: str) -> ToolResult:
    return ToolResult(text=f"Error: {message}", data={"error": message}, error=message)


def unknown_tool(name: str, known: Sequence[str]) -> ToolResult:
    """The model called a tool that does not exist: say so, with the ones that do."""
    return failed(f"{name} is not a valid tool, try one of [{', '.join(known)}].")
