"""Reading what an OpenAI-compatible server sends: SSE framing, chunks, usage, error bodies.

SGLang streams ``/v1/chat/completions`` as Server-Sent Events: ``data: {...}`` lines, each
event ended by a blank line, the whole stream ended by ``data: [DONE]``. The first chunk
carries the role, later ones carry ``delta.content``, ``finish_reason`` arrives in a chunk of
its own, and with ``stream_options.include_usage`` one more chunk has ``choices: []`` and the
usage. A failure after the stream began arrives as ``data: {"error": {...}}`` (still followed
by ``[DONE]``).

:class:`StreamDecoder` turns those payloads into :mod:`kanjian.vlm.types` stream events and raises
:class:`~vlm.errors.StreamError` for anything that breaks the contract. It knows nothing of
HTTP, so the client and the tests drive it with plain strings; so does
:func:`error_message`, which finds the message in an error body of any common shape.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from kanjian.vlm.errors import StreamError
from kanjian.vlm.types import Finished, StreamEvent, TextDelta, Usage, UsageReport

__all__ = [
    "DONE",
    "StreamDecoder",
    "error_message",
    "excerpt",
    "parse_usage",
    "sse_batches",
    "sse_data",
]

DONE = "[DONE]"
# Long enough to recognise a chunk in an error message, short enough to keep it one line.
_EXCERPT = 120


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


async def sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """Yield the data of each event in an SSE stream given line by line.

    Several ``data:`` lines in one event are joined with newlines, as the SSE spec says;
    ``event:``, ``id:``, ``retry:`` and comment lines are ignored (SGLang only names events
    for token-id side channels the client never asks for). An event still open when the
    stream ends is dropped, as the spec says, unless it is the end marker.
    """
    events = _Events()
    async for line in lines:
        payload = events.line(line)
        if payload is not None:
            yield payload
    if events.ends_done():
        yield DONE


async def sse_batches(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[str]]:
    """The data of the events in an SSE stream given as bytes, one list per chunk read.

    The events as :func:`sse_data` reads them, from the response body itself: every event
    that one read completes comes in one list, so the client does its work per read, not
    per line. Lines end only where SSE says (CR LF, LF or CR, even split across reads);
    ``str.splitlines`` (and httpx's ``aiter_lines``) also break at U+2028, U+2029 and U+0085,
    which a server writing JSON without escaping non-ASCII (SGLang does) sends raw inside an
    answer, cutting the chunk's JSON in two.
    """
    decode = codecs.getincrementaldecoder("utf-8")("replace").decode
    events = _Events()
    rest = ""
    async for chunk in chunks:
        # Whole events only (each ends with a blank line); the rest waits for the next read.
        blocks = _newlines(rest + decode(chunk)).split("\n\n")
        rest = blocks.pop()
        found = [p for p in map(events.block, blocks) if p is not None]
        if found:
            yield found
    lines = _newlines(rest + decode(b"", True), final=True).split("\n")
    last = lines.pop()
    # The body's last line, if it did not end with a line break, is a line all the same.
    tail = [p for p in map(events.line, [*lines, last] if last else lines) if p is not None]
    if events.ends_done():
        tail.append(DONE)
    if tail:
        yield tail


def _newlines(text: str, *, final: bool = False) -> str:
    """``text`` with every SSE line end as LF; a CR at the end (maybe the first half of a
    CR LF split across reads) is left for the next read unless this is the last."""
    if "\r" not in text:
        return text
    held = text.endswith("\r") and not final
    text = (text[:-1] if held else text).replace("\r\n", "\n").replace("\r", "\n")
    return text + "\r" if held else text


class _Events:
    """The SSE event being read: its ``data:`` lines until a blank line ends it."""

    def __init__(self) -> None:
        self.data: list[str] = []

    def line(self, line: str) -> str | None:
        """Take one line; the event's data when this line ends an event, else None."""
        if not line:
            if not self.data:
                return None
            payload = "\n".join(self.data)
            self.data = []
            return payload
        if line.startswith("data:"):
            value = line[5:]
            self.data.append(value[1:] if value.startswith(" ") else value)
        return None

    def block(self, block: str) -> str | None:
        """Take the lines of one whole event (its ending blank line not included)."""
        if block.startswith("data:") and "\n" not in block:
            value = block[5:]  # the common case: one data line
            return value[1:] if value.startswith(" ") else value
        for line in block.split("\n"):
            self.line(line)
        return self.line("")

    def ends_done(self) -> bool:
        """Whether the stream ended inside an event that is the end marker."""
        return bool(self.data) and "\n".join(self.data).strip() == DONE


def parse_usage(raw: Any) -> Usage:
    """A :class:`Usage` from an OpenAI ``usage`` object (``None`` or absent fields = 0)."""
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=_count(raw.get("prompt_tokens")),
        completion_tokens=_count(raw.get("completion_tokens")),
        cached_tokens=_count(cached),
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def error_event_message(error: Any) -> str:
    """The human part of a mid-stream ``{"error": ...}`` payload."""
    if isinstance(error, dict):
        message = error.get("message")
        kind = error.get("type")
        code = error.get("code")
        if isinstance(message, str):
            prefix = " ".join(str(part) for part in (code, kind) if part is not None)
            return f"{prefix}: {message}" if prefix else message
    return str(error)


class StreamDecoder:
    """Turns the data payloads of one chat stream into stream events, checking the contract.

    Feed each payload to :meth:`feed` (it returns the events it carries), then call
    :meth:`close` when the transport ends: it raises if the stream ended before
    ``[DONE]`` and before a ``finish_reason``, which means it was cut mid-answer.
    """

    def __init__(self, url: str, *, redact: Callable[[str], str] = str) -> None:
        self._url = url
        # Server text is quoted in errors; this blanks secrets (the API key) out of it.
        self._redact = redact
        self.done = False
        self.finished = False
        self.chars = 0

    def feed(self, payload: str) -> list[StreamEvent]:
        if self.done:
            return []
        if payload.strip() == DONE:
            self.done = True
            # A [DONE] without any finish_reason (a graceful abort on some servers) still
            # gives consumers the one Finished event they can rely on.
            return [] if self.finished else [self._finish(None)]
        chunk = self._load(payload)
        if "error" in chunk:
            raise StreamError(
                f"The model server at {self._url!r} reported an error mid-answer after "
                f"{self.chars} characters: {self._redact(error_event_message(chunk['error']))!r}; "
                "retry the request, and check the server's log if it happens again."
            )
        events = self._choice_events(chunk, payload)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            events.append(UsageReport(parse_usage(usage)))
        return events

    def close(self) -> None:
        """Check the stream ended properly: ``[DONE]`` seen, or at least a finish_reason."""
        if not (self.done or self.finished):
            raise self.cut_error("the connection closed")

    def cut_error(self, how: str) -> StreamError:
        return StreamError(
            f"The answer from the model server at {self._url!r} was cut off mid-stream after "
            f"{self.chars} characters ({how} before the end marker); retry the request, and "
            "check the server's log if it happens again."
        )

    def _load(self, payload: str) -> dict[str, Any]:
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise self._malformed(payload, "it is not JSON") from None
        if not isinstance(chunk, dict):
            raise self._malformed(payload, "it is not a JSON object")
        return chunk

    def _choice_events(self, chunk: dict[str, Any], payload: str) -> list[StreamEvent]:
        choices = chunk.get("choices", [])
        if not isinstance(choices, list):
            raise self._malformed(payload, "its 'choices' is not a list")
        events: list[StreamEvent] = []
        for choice in choices:
            # n is always 1 here; other indexes would belong to answers nobody asked for.
            if not isinstance(choice, dict) or not isinstance(choice.get("delta", {}), dict):
                raise self._malformed(payload, "a choice is not an object with a 'delta' object")
            if choice.get("index", 0) != 0:
                continue
            text = (choice.get("delta") or {}).get("content")
            if text is not None and not isinstance(text, str):
                raise self._malformed(payload, "its 'delta.content' is not a string")
            if text:
                self.chars += len(text)
                events.append(TextDelta(text))
            reason = choice.get("finish_reason")
            if reason is not None and not self.finished:
                events.append(self._finish(str(reason)))
        return events

    def _finish(self, reason: str | None) -> Finished:
        self.finished = True
        return Finished(reason)

    def _malformed(self, payload: str, why: str) -> StreamError:
        return StreamError(
            f"The model server at {self._url!r} sent a malformed stream chunk "
            f"{excerpt(self._redact(payload))!r}: {why}; check that the URL points at an "
            "OpenAI-compatible server such as SGLang."
        )


def error_message(body: str) -> str:
    """The message inside an error body: SGLang's, OpenAI's or FastAPI's shape, else the text."""
    try:
        data = json.loads(body)
    except ValueError:
        return excerpt(body.strip() or "(empty body)", 300)
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            data = inner
        elif isinstance(inner, str):
            return inner
        message = data.get("message") or data.get("detail")
        if isinstance(message, str):
            return message
        if message is not None:
            return excerpt(json.dumps(message), 300)
    return excerpt(body.strip(), 300)
