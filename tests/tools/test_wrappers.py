"""Wrappers: timeout, approval, prefix, filter; each returns a new Tool."""

from __future__ import annotations

import asyncio

import pytest

from kanjian.tools.base import ApprovalRequest
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.decorator import tool
from kanjian.tools.errors import ApprovalDenied, ToolTimeout
from kanjian.tools.wrappers import (
    approving_side_effects,
    filtered,
    prefixed,
    requiring_approval,
    with_timeout,
)


@tool(side_effects=True, timeout=0.2)
async def slow_write(text: str) -> str:
    """Pretend to write a file, slowly."""
    await asyncio.sleep(float(text))
    return "written"


@tool
def read(text: str) -> str:
    """Read something."""
    return text


async def test_with_timeout_stops_a_slow_call() -> None:
    wrapped = with_timeout(slow_write)
    assert wrapped is not slow_write and wrapped.timeout == 0.2
    assert (await wrapped.run({"text": "0"}, SimpleToolContext())).text == "written"
    with pytest.raises(ToolTimeout, match=r"'slow_write' did not finish within 0.2 s"):
        await wrapped.run({"text": "5"}, SimpleToolContext())


async def test_requiring_approval_asks_first_and_runs_only_on_yes() -> None:
    asked: list[tuple[str, dict[str, object]]] = []

    async def approver(request: ApprovalRequest) -> bool:
        asked.append((request.tool, request.args))
        return request.args["text"] == "0"

    wrapped = requiring_approval(slow_write, approver)
    assert (await wrapped.run({"text": "0"}, SimpleToolContext())).text == "written"
    with pytest.raises(ApprovalDenied, match="did not approve running 'slow_write'"):
        await wrapped.run({"text": "1"}, SimpleToolContext())
    assert asked == [("slow_write", {"text": "0"}), ("slow_write", {"text": "1"})]


async def test_only_a_literal_true_approves() -> None:
    # A truthy string (say, text a tool returned) must never count as a yes.
    async def truthy(request: ApprovalRequest) -> bool:
        return "yes"  # type: ignore[return-value]

    wrapped = requiring_approval(slow_write, truthy)
    with pytest.raises(ApprovalDenied):
        await wrapped.run({"text": "0"}, SimpleToolContext())


def test_approving_side_effects_wraps_only_those() -> None:
    tools = approving_side_effects([slow_write, read], None)
    assert tools[1] is read and tools[0] is not slow_write


async def test_prefixed_and_filtered() -> None:
    renamed = prefixed(read, "files")
    assert renamed.name == "files_read" and read.name == "read"
    assert (await renamed.run({"text": "x"}, SimpleToolContext())).text == "x"
    both = [slow_write, read]
    assert [t.name for t in filtered(both, allow=["re*"])] == ["read"]
    assert [t.name for t in filtered(both, deny=["slow_*"])] == ["read"]
    assert [t.name for t in filtered(both)] == ["slow_write", "read"]
