"""The agent's side of memory: recording turns, recalling the past, and the search tool.

Memory (:mod:`memory`) knows nothing of agents; this module translates. After a run, the
finished turn (question, answer, images, tool steps, usage, the turn's wire messages, the
OCR text and grounding labels its tools found) is stored; before the first turn of a new
conversation, relevant past turns are recalled into the prompt with their session ids; and
``memory_search`` lets the model look things up itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.agent.events import Recalled, RunFinished

if TYPE_CHECKING:
    from kanjian.agent.session import Session
    from kanjian.memory.api import Memory
    from kanjian.memory.core import RecallSnapshot
    from kanjian.tools.base import Tool

__all__ = [
    "MemoryImageStore",
    "format_recall",
    "memory_search_tool",
    "record_turn",
    "snapshot_recall",
]


class MemoryImageStore:
    """The session image store backed by memory's content-addressed store (one copy on disk)."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    def put(self, data: bytes, sha256: str, fmt: str) -> str:
        stored = self._memory.core.put_image(data, fmt.lower() or None)
        return str(self._memory.image_path(stored))

    def get(self, sha256: str) -> bytes:
        try:
            return Path(self._memory.image_path(sha256)).read_bytes()
        except Exception as exc:
            raise FileNotFoundError(f"No stored image with sha256 {sha256!r}.") from exc


async def record_turn(
    memory: Memory, session: Session, finished: RunFinished, question: str, first_message: int
) -> None:
    """Store the turn that ``finished`` ended (only successful runs are remembered)."""
    from kanjian.memory.records import StoredImageRef

    if finished.error or finished.answer is None:
        return
    # The session's images already live in memory's store (MemoryImageStore).
    refs = [StoredImageRef(e.sha256, e.id, e.origin) for e in session.images.entries()]
    steps = [
        {"tool": s.tool, "args": s.args, "output": s.output, "seconds": s.seconds, "error": s.error}
        for s in finished.steps
    ]
    await memory.add_turn(
        session.id,
        question,
        finished.answer,
        images=refs,
        steps=steps,
        usage=finished.usage.as_dict(),
        transcript=session.messages[first_message:],
        ocr_text=_ocr_text(finished),
        labels=_labels(finished),
        # The session is made with its first turn, in one transaction: a batch killed
        # between two steps must not leave "0 turns" sessions behind.
        title=_title(question),
    )


def _title(question: str) -> str:
    line = question.strip().splitlines()[0] if question.strip() else "untitled"
    return line[:80]


def _ocr_text(finished: RunFinished) -> str:
    texts = [
        str(s.output.get("text", "")) for s in finished.steps if s.tool == "ocr" and not s.error
    ]
    return "\n".join(t for t in texts if t)


def _labels(finished: RunFinished) -> list[str]:
    labels: list[str] = []
    for step in finished.steps:
        if step.tool == "ground" and not step.error:
            labels += [
                str(b.get("label", "")) for b in step.output.get("boxes", []) if b.get("label")
            ]
            if query := step.output.get("query"):
                labels.append(str(query))
    return labels


async def format_recall(
    memory: Memory,
    question: str,
    budget_tokens: int,
    exclude: str | None,
    as_of: RecallSnapshot | None = None,
) -> tuple[str | None, tuple[Recalled, ...]]:
    """Past turns for the prompt, each headed by its session id so the model can cite it,
    and what was recalled (for ``RecallEvent`` and ``recalled`` in ``ask --json``); with
    ``as_of``, from memory as it was then (see :meth:`kanjian.memory.api.Memory.snapshot`)."""
    hits = await memory.recall(question, budget_tokens, exclude_session=exclude, as_of=as_of)
    recalled = tuple(Recalled(h.session, h.turn, h.score, h.text) for h in hits)
    if not hits:
        return None, recalled
    notes = "\n\n".join(f"[session {h.session}, turn {h.turn}]\n{h.text}" for h in hits)
    return notes, recalled


async def snapshot_recall(memory: Memory, budget_tokens: int) -> Callable[[str], Any]:
    """A recall hook that reads memory as it is now, whatever is remembered later: the
    turns a batch stores while it runs are never recalled into its other tasks, whose
    answers so do not depend on which tasks finished first."""
    snapshot = await memory.snapshot()

    async def recall(question: str) -> tuple[str | None, tuple[Recalled, ...]]:
        return await format_recall(memory, question, budget_tokens, None, snapshot)

    return recall


def memory_search_tool(memory: Memory) -> Tool:
    """``memory_search(query, k)``: the model searches past conversations itself."""
    from kanjian.tools.base import Tool, ToolContext, ToolOutput

    async def run(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        query = str(args["query"])
        hits = await memory.search(query, int(args.get("k", 5)))
        data = {"query": query, "hits": [h.as_dict() for h in hits]}
        if not hits:
            return ToolOutput("No past conversation matches.", data)
        text = "\n\n".join(
            f"[session {h.session}, turn {h.turn}, {h.as_dict()['created']}]\n{h.text}"
            for h in hits
        )
        return ToolOutput(text, data)

    return Tool(
        name="memory_search",
        description="Search past conversations (questions, answers, text found in their images).",
        args_schema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in any language."},
                "k": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        run=run,
        source="builtin",
    )
