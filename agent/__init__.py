"""The agent: the composition root of kanjian (see DESIGN.md).

Heavy parts load on first use, so ``import agent`` stays instant (``kanjian --help``)::

    from agent import Agent, Session, events
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent import events
    from agent.events import (
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
    from agent.images import ImageRegistry
    from agent.loop import Agent
    from agent.session import Session

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

_HOMES = {"Agent": "agent.loop", "Session": "agent.session", "ImageRegistry": "agent.images"}


def __getattr__(name: str) -> Any:
    if name == "events":
        return importlib.import_module("agent.events")
    if name in __all__:
        module = importlib.import_module(_HOMES.get(name, "agent.events"))
        return getattr(module, name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
