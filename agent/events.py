"""The typed event stream of one agent run.

A run (``Agent.run(...)``) is an async iterator of these records. The terminal app, ``kanjian
ask`` (plain and ``--json``), ``kanjian batch`` and the Python API all consume the same
stream; none of them talks to the model or the tools directly. Events are frozen
dataclasses so they can be logged, compared in tests and sent across threads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias

from kanjian.tools.base import ApprovalRequest
from kanjian.vlm.types import Usage

__all__ = [
    "AnswerDelta",
    "AnswerDone",
    "ApprovalRequest",
    "ErrorEvent",
    "Event",
    "Evidence",
    "ImageAdded",
    "RecallEvent",
    "Recalled",
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
class Evidence:
    """A region the answer rests on, as the model cited it (action protocol ``evidence``)."""

    image: str
    # In the 0–1000 frame of ``image``, as the model gave it; None when it cited the whole image.
    box: tuple[int, int, int, int] | None = None
    # The same box in pixels of the original image (filled by the agent, which knows sizes).
    box_px: tuple[int, int, int, int] | None = None
    # The step whose observation it cites, when the model said so.
    step: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``evidence`` items of ``ask --json``: boxes are pixels of the original image."""
        return {"image": self.image, "box": list(self.box_px) if self.box_px else None}


@dataclass(frozen=True, slots=True)
class Recalled:
    """A past turn that passed the recall gate and was put into this conversation's prompt."""

    session: str
    turn: int
    score: float
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session, "turn": self.turn, "score": round(self.score, 4)}


@dataclass(frozen=True, slots=True)
class RecallEvent:
    """Past turns recalled into a new conversation (empty tuple: nothing passed the gate)."""

    recalled: tuple[Recalled, ...]


@dataclass(frozen=True, slots=True)
class AnswerDone:
    # The answer as text; with a user schema, the JSON text of ``value``.
    text: str
    evidence: tuple[Evidence, ...] = ()
    # The validated object when the run had a schema (``--schema``), else None.
    value: Any = None


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
    # A string, or the validated object when the run had a schema (``--schema``).
    answer: Any
    steps: tuple[StepRecord, ...]
    images: dict[str, str]
    usage: Usage
    seconds: float
    error: str | None = None
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    recalled: tuple[Recalled, ...] = ()

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
            "evidence": [e.to_json() for e in self.evidence],
            "recalled": [r.to_json() for r in self.recalled],
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
    | RecallEvent
    | UsageEvent
    | ErrorEvent
    | RunFinished
)


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key, for logs and ``--events`` output."""
    data = asdict(event)
    data["type"] = type(event).__name__
    return data
