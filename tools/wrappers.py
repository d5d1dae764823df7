"""Small wrappers around a :class:`~tools.base.Tool`, each returning a new Tool.

Composition instead of flags: every rule of a tool call is one wrapper here, and
:func:`kanjian.tools.pipeline.compose` stacks them into the pipeline every caller uses (the
agent, ``kanjian tools run``, the direct commands)::

    shaped(checked(requiring_approval(with_timeout(isolated(tool), 30), approver)), limit, keep_in)

Approval comes only from the ``approver`` the caller passes (the TUI prompt, the ``--approve``
policy): nothing a tool returns, and nothing in the model's arguments, can approve a call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kanjian.tools.argcheck import quick_check
from kanjian.tools.base import ApprovalRequest, Approver, Tool, ToolContext, ToolOutput
from kanjian.tools.errors import ApprovalDenied, ToolFailed, ToolInputError, ToolTimeout
from kanjian.tools.isolation import plugin_code
from kanjian.tools.results import DEFAULT_OUTPUT_LIMIT, capped, json_safe

__all__ = [
    "Approver",
    "approving_side_effects",
    "checked",
    "filtered",
    "isolated",
    "prefixed",
    "requiring_approval",
    "shaped",
    "with_timeout",
]


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
        checks_args=tool.checks_args,
    )
    return dataclasses.replace(plain, **changes)


def with_timeout(tool: Tool, seconds: float | None = None) -> Tool:
    """Abandon a call after ``seconds`` (default: the tool's own timeout) with ToolTimeout.

    A sync ``@tool`` function runs on a daemon thread (:mod:`kanjian.tools.isolation`), so an
    abandoned one never keeps the process alive.
    """
    limit = tool.timeout if seconds is None else seconds
    if limit is None:
        return tool
    inner = tool.run

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        try:
            # asyncio.timeout, not wait_for: no extra task per call.
            async with asyncio.timeout(limit):
                return await inner(args, ctx)
        except TimeoutError:
            raise ToolTimeout(
                f"Tool {tool.name!r} did not finish within {limit:g} s, so it was stopped; try "
                "a smaller input or another tool, or raise the timeout (agent.tool_timeout)."
            ) from None

    return _derived(tool, run=run, timeout=limit)


def requiring_approval(tool: Tool, approver: Approver | None) -> Tool:
    """Ask ``approver`` before every call; anything but True raises ApprovalDenied.

    The request names the call the pipeline is running (:func:`~tools.pipeline.current_call`)
    and is reported to whoever watches that call (the agent's event stream) before the
    approver is asked. Without an approver every call is denied.
    """
    inner = tool.run

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        from kanjian.tools.pipeline import current_call

        call = current_call()
        request = ApprovalRequest(call.step, call.call_id, tool.name, args)
        call.report(request)
        answer = await approver(request) if approver is not None else False
        if answer is not True:
            raise ApprovalDenied(
                f"The user did not approve running {tool.name!r}, which has side effects; "
                "do not retry it, answer without it or ask the user."
            )
        return await inner(args, ctx)

    return _derived(tool, run=run)


def approving_side_effects(tools: Iterable[Tool], approver: Approver | None) -> list[Tool]:
    """Every tool, with the side-effect ones wrapped in :func:`requiring_approval`."""
    return [requiring_approval(t, approver) if t.side_effects else t for t in tools]


def checked(tool: Tool) -> Tool:
    """Check the arguments against ``args_schema`` first, unless the tool checks them itself."""
    if tool.checks_args:
        return tool
    inner = tool.run
    # A simple schema's quick yes first (tools.argcheck); jsonschema, imported on the first
    # call that needs it, decides everything else and words the error.
    quick = quick_check(tool.args_schema)
    validators: list[Any] = []

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        if quick is None or not quick(args):
            if not validators:
                from jsonschema import Draft202012Validator

                validators.append(Draft202012Validator(tool.args_schema))
            _check_args(tool.name, validators[0], args)
        return await inner(args, ctx)

    return _derived(tool, run=run, checks_args=True)


def _check_args(name: str, validator: Any, args: dict[str, Any]) -> None:
    if validator.is_valid(args):
        return  # the common case: no error objects made, none sorted
    first = sorted(validator.iter_errors(args), key=lambda e: list(e.path))[0]
    where = "/".join(str(p) for p in first.path) or "args"
    raise ToolInputError(
        f"Invalid arguments for tool {name!r} at {where!r}: {first.message}. "
        "Pass arguments that match its schema."
    )


def shaped(tool: Tool, limit: int = DEFAULT_OUTPUT_LIMIT, keep_in: Path | None = None) -> Tool:
    """The result checked to be a ToolOutput, its data JSON-safe and its text capped.

    See :mod:`kanjian.tools.results`; ``keep_in`` is where whole outputs over the limit are
    kept (the agent passes ``<data dir>/tool-output``).
    """
    inner = tool.run

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        output = await inner(args, ctx)
        if not isinstance(output, ToolOutput):
            raise ToolFailed(
                f"Tool {tool.name!r} returned {type(output).__name__}, not a ToolOutput."
            )
        data = json_safe(output.data)
        text = output.text if isinstance(output.text, str) else str(json_safe(output.text))
        safe = ToolOutput(
            text=text,
            data=data if isinstance(data, dict) else {"result": data},
            images=output.images,
        )
        return capped(safe, tool.name, limit, keep_in)

    return _derived(tool, run=run)


def isolated(tool: Tool) -> Tool:
    """Run the call as plugin code: its ``print()`` goes to stderr, never into stdout's JSON."""
    inner = tool.run

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        with plugin_code():
            return await inner(args, ctx)

    return _derived(tool, run=run)


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
