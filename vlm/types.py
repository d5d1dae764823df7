"""The value types every model backend speaks: requests, streamed events, usage.

Messages are OpenAI-shaped dicts (``{"role": "user", "content": [...]}``) because that is
the wire format SGLang takes; images inside them are ``image_url`` parts with data URLs
made by :mod:`kanjian.vlm.wire`. Both the HTTP client (:mod:`kanjian.vlm.client`) and the in-process
transformers backend (:mod:`kanjian.vlm.local`) implement :class:`ChatBackend`, so the agent never
knows which one it is talking to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "ChatBackend",
    "ChatRequest",
    "ChatResult",
    "Finished",
    "Message",
    "ModelInfo",
    "Role",
    "SamplingParams",
    "StreamEvent",
    "TextDelta",
    "Usage",
    "UsageReport",
    "image_part",
    "text_part",
]

Role: TypeAlias = Literal["system", "user", "assistant"]
# One chat message, exactly as it goes on the wire.
Message: TypeAlias = dict[str, Any]


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_part(data_url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url}}


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # SGLang reports prefix-cache hits in prompt_tokens_details.cached_tokens (absent when 0).
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
        }


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: list[Message]
    params: SamplingParams = field(default_factory=SamplingParams)
    # One constraint per request (SGLang rejects more): an OpenAI response_format
    # ({"type": "json_schema", "json_schema": {"name", "schema"}}) or a top-level regex.
    response_format: dict[str, Any] | None = None
    regex: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str | None


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage


StreamEvent: TypeAlias = TextDelta | Finished | UsageReport


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    finish_reason: str | None
    usage: Usage
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    model: str
    # "sglang" when the server is SGLang (its tiling rule applies), else "official".
    tile_rule: Literal["official", "sglang"] = "sglang"
    # Whether response_format json_schema / regex constraints are honoured.
    supports_constraints: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ChatBackend(Protocol):
    """What the agent needs from a model: one answer, or a stream of one."""

    async def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def model_info(self) -> ModelInfo: ...

    async def aclose(self) -> None: ...
