"""The agent: the composition root of kanjian (see DESIGN.md).

Heavy parts load on first use, so ``import agent`` stays instant (``kanjian --help``)::

    from kanjian.agent import Agent, Session, events
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kanjian.agent import events
    from kanjian.agent.events import (
        AnswerDelta,
        AnswerDone,
        ApprovalRequest,
        ErrorEvent,
        Event,
        ImageAdded,
        RunFinished,
        StepRecord,
        StepStarted,
        Thought,
        ToolCallEvent,
        ToolResultEvent,
        UsageEvent,
    )
    from kanjian.agent.images import ImageRegistry
    from kanjian.agent.loop import Agent
    from kanjian.agent.session import Session

__all__ = [
    "Agent",
    "AnswerDelta",
    "AnswerDone",
    "ApprovalRequest",
    "ErrorEvent",
    "Event",
    "ImageAdded",
    "ImageRegistry",
    "RunFinished",
    "Session",
    "StepRecord",
    "StepStarted",
    "Thought",
    "ToolCallEvent",
    "ToolResultEvent",
    "UsageEvent",
    "events",
]

_HOMES = {
    "Agent": "kanjian.agent.loop",
    "Session": "kanjian.agent.session",
    "ImageRegistry": "kanjian.agent.images",
}


def __getattr__(name: str) -> Any:
    if name == "events":
        return importlib.import_module("kanjian.agent.events")
    if name in __all__:
        module = importlib.import_module(_HOMES.get(name, "kanjian.agent.events"))
        return getattr(module, name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
