"""The body of a chat request: made from a :class:`~vlm.types.ChatRequest`, encoded to bytes.

:func:`build_body` is the only place a request body is made, so the conformance tests can
check every body it makes against SGLang's own request schema. :func:`encode_body` writes
it as compact UTF-8 JSON. An agent sends the same images at every step of a conversation
(the prefix SGLang caches), each as a data URL of up to a few megabytes; encoding such a
string to JSON costs about 3 ms per megabyte, at every step. So each long string is encoded
once, kept (by identity, a few at a time), and spliced into the bytes of the rest of the body;
the result is byte-for-byte what ``json.dumps`` makes.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import OrderedDict
from dataclasses import fields
from typing import Any

from kanjian.vlm.errors import ConfigError
from kanjian.vlm.model_info import DEFAULT_MODEL
from kanjian.vlm.sse import excerpt
from kanjian.vlm.types import ChatRequest, SamplingParams

__all__ = ["build_body", "encode_body"]

_SAMPLING_FIELDS = tuple(f.name for f in fields(SamplingParams))
# Data URLs at least this long are encoded once and spliced in; shorter ones cost less to
# encode than to look up.
_LONG = 16_384
# How many encoded data URLs are kept: a batch's concurrent tasks each have their own.
_KEPT = 64
# What stands in for a long string while the rest is encoded: a name no text will hold
# (random per process), then the string's index.
_MARK = f"kanjian-splice-{secrets.token_hex(8)}-"
_MARKS = re.compile(f'"{_MARK}([0-9]+)"')


def build_body(
    request: ChatRequest, *, stream: bool, default_model: str = DEFAULT_MODEL
) -> dict[str, Any]:
    """The JSON body of a ``/v1/chat/completions`` call for ``request``.

    Sampling parameters left ``None`` are omitted so the server's (or the model's
    generation config's) defaults apply. A request may carry one output constraint:
    ``response_format`` (passed through) or a top-level ``regex`` (an SGLang extension).
    """
    if request.response_format is not None and request.regex is not None:
        raise ConfigError(
            f"The request sets both response_format {excerpt(str(request.response_format))!r} "
            f"and regex {excerpt(request.regex)!r}, but SGLang honours one constraint per "
            "request; keep only one of them."
        )
    body: dict[str, Any] = {
        "model": request.model or default_model,
        "messages": request.messages,
    }
    for name in _SAMPLING_FIELDS:
        value = getattr(request.params, name)
        if value is not None:
            body[name] = value
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.regex is not None:
        body["regex"] = request.regex
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def encode_body(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: encoded once per request, the bytes reused across retries."""
    long: list[str] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        body = {**body, "messages": [_marked(m, long) for m in messages]}
    text = _dumps(body)
    if not long:
        return text.encode()
    # split() with one group: text, index, text, index, ..., text.
    pieces = _MARKS.split(text)
    out = [pieces[0].encode()]
    for i in range(1, len(pieces), 2):
        out.append(_encoded(long[int(pieces[i])]))
        out.append(pieces[i + 1].encode())
    return b"".join(out)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _marked(message: Any, long: list[str]) -> Any:
    """``message`` with each long image URL replaced by a mark (a copy; the original stays)."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return message
    parts = [_marked_part(part, long) for part in content]
    if all(new is old for new, old in zip(parts, content, strict=True)):
        return message
    return {**message, "content": parts}


def _marked_part(part: Any, long: list[str]) -> Any:
    image = part.get("image_url") if isinstance(part, dict) else None
    if not isinstance(image, dict):
        return part
    url = image.get("url")
    if not isinstance(url, str) or len(url) < _LONG:
        return part
    long.append(url)
    return {**part, "image_url": {**image, "url": f"{_MARK}{len(long) - 1}"}}


# id(string) -> (the string, its JSON bytes). The string is held, so its id is not reused
# while the entry lives; looking up by id never hashes megabytes of text.
_cache: OrderedDict[int, tuple[str, bytes]] = OrderedDict()


def _encoded(text: str) -> bytes:
    """``text`` as JSON bytes, encoded once while it stays among the last few used."""
    key = id(text)
    hit = _cache.get(key)
    if hit is not None and hit[0] is text:
        _cache.move_to_end(key)
        return hit[1]
    encoded = _dumps(text).encode()
    _cache[key] = (text, encoded)
    if len(_cache) > _KEPT:
        _cache.popitem(last=False)
    return encoded
