"""One turn of a conversation, as the loop (:mod:`kanjian.agent.loop`) builds it.

A :class:`Turn` holds what a run adds: the messages in the session's stored form (see
:mod:`kanjian.agent.session`), the step records, the usage and the answer. It is committed to
the session only when the run finishes; a run that fails, is cancelled or is closed early
leaves the session as it was. The helpers below do the slow image work off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.agent.events import (
    ErrorEvent,
    Event,
    Evidence,
    ImageAdded,
    Recalled,
    RunFinished,
    StepRecord,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
)
from kanjian.agent.session import Session
from kanjian.vlm import prompts
from kanjian.vlm.adapter import StepResult, render_stored
from kanjian.vlm.types import Message, Usage

if TYPE_CHECKING:
    from kanjian.agent.images import ImageEntry, ImageRegistry
    from kanjian.tools.pipeline import ToolResult
    from kanjian.vlm.images import LoadedImage
    from kanjian.vlm.schema import AnswerSchema

__all__ = ["ImageSource", "Turn", "attach", "image_added", "observation", "register"]

ImageSource = str | Path | bytes
Stored = dict[str, Any]


@dataclass(slots=True)
class Turn:
    session: Session
    run_id: str
    started: float
    step: int = 0
    records: list[StepRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    answer: str | None = None
    # The user's answer schema, and the validated value the answer came back as.
    schema: AnswerSchema | None = None
    value: Any = None
    # What the answer rests on (on the original images), and notes on dropped citations.
    evidence: tuple[Evidence, ...] = ()
    notes: list[str] = field(default_factory=list)
    # The messages this run adds to the conversation, in stored form, in order.
    new: list[Stored] = field(default_factory=list)
    images_before: int = 0
    messages_before: int = 0
    # Past turns recalled into this conversation's first prompt.
    recalled: tuple[Recalled, ...] = ()
    # The wire messages rendered so far (the session's, then this run's), extended each
    # step by what is new: a rendered message never changes, so neither do its bytes.
    rendered: list[Message] | None = None
    rendered_new: int = 0

    def __post_init__(self) -> None:
        self.images_before = len(self.session.images)
        self.messages_before = len(self.session.messages)

    def add_question(self, question: str, entries: list[ImageEntry], notes: str | None) -> None:
        # Recalled notes come first, never between an image and the question about it.
        parts: list[Stored] = []
        if notes:
            parts.append({"type": "text", "text": prompts.render("recall.md", notes=notes)})
        parts += [{"type": "image", "image_id": e.id} for e in entries]
        parts.append({"type": "text", "text": question})
        if self.schema is not None:
            # Told in words too: a server that cannot constrain decoding needs to know it.
            note = prompts.render("schema.md", schema=self.schema.key)
            parts.append({"type": "text", "text": note})
        self.new.append({"role": "user", "content": parts})

    def wire(self) -> list[Message]:
        """The conversation so far as wire messages (the same bytes every step).

        Only the messages added since the last step are rendered; the rest are the very
        objects sent before (a resumed conversation is not rendered again at every step).
        """
        wire_url = self.session.images.wire_url
        if self.rendered is None:
            self.rendered = render_stored(self.session.messages[: self.messages_before], wire_url)
        if self.rendered_new < len(self.new):
            self.rendered += render_stored(self.new[self.rendered_new :], wire_url)
            self.rendered_new = len(self.new)
        return list(self.rendered)

    def record_model(self, result: StepResult) -> list[Event]:
        """A finished model step: kept as the raw action; its usage, one event per request."""
        self.new.append({"role": "assistant", "content": result.raw})
        events: list[Event] = []
        for record in result.requests:
            usage = Usage(
                record["prompt_tokens"], record["completion_tokens"], record["cached_tokens"]
            )
            self.usage = self.usage + usage
            events.append(UsageEvent(usage, record.get("seconds", 0.0)))
        return events

    def record_tool(
        self, call: ToolCallEvent, result: ToolResult, entries: list[ImageEntry]
    ) -> ToolResultEvent:
        """A finished tool call: its step record, the observation the model reads next."""
        self.records.append(
            StepRecord(call.tool, call.args, result.data, result.seconds, result.error)
        )
        self.new.append(observation(call.tool, result.text, entries))
        return ToolResultEvent(
            step=call.step,
            call_id=call.call_id,
            tool=call.tool,
            args=call.args,
            output=result.data,
            text=result.text,
            seconds=result.seconds,
            images=tuple(e.id for e in entries),
            error=result.error,
        )

    async def warm_images(self) -> None:
        """Prepare earlier turns' images for the wire (a resumed session) off the event loop."""
        registry = self.session.images
        cold = [e.id for e in registry.entries() if e.wire_url is None]
        if cold:
            await asyncio.to_thread(lambda: [registry.wire_url(i) for i in cold])

    async def commit(self) -> None:
        """The finished turn joins the session, which is saved."""
        self.session.messages.extend(self.new)
        self.session.updated = time.time()
        # A few KB of JSON, but a temp file, a write and a rename: off the loop, where a
        # batch's other tasks would otherwise wait on the disk.
        await asyncio.to_thread(self.session.save)

    def rollback(self) -> None:
        """Leave the session as it was before this run."""
        self.session.images.truncate(self.images_before)
        del self.session.messages[self.messages_before :]

    def finished(self, error: ErrorEvent | None) -> RunFinished:
        ok = error is None
        answer = self.value if self.schema is not None else self.answer
        return RunFinished(
            id=self.run_id,
            session=self.session.id,
            answer=answer if ok else None,
            evidence=self.evidence if ok else (),
            extra={"evidence_notes": list(self.notes)} if ok and self.notes else {},
            steps=tuple(self.records),
            images=self.session.images.origins(),
            usage=self.usage,
            seconds=time.perf_counter() - self.started,
            error=error.message if error else None,
            exit_code=error.exit_code if error else 0,
            recalled=self.recalled,
        )


