"""Small wrappers around a :class:`~tools.base.Tool`, each returning a new Tool.

Composition instead of flags: the agent builds the tool set it needs by stacking these
(``requiring_approval(with_timeout(tool, 30), approver)``), and each wrapper does one thing.

Approval comes only from the ``approver`` the caller passes (the TUI prompt, the ``--approve``
policy): nothing a tool returns, and nothing in the model's arguments, can approve a call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kanjian.tools.base import Tool, ToolContext, ToolOutput
from kanjian.tools.errors import ApprovalDenied, ToolTimeout

__all__ = [
    "Approver",
    "approving_side_effects",
    "filtered",
    "prefixed",
    "requiring_approval",
    "with_timeout",
]

# Asked before a call runs: (tool, args) -> yes or no, sync or async.
Approver = Callable[[Tool, dict[str, Any]], bool | Awaitable[bool]]


def _derived(tool: Tool, **changes: Any) -> Tool:
    """A plain Tool with ``tool``'s fields and ``changes`` (never a FunctionTool: calling
    the original function directly would bypass the wrapper)."""
    plain = Tool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        run=tool.run,
        side_effects=tool.side_effects,
        timeout=tool.timeout,
        source=tool.source,
    )
    return dataclasses.replace(plain, **changes)


def with_timeout(tool: Tool, seconds: float | None = None) -> Tool:
    """Abandon a call after ``seconds`` (default: the tool's own timeout) with ToolTimeout."""
    limit = tool.timeout if seconds is None else seconds
    if limit is None:
        return tool
    inner = tool.run

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        try:
            return await asyncio.wait_for(inner(args, ctx), timeout=limit)
        except TimeoutError:
            raise ToolTimeout(
                f"Tool {tool.name!r} ran past its {limit:g} s timeout and was stopped; try "
                "a smaller input or raise the timeout (agent.tool_timeout)."
            ) from None

    return _derived(tool, run=run, timeout=limit)


def requiring_approval(tool: Tool, approver: Approver) -> Tool:
    """Ask ``approver`` before every call; a no raises ApprovalDenied and nothing runs."""
    inner = tool.run

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        answer = approver(tool, args)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is not True:
            raise ApprovalDenied(
                f"The user did not approve running {tool.name!r}, which has side effects; "
                "do not retry it, answer without it or ask the user."
            )
        return await inner(args, ctx)

    return _derived(tool, run=run)


def approving_side_effects(tools: Iterable[Tool], approver: Approver) -> list[Tool]:
    """Every tool, with the side-effect ones wrapped in :func:`requiring_approval`."""
    return [requiring_approval(t, approver) if t.side_effects else t for t in tools]


def prefixed(tool: Tool, prefix: str) -> Tool:
    """The same tool named ``<prefix>_<name>`` (to keep two sources' names apart)."""
    return _derived(tool, name=f"{prefix}_{tool.name}")


def filtered(
    tools: Iterable[Tool],
    allow: Iterable[str] | None = None,
    deny: Iterable[str] = (),
) -> list[Tool]:
    """The tools whose name matches ``allow`` (all when None) and none of ``deny`` (globs)."""
    allowed = None if allow is None else list(allow)
    denied = list(deny)

    def keep(name: str) -> bool:
        if allowed is not None and not any(fnmatch.fnmatchcase(name, p) for p in allowed):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in denied)

    return [t for t in tools if keep(t.name)]
