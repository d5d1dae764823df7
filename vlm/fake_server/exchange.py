"""One HTTP exchange of the scripted server, in bare ASGI, and SGLang-shaped stream chunks.

The server is a bare ASGI app (no framework) so that it controls exactly when the answer
starts, pauses, breaks off, and notices that the client went away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

__all__ = ["ChunkMaker", "Exchange", "Receive", "Scope", "Send", "dumps", "maybe_json", "read_body"]

# ASGI in three aliases.
Scope: TypeAlias = dict[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[dict[str, Any]]]
Send: TypeAlias = Callable[[dict[str, Any]], Awaitable[None]]


class ChunkMaker:
    """Stream chunks shaped like SGLang's (``sse_utils.build_sse_content``)."""

    def __init__(self, chunk_id: str, model: str) -> None:
        self._head = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def make(self, delta: dict[str, Any], *, finish_reason: str | None = None) -> str:
        choice = {
            "index": 0,
            "delta": {"reasoning_content": None, **delta},
            "logprobs": None,
            "finish_reason": finish_reason,
            "matched_stop": None,
        }
        return dumps({**self._head, "choices": [choice]})

    def usage(self, usage: dict[str, Any]) -> str:
        return dumps({**self._head, "choices": [], "usage": usage})


class Exchange:
    """One request's response side: sending, and noticing that the client went away.

    uvicorn's ``receive()`` returns ``http.disconnect`` once the client disconnects (or
    once the response is complete, which ``completed`` tells apart), so one pending
    ``receive()`` per request is the disconnect signal that sleeps and hangs wait on.
    """

    def __init__(self, send: Send, receive: Receive, stopping: asyncio.Event | None) -> None:
        self._send = send
        self._gone: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(receive())
        self._stopping = stopping
        self._stop_wait: asyncio.Future[Any] | None = None
        self.completed = False

    def watcher_done(self) -> bool:
        return self._gone.done() and not self._gone.cancelled()

    def close(self) -> None:
        self._gone.cancel()
        if self._stop_wait is not None:
            self._stop_wait.cancel()

    def _stop_future(self) -> asyncio.Future[Any]:
        if self._stop_wait is None:
            stopping = self._stopping or asyncio.Event()
            self._stop_wait = asyncio.ensure_future(stopping.wait())
        return self._stop_wait

    async def sleep(self, seconds: float) -> bool:
        """Wait, unless the client leaves or the server stops; True when still wanted."""
        if seconds > 0 and not self._gone.done():
            await asyncio.wait(
                [self._gone, self._stop_future()],
                timeout=seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        return not self._gone.done() and not (self._stopping and self._stopping.is_set())

    async def until_gone(self) -> None:
        await asyncio.wait([self._gone, self._stop_future()], return_when=asyncio.FIRST_COMPLETED)

    async def start(self, status: int, content_type: str, headers: dict[str, str]) -> None:
        raw = [(b"content-type", content_type.encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await self._send({"type": "http.response.start", "status": status, "headers": raw})

    async def raw(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        # A Content-Length (as SGLang's JSON answers have) lets uvicorn send it in one write.
        await self.start(
            status, content_type, {**(headers or {}), "content-length": str(len(body))}
        )
        self.completed = True
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def cut(self, body: bytes, keep: int) -> None:
        """Start a whole answer, send ``keep`` bytes of it, then drop the connection."""
        await self.start(200, "application/json", {"content-length": str(len(body))})
        await self._send({"type": "http.response.body", "body": body[:keep], "more_body": True})
        # Returning now, mid-body, makes uvicorn close the connection.

    async def json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        await self.raw(status, dumps(data).encode(), "application/json", headers)

    async def send_body(
        self, status: int, body: str | dict[str, Any] | None, headers: dict[str, str]
    ) -> None:
        if isinstance(body, dict):
            await self.json(status, body, headers)
        else:
            await self.raw(status, (body or "").encode(), "text/plain; charset=utf-8", headers)

    async def event(self, data: str) -> None:
        await self._send(
            {"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True}
        )

    async def finish(self) -> None:
        self.completed = True
        await self._send(
            {"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False}
        )


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(parts)


def maybe_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