def observation(tool: str, text: str, entries: list[ImageEntry]) -> Stored:
    """A tool's result as the model reads it next: ``Observation from <tool>:`` and images."""
    head = prompts.render("observation.md", tool=tool or "tool", text=text)
    images = [{"type": "image", "image_id": e.id} for e in entries]
    return {"role": "user", "content": [{"type": "text", "text": head}, *images]}


def image_added(entry: ImageEntry) -> ImageAdded:
    path = entry.path if entry.parent is not None else None
    return ImageAdded(entry.id, entry.origin, entry.width, entry.height, entry.parent, path)


async def attach(registry: ImageRegistry, images: Any) -> list[ImageEntry]:
    """Register the user's attachments as the next ``image_N``.

    One thread hop per image does all the slow work (read, decode once, store the bytes,
    encode for the wire); back on the loop, add() finds the bytes stored and the entry gets
    its wire URL, so a batch's event loop never waits on disk or pixels.
    """
    loop = asyncio.get_running_loop()
    # run_in_executor, not to_thread: no context copy; no gather for the usual one image.
    calls = [loop.run_in_executor(None, _prepare_attachment, registry, s) for s in images]
    prepared = [await calls[0]] if len(calls) == 1 else await asyncio.gather(*calls)
    entries: list[ImageEntry] = []
    for loaded, wire_url in prepared:
        entry = registry.add(loaded)
        entry.wire_url = wire_url
        entries.append(entry)
    return entries


def _prepare_attachment(registry: ImageRegistry, source: ImageSource) -> tuple[LoadedImage, str]:
    """In a worker thread: load (decode once), store the bytes, and encode for the wire."""
    from kanjian.vlm.images import load_image
    from kanjian.vlm.wire import prepare_for_wire

    loaded = load_image(source)
    registry.store.put(loaded.data, loaded.sha256, loaded.format)
    rule, max_num = registry.tiling()  # the backend's rule: SGLang's, or the local one's
    return loaded, prepare_for_wire(loaded, rule=rule, max_num=max_num).data_url


async def register(registry: ImageRegistry, result: ToolResult) -> list[ImageEntry]:
    """The images a tool made, as the next ``image_N`` (and ``ground``'s overlay path)."""
    if not result.images:
        return []  # the common case stays on the event loop: a thread hop costs ~1 ms

    def work() -> list[ImageEntry]:
        entries = [registry.add_derived(image) for image in result.images]
        for entry in entries:
            registry.wire_url(entry.id)  # encode now, off the event loop
        return entries

    entries = await asyncio.to_thread(work)
    # ``ground`` leaves ``"overlay": null`` for whoever stores the overlay: that is us.
    if "overlay" in result.data and result.data["overlay"] is None:
        result.data = {**result.data, "overlay": entries[0].path}
    return entries
