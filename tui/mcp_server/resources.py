"""Past sessions as MCP resources: ``kanjian://session/ID`` is the session as Markdown.

The Markdown is memory's own export (:func:`kanjian.memory.export.session_markdown`); its
images link to ``kanjian://image/SHA256``, and reading a session returns those images too, as
blob contents with their own URIs, so a client gets the conversation and what it looked at in
one read. Each image can also be read on its own.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from typing import TYPE_CHECKING

from mcp import types

from kanjian.agent.errors import InputError

if TYPE_CHECKING:
    from kanjian.agent.api import Kanjian
    from kanjian.memory.api import Memory
    from kanjian.memory.records import SessionRecord

__all__ = ["TEMPLATES", "list_sessions", "read_resource"]

SESSION_PREFIX = "kanjian://session/"
IMAGE_PREFIX = "kanjian://image/"
# The newest sessions are listed; older ones stay readable through the template.
LIST_LIMIT = 200

TEMPLATES = [
    types.ResourceTemplate(
        uriTemplate=SESSION_PREFIX + "{id}",
        name="session",
        description="A past kanjian conversation as Markdown, with the images it used.",
        mimeType="text/markdown",
    ),
    types.ResourceTemplate(
        uriTemplate=IMAGE_PREFIX + "{sha256}",
        name="image",
        description="An image kanjian stored, by the sha256 of its bytes.",
    ),
]


async def list_sessions(kanjian: Kanjian) -> list[types.Resource]:
    memory = await kanjian.memory()
    if memory is None:
        return []
    sessions = await memory.list_sessions(LIST_LIMIT)
    return [
        types.Resource(
            uri=f"{SESSION_PREFIX}{s.id}",
            name=s.id,
            title=s.title or None,
            description=f"{s.turn_count} turn(s), last {_iso(s.updated)}",
            mimeType="text/markdown",
        )
        for s in sessions
    ]


async def read_resource(
    kanjian: Kanjian, uri: str
) -> list[types.TextResourceContents | types.BlobResourceContents]:
    memory = await kanjian.memory()
    if memory is None:
        raise InputError(
            f"Cannot read {uri!r}: memory is off (memory.enabled = false or it failed to open)."
        )
    if uri.startswith(SESSION_PREFIX):
        return await _session(memory, uri.removeprefix(SESSION_PREFIX))
    if uri.startswith(IMAGE_PREFIX):
        return [await _image(memory, uri.removeprefix(IMAGE_PREFIX))]
    raise InputError(
        f"Unknown resource {uri!r}; kanjian serves {SESSION_PREFIX}ID and {IMAGE_PREFIX}SHA256."
    )


async def _session(
    memory: Memory, session_id: str
) -> list[types.TextResourceContents | types.BlobResourceContents]:
    from kanjian.memory.export import session_markdown

    record = await memory.get_session(session_id)
    shas = _image_shas(record)
    markdown = session_markdown(record, {sha: f"{IMAGE_PREFIX}{sha}" for sha in shas})
    text = types.TextResourceContents(
        uri=f"{SESSION_PREFIX}{session_id}",
        mimeType="text/markdown",
        text=markdown,
    )
    images = [await _image(memory, sha) for sha in shas]
    return [text, *images]


def _image_shas(record: SessionRecord) -> list[str]:
    seen: dict[str, None] = {}
    for turn in record.turns:
        for ref in turn.images:
            seen.setdefault(ref.sha256, None)
    return list(seen)


async def _image(memory: Memory, sha256: str) -> types.BlobResourceContents:
    try:
        stored = memory.image(sha256)
        data = await asyncio.to_thread(stored.path.read_bytes)
    except Exception as exc:
        raise InputError(f"There is no stored image {sha256!r} ({exc}).") from exc
    mime = mimetypes.guess_type(stored.path.name)[0] or "application/octet-stream"
    return types.BlobResourceContents(
        uri=f"{IMAGE_PREFIX}{sha256}",
        mimeType=mime,
        blob=base64.b64encode(data).decode("ascii"),
    )


def _iso(ts: float) -> str:
    from kanjian.memory.records import iso

    return iso(ts)
