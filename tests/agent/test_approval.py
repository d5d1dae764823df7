"""agent.approval: the approvers handed to the agent for side-effect tools."""

from __future__ import annotations

import io

import pytest

from kanjian.agent.approval import always, ask_terminal, never, policy, remembering
from kanjian.agent.errors import ConfigError
from kanjian.agent.events import ApprovalRequest

REQUEST = ApprovalRequest(step=1, call_id="c1", tool="note", args={"text": "hi"})


async def test_always_and_never() -> None:
    assert await policy("always")(REQUEST) is True
    assert await policy("never")(REQUEST) is False
    assert await always(REQUEST) and not await never(REQUEST)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("y\n", True), ("YES\n", True), ("\n", False), ("n\n", False), ("", False)],
)
async def test_terminal_prompt(reply: str, expected: bool) -> None:
    stderr = io.StringIO()
    approver = ask_terminal(stdin=io.StringIO(reply), stderr=stderr)
    assert await approver(REQUEST) is expected
    assert stderr.getvalue() == "Allow tool 'note' with {'text': 'hi'}? [y/N] "


async def test_ask_without_a_terminal_says_no() -> None:
    # Under pytest stdin is not a TTY: piped input must never count as consent.
    assert await policy("ask")(REQUEST) is False


def test_unknown_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'sometimes' is not one of ask, always, never"):
        policy("sometimes")


async def test_remembering_asks_once_per_tool() -> None:
    asked: list[str] = []

    async def yes_for_note(request: ApprovalRequest) -> bool:
        asked.append(request.tool)
        return request.tool == "note"

    approver = remembering(yes_for_note)
    other = ApprovalRequest(2, "c2", "send", {})
    results = [
        await approver(REQUEST),
        await approver(REQUEST),
        await approver(other),
        await approver(other),
    ]
    assert results == [True, True, False, False]
    assert asked == ["note", "send", "send"]
