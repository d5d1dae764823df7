"""The typed event stream of one agent run.

A run (``Agent.run(...)``) is an async iterator of these records. The terminal app, ``kanjian
ask`` (plain and ``--json``), ``kanjian batch`` and the Python API all consume the same
stream; none of them talks to the model or the tools directly. Events are frozen
dataclasses so they can be logged, compared in tests and sent across threads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

from vlm.types import Usage

__all__ = [
    "AnswerDelta",
    "AnswerDone",
    "ApprovalRequest",
    "ErrorEvent",
    "Event",
    "ImageAdded",
    "RunFinished",
    "StepRecord",
    "StepStarted",
    "Thought",
    "ToolCallEvent",
    "ToolResultEvent",
    "UsageEvent",
    "event_to_dict",
]


@dataclass(frozen=True, slots=True)
class ImageAdded:
    """An image entered the conversation (an attachment, a zoom crop, an overlay)."""

    image_id: str
    # A path for attachments; "zoom of image_1 [...]" and the like for derived images.
    origin: str
    width: int
    height: int
    parent: str | None = None
    # Where a derived image was written on disk, if it was (overlays, crops), for display.
    path: str | None = None


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: int


@dataclass(frozen=True, slots=True)
class Thought:
    step: int
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    step: int
    call_id: str
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A side-effect tool waits for the user's yes or no (see agent approval policies)."""

    step: int
    call_id: str
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    step: int
    call_id: str
    tool: str
    args: dict[str, Any]
    # The tool's JSON data (what ``--json`` puts in steps[].output).
    output: dict[str, Any]
    # What the model was shown after "Observation from <tool>:".
    text: str
    seconds: float
    # image ids the tool added (overlay, crop).
    images: tuple[str, ...] = ()
    # Set when the tool failed; the failure went back to the model as the observation.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """A piece of the final answer, as the model generates it."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerDone:
    text: str


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """Token usage of one model request."""

    usage: Usage
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """The run failed; ``message`` is one clear sentence, ``exit_code`` 1 or 2."""

    message: str
    exit_code: int = 1


@dataclass(frozen=True, slots=True)
class StepRecord:
    tool: str
    args: dict[str, Any]
    output: dict[str, Any]
    seconds: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunFinished:
    """Always the last event: the whole run, in the shape of ``ask --json``."""

    id: str
    session: str
    answer: str | None
    steps: tuple[StepRecord, ...]
    images: dict[str, str]
    usage: Usage
    seconds: float
    error: str | None = None
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``ask --json`` / batch output line, as DESIGN.md fixes it."""
        return {
            "id": self.id,
            "session": self.session,
            "answer": self.answer,
            "steps": [
                {"tool": s.tool, "args": s.args, "output": s.output, "seconds": round(s.seconds, 3)}
                | ({"error": s.error} if s.error else {})
                for s in self.steps
            ],
            "images": dict(self.images),
            "usage": self.usage.as_dict(),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


Event: TypeAlias = (
    ImageAdded
    | StepStarted
    | Thought
    | ToolCallEvent
    | ApprovalRequest
    | ToolResultEvent
    | AnswerDelta
    | AnswerDone
    | UsageEvent
    | ErrorEvent
    | RunFinished
)


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key, for logs and ``--events`` output."""
    data = asdict(event)
    data["type"] = type(event).__name__
    return data
