"""Approval of side-effect tools: small approvers to hand to :class:`agent.loop.Agent`.

An approver is ``async (ApprovalRequest) -> bool`` (:data:`kanjian.tools.base.Approver`, the
one approver type). The agent asks it before every call of a
tool that declares ``side_effects``; without one, such calls are denied and the model is
told so. Nothing a tool returns can approve anything: approvers only see the request.

    policy("always") / policy("never")      answer at once (scripts, ``--approve``)
    policy("ask")                           ask on the terminal; no terminal means no
    remembering(approver)                   "yes, always" per tool for the rest of a run
"""

from __future__ import annotations

import asyncio
import sys
from typing import Literal, TextIO

from kanjian.agent.errors import ConfigError
from kanjian.tools.base import ApprovalRequest, Approver

__all__ = ["Approver", "Policy", "always", "ask_terminal", "never", "policy", "remembering"]

Policy = Literal["ask", "always", "never"]
_YES = frozenset({"y", "yes", "a", "always"})


async def always(_: ApprovalRequest) -> bool:
    return True


async def never(_: ApprovalRequest) -> bool:
    return False


def ask_terminal(stdin: TextIO | None = None, stderr: TextIO | None = None) -> Approver:
    """Ask ``Allow tool 'x' with {...}? [y/N/a]`` on the terminal (stderr, then stdin)."""

    async def ask(request: ApprovalRequest) -> bool:
        source = stdin or sys.stdin
        if stdin is None and not source.isatty():
            return False  # nobody to ask: piped input is data, not consent
        prompt = f"Allow tool {request.tool!r} with {request.args}? [y/N] "
        reply = await asyncio.to_thread(_read_reply, prompt, source, stderr or sys.stderr)
        return reply.strip().lower() in _YES

    return ask


def _read_reply(prompt: str, stdin: TextIO, stderr: TextIO) -> str:
    stderr.write(prompt)
    stderr.flush()
    return stdin.readline()


def policy(name: str) -> Approver:
    """The approver for an ``--approve`` / ``agent.approve`` setting."""
    if name == "always":
        return always
    if name == "never":
        return never
    if name == "ask":
        return ask_terminal()
    raise ConfigError(
        f"Approval policy {name!r} is not one of ask, always, never; pick one of them."
    )


def remembering(approver: Approver) -> Approver:
    """Ask ``approver`` once per tool: a yes stands for later calls of the same tool."""
    approved: set[str] = set()

    async def ask(request: ApprovalRequest) -> bool:
        if request.tool in approved:
            return True
        if await approver(request):
            approved.add(request.tool)
            return True
        return False

    return ask
