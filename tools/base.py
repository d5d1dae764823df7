"""What a tool is, to the agent: a name, a one-line purpose, a JSON schema and a coroutine.

Built-ins and plugins are both :class:`Tool` instances (plugins usually make them with the
``@tool`` decorator in :mod:`kanjian.tools.decorator`). A tool receives its validated arguments and a
:class:`ToolContext`, through which it reads images by id (``image_1``...) and may ask the
model (grounding does). It returns a :class:`ToolOutput`: text for the model, JSON data for
people and scripts, and any new images it made (overlays, crops), which the agent registers
as the next ``image_N``.

Boxes that cross this boundary are ``[x1, y1, x2, y2]`` in InternVL's 0–1000 frame of the
referenced image; ``data`` also carries pixel boxes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL.Image import Image

    from kanjian.vlm.types import ChatBackend

__all__ = ["ApprovalRequest", "Approver", "DerivedImage", "Tool", "ToolContext", "ToolOutput"]


@dataclass(slots=True)
class DerivedImage:
    """An image a tool made, to be registered as the next ``image_N``."""

    image: Image
    # Shown to people and scripts, e.g. "zoom of image_1 [120, 80, 560, 400]".
    origin: str
    parent: str | None = None
    # Where this image sits in its parent, in the parent's pixels (x1, y1, x2, y2), so that
    # boxes found in a crop map back into the original image.
    crop_px: tuple[int, int, int, int] | None = None


@dataclass(slots=True)
class ToolOutput:
    # What the model reads after "Observation from <tool>:".
    text: str
    # The JSON result given to people and scripts (``--json``, batch ``steps[].output``).
    data: dict[str, Any] = field(default_factory=dict)
    images: list[DerivedImage] = field(default_factory=list)


@runtime_checkable
class ToolContext(Protocol):
    """What a running tool may use. The agent provides it; tests can build one directly."""

    @property
    def backend(self) -> ChatBackend | None: ...

    def image(self, image_id: str) -> Image:
        """The image registered as ``image_id``; raises ToolInputError if there is none."""
        ...

    def image_ids(self) -> list[str]: ...

    def wire_url(self, image_id: str) -> str:
        """The data URL the model is sent for ``image_id`` (same bytes every time)."""
        ...

    def crop_of(self, image_id: str) -> tuple[str, tuple[int, int, int, int]] | None:
        """For a derived crop: (parent id, crop box in the parent's pixels); else None."""
        ...


ToolFunction = Callable[[dict[str, Any], ToolContext], Awaitable[ToolOutput]]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A side-effect tool waits for the user's yes or no (also an event of the agent's run)."""

    step: int
    call_id: str
    tool: str
    args: dict[str, Any]


# The one approver type: asked before every call of a side-effect tool; only a True runs it.
Approver = Callable[[ApprovalRequest], Awaitable[bool]]


@dataclass(slots=True)
class Tool:
    name: str
    # One line; it goes into the system prompt.
    description: str
    # JSON schema (type: object) of the arguments; checked when the tool is registered.
    args_schema: dict[str, Any]
    run: ToolFunction
    # Tools that change the world (write files, send messages) need the user's approval.
    side_effects: bool = False
    # Seconds before a call is abandoned and reported to the model as a failure.
    timeout: float | None = 60.0
    # Where it came from: "builtin", "entry point foo", "plugin file x.py", "mcp server y".
    source: str = "builtin"
    # Whether ``run`` checks its arguments itself (``@tool`` functions through pydantic,
    # LangChain tools); otherwise the pipeline checks them against ``args_schema``, so every
    # call is validated exactly once.
    checks_args: bool = False
