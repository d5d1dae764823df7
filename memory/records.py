"""The records memory hands out: sessions, turns, images and search hits.

Plain frozen dataclasses (in the spirit of simonw/llm's records): SQLite rows go in, these
come out, and nothing outside :mod:`kanjian.memory.store` sees a row. Times are Unix seconds
(float, UTC); :func:`iso` renders them for JSON and Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

__all__ = [
    "Hit",
    "ImageRecord",
    "SearchMode",
    "SessionRecord",
    "StoredImageRef",
    "TurnRecord",
    "iso",
]

SearchMode: TypeAlias = Literal["hybrid", "vector", "lexical"]


def iso(ts: float) -> str:
    """A Unix time as ISO 8601 in UTC with seconds (``2025-01-31T09:30:00+00:00``)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One stored image: its bytes live once under ``images/<sha[:2]>/<sha>.<ext>``."""

    sha256: str
    ext: str
    width: int
    height: int
    size: int
    path: Path
    thumbnail: Path


@dataclass(frozen=True, slots=True)
class StoredImageRef:
    """How a turn uses a stored image: its name for the model and where it came from."""

    sha256: str
    # The model-facing name, ``image_1``, ``image_2``, ... (see DESIGN: action protocol).
    name: str = ""
    # The user's path, or how a derived image was made ("zoom of image_1").
    origin: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"sha256": self.sha256, "name": self.name, "origin": self.origin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredImageRef:
        return cls(str(data["sha256"]), str(data.get("name", "")), str(data.get("origin", "")))


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One question and its answer, with everything needed to show, search or resume it."""

    session_id: str
    seq: int
    question: str
    answer: str
    created: float
    images: tuple[StoredImageRef, ...] = ()
    steps: tuple[dict[str, Any], ...] = ()
    usage: dict[str, Any] = field(default_factory=dict)
    # The opaque wire messages of the turn (images referenced by sha256), for byte-identical
    # resumption by the agent.
    transcript: tuple[dict[str, Any], ...] = ()
    ocr_text: str = ""
    labels: tuple[str, ...] = ()
    role: str = "user"

    @property
    def key(self) -> str:
        """The turn's id in the vector index: ``<session>:<seq>``."""
        return f"{self.session_id}:{self.seq}"

    @property
    def key_tuple(self) -> tuple[str, int]:
        """``(session, seq)``: how the lexical index and the vector mirror name the turn."""
        return (self.session_id, self.seq)

    @property
    def text(self) -> str:
        """The stored turn as searched and shown: the question and the answer."""
        return f"Q: {self.question}\nA: {self.answer}"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A conversation: its turns in order (empty when listed without them)."""

    id: str
    title: str
    created: float
    updated: float
    turn_count: int = 0
    turns: tuple[TurnRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a stored turn and how well it matched."""

    session: str
    turn: int
    score: float
    text: str
    images: tuple[str, ...]
    created: float
    question: str = ""
    answer: str = ""
    # Which retrievers found it, with its 1-based rank in each ("vector", "lexical").
    ranks: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The DESIGN contract shape of one ``memory search --json`` hit."""
        return {
            "session": self.session,
            "turn": self.turn,
            "score": round(self.score, 6),
            "text": self.text,
            "images": list(self.images),
            "created": iso(self.created),
        }
