"""What the scripted server answers: replies, the request record, usage estimation.

:class:`Reply` is one scripted answer (and how to misbehave while giving it);
:class:`PrefixCache` is the paged prefix cache behind the reported ``cached_tokens``;
:class:`ScriptResponder`, :func:`echo` and :func:`load_script` drive the process mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from kanjian.vlm.types import Usage

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_MODEL",
    "PrefixCache",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ScriptResponder",
    "echo",
    "error_body",
    "load_script",
    "split_text",
]

DEFAULT_MODEL = "OpenGVLab/InternVL-Chat-V1-5"
# Characters per estimated token, and tokens per prefix-cache page (SGLang's page is 1-64).
CHARS_PER_TOKEN = 4
PAGE_TOKENS = 16


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer, and how to misbehave while giving it.

    ``text``/``finish_reason``: the answer. ``usage``: reported as is (default: estimated);
    ``cached_tokens`` overrides its cached count (default: from the prefix cache).
    ``delay``: seconds before the answer starts; ``token_delay``: seconds before each
    streamed piece (both default to the server's ``latency``/``token_delay``).
    Failures: ``status``/``body`` answer with that HTTP status and body (see
    :meth:`http_error`); ``error`` sends a mid-stream error event (SGLang's shape) after
    ``error_after`` pieces (default: all of them) when streaming, and a 500 with SGLang's
    error body otherwise; ``cut_after`` drops the connection after that many pieces (or,
    not streaming, after that many bytes of the answer); ``malformed`` is sent as the data of one chunk after the first piece; ``hang`` never
    answers (until the client leaves or the server stops).
    """

    text: str = ""
    finish_reason: str | None = "stop"
    usage: Usage | None = None
    cached_tokens: int | None = None
    delay: float | None = None
    token_delay: float | None = None
    error: str | None = None
    error_after: int | None = None
    status: int = 200
    body: str | dict[str, Any] | None = None
    cut_after: int | None = None
    malformed: str | None = None
    hang: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def http_error(
        cls, status: int, message: str, *, kind: str | None = None, **extra: Any
    ) -> Reply:
        """A failure with SGLang's error body ``{"object": "error", "message", "type", ...}``."""
        return cls(status=status, body=error_body(message, status, kind), **extra)

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> Reply:
        """A reply from a script entry: a string (the text) or an object of fields."""
        if isinstance(data, str):
            return cls(text=data)
        data = dict(data)
        if isinstance(data.get("usage"), dict):
            data["usage"] = Usage(**data["usage"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes
    # The client's (host, port): the same port means the same kept-alive connection.
    client: tuple[str, int] | None = None


Responder: TypeAlias = Callable[[dict[str, Any]], "Reply | str | Awaitable[Reply | str]"]


def error_body(message: str, status: int, kind: str | None = None) -> dict[str, Any]:
    """SGLang's ``ErrorResponse`` shape."""
    return {
        "object": "error",
        "message": message,
        "type": kind or _error_type(status),
        "param": None,
        "code": status,
    }


def _error_type(status: int) -> str:
    return {400: "BadRequestError", 401: "Unauthorized", 404: "NotFoundError"}.get(
        status, "InternalServerError" if status >= 500 else "BadRequestError"
    )


def split_text(text: str, size: int = 4) -> list[str]:
    """The text in pieces of ``size`` characters, about one token each."""
    return [text[i : i + size] for i in range(0, len(text), size)]


class PrefixCache:
    """A paged prefix cache over serialised prompts, like SGLang's radix cache."""

    def __init__(
        self, page_chars: int = PAGE_TOKENS * CHARS_PER_TOKEN, max_pages: int = 1_000_000
    ) -> None:
        self._page = page_chars
        self._max_pages = max_pages
        self._seen: set[bytes] = set()

    def match_and_insert(self, prompt: str) -> int:
        """Characters of ``prompt`` (whole pages) already seen at the start of an earlier one."""
        if len(self._seen) > self._max_pages:
            # Full (a batch of large photos adds ~12,000 pages a request): evict it all, as a
            # server whose cache memory ran out would, instead of growing without bound.
            self._seen.clear()
        digest = hashlib.blake2b(digest_size=16)
        matched = 0
        still_matching = True
        for start in range(0, len(prompt) - self._page + 1, self._page):
            digest.update(prompt[start : start + self._page].encode())
            key = digest.digest()
            if still_matching and key in self._seen:
                matched += self._page
            else:
                still_matching = False
                self._seen.add(key)
        return matched


class ScriptResponder:
    """Answers with each scripted reply in turn, then repeats the last one."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        if not replies:
            raise ValueError("ScriptResponder needs at least one reply.")
        self._replies = list(replies)
        self._next = 0

    def __call__(self, request: dict[str, Any]) -> Reply:
        reply = self._replies[min(self._next, len(self._replies) - 1)]
        self._next += 1
        return reply


def echo(request: dict[str, Any]) -> str:
    """The text of the last user message: the answer when no script is given."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(
            part.get("text", "") for part in content or [] if part.get("type") == "text"
        )
    return ""


def load_script(path: str) -> list[Reply]:
    """Replies from a JSON file: a list of strings or objects with :class:`Reply` fields."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, list) or not data:
            raise TypeError("the top level is not a non-empty list")
        return [Reply.from_json(item) for item in data]
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(
            f"Cannot use the script {path!r}: {exc}; give a JSON list of replies, each a "
            'string or an object such as {"text": "Hi", "token_delay": 0.05}.'
        ) from exc
