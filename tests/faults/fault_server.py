"""A misbehaving OpenAI-compatible server on 127.0.0.1, for the fault suite.

Unlike :class:`kanjian.vlm.fake_server.ScriptedServer` (a well-behaved SGLang stand-in),
this one speaks raw HTTP/1.1 over asyncio streams, so it can do what a real broken server
or proxy does: answer 429 with ``Retry-After``, burst 5xx, stall before or inside an
answer, forget ``[DONE]`` and keep the connection open, answer a stream with an HTML page,
drip its bytes one at a time, or hang up mid-answer.

Each chat request takes the next :class:`Act` from the queue (an empty queue answers
normally); ``/health``, ``/model_info`` and ``/v1/models`` always answer normally. Every
request is recorded with its arrival time, so a test can check retries and their spacing.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

__all__ = ["ANSWER", "Act", "FaultServer", "Recorded"]

ANSWER = "fine"
_REPLY = json.dumps({"thought": "", "answer": ANSWER})

Act = Callable[["_Conn"], Awaitable[None]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class _Conn:
    """One request being answered: its recorded request and the socket's writer/reader."""

    def __init__(
        self, request: Recorded, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.request = request
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def head(self, status: int, ctype: str, extra: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def whole(
        self, status: int, body: str, ctype: str = "application/json", **headers: str
    ) -> None:
        data = body.encode()
        extra = {"Content-Length": str(len(data)), **headers}
        await self.head(status, ctype, extra)
        await self.send(data)

    async def until_client_leaves(self, limit: float = 120.0) -> None:
        """Keep the connection open, sending nothing, until the client closes it."""
        try:
            async with asyncio.timeout(limit):
                while await self.reader.read(1024):
                    pass
        except (TimeoutError, ConnectionError):
            pass


def sse_events(text: str = _REPLY, *, usage: bool = True) -> list[bytes]:
    """The SSE events of a good streamed answer, without the final ``[DONE]``."""

    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        data = {"id": "c1", "object": "chat.completion.chunk", "choices": [choice]}
        return f"data: {json.dumps(data)}\n\n".encode()

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": text[i : i + 8]}) for i in range(0, len(text), 8)]
    events.append(chunk({}, "stop"))
    if usage:
        counts = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        events.append(f"data: {json.dumps({'choices': [], 'usage': counts})}\n\n".encode())
    return events


DONE = b"data: [DONE]\n\n"


# -- acts: what one chat request gets ------------------------------------------------------


def ok(text: str = _REPLY) -> Act:
    async def act(conn: _Conn) -> None:
        if not json.loads(conn.request.body or b"{}").get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            await conn.whole(200, json.dumps({"object": "chat.completion", "choices": [choice]}))
            return
        await conn.head(200, "text/event-stream")
        for event in sse_events(text):
            await conn.send(event)
        await conn.send(DONE)

    return act


def status(code: int, body: str = '{"error": {"message": "busy"}}', **headers: str) -> Act:
    async def act(conn: _Conn) -> None:
        await conn.whole(code, body, **headers)

    return act


def too_many(retry_after: str = "1") -> Act:
    return status(
        429,
        '{"error": {"message": "Too many requests, slow down"}}',
        **{"Retry-After": retry_after},
    )


def stall(seconds: float = 120.0) -> Act:
    """Accept the request, then send nothing at all."""

    async def act(conn: _Conn) -> None:
        await conn.until_client_leaves(seconds)

    return act


def stall_after_head(seconds: float = 120.0) -> Act:
    """Send the 200 and the stream headers, then nothing."""

    async def act(conn: _Conn) -> None:
        await conn.head(200, "text/event-stream")
        await conn.until_client_leaves(seconds)

    return act


def stall_mid(seconds: float = 120.0, text: str | None = None) -> Act:
    """Part of an answer (the first 16 characters, or all of ``text`` without its finish),
    then nothing, with the connection open."""

    async def act(conn: _Conn) -> None:
        await conn.head(200, "text/event-stream")
        events = sse_events()[:3] if text is None else sse_events(text)[:-2]
        for event in events:
            await conn.send(event)
        await conn.until_client_leaves(seconds)

    return act


def no_done() -> Act:
    """The whole answer, finish_reason and usage, then silence with the connection open."""

    async def act(conn: _Conn) -> None:
        await conn.head(200, "text/event-stream")
        for event in sse_events():
            await conn.send(event)
        await conn.until_client_leaves()

    return act


def html() -> Act:
    async def act(conn: _Conn) -> None:
        page = "<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
        await conn.whole(200, page, "text/html; charset=utf-8")

    return act


def drip(delay: float = 0.002) -> Act:
    """A good answer sent one byte at a time."""

    async def act(conn: _Conn) -> None:
        await conn.head(200, "text/event-stream")
        for byte in b"".join([*sse_events(), DONE]):
            await conn.send(bytes([byte]))
            await asyncio.sleep(delay)

    return act


def disconnect(after_events: int = 3) -> Act:
    """Part of an answer, then the server hangs up."""

    async def act(conn: _Conn) -> None:
        await conn.head(200, "text/event-stream")
        for event in sse_events()[:after_events]:
            await conn.send(event)
        conn.writer.transport.abort()

    return act


def echo_auth(code: int = 401) -> Act:
    """An error body quoting the request's Authorization header back (a leaky proxy)."""

    async def act(conn: _Conn) -> None:
        sent = conn.request.headers.get("authorization", "")
        await conn.whole(code, json.dumps({"error": {"message": f"bad header {sent!r}"}}))

    return act


# -- the server ---------------------------------------------------------------------------------


class FaultServer:
    """``with FaultServer() as srv: srv.play(too_many("2"), ok())`` then point kanjian at ``srv.url``."""

    def __init__(self) -> None:
        self.acts: deque[Act] = deque()
        self.requests: list[Recorded] = []
        self.context_length: int | None = None
        # What /model_info gets (None: a normal answer), e.g. stall() for a stuck server.
        self.info_act: Act | None = None
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def play(self, *acts: Act) -> None:
        self.acts.extend(acts)

    def reset(self) -> None:
        self.acts.clear()
        self.requests.clear()
        self.context_length = None
        self.info_act = None

    @property
    def chats(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def __enter__(self) -> Self:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        port = future.result(10)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            await self._answer(_Conn(request, reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _answer(self, conn: _Conn) -> None:
        path = conn.request.path
        if path.endswith("/chat/completions"):
            act = self.acts.popleft() if self.acts else ok()
            await act(conn)
        elif path in ("/model_info", "/get_model_info") and self.info_act is not None:
            await self.info_act(conn)
        elif path in ("/model_info", "/get_model_info"):
            info: dict[str, Any] = {"model_path": "fault-model", "is_generation": True}
            if self.context_length is not None:
                info["context_length"] = self.context_length
            await conn.whole(200, json.dumps(info))
        else:
            await conn.whole(200, '{"status": "ok"}')


async def _read_request(reader: asyncio.StreamReader) -> Recorded | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    first, *lines = head.decode("latin-1").split("\r\n")
    method, path, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Recorded(method, path, headers, body)
