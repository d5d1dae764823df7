"""A scripted, OpenAI-compatible model server on 127.0.0.1, for tests, benchmarks and plugins.

:class:`ScriptedServer` is a real HTTP server (uvicorn, in a background thread with its own
event loop) that speaks SGLang's dialect of the OpenAI API: ``/v1/chat/completions``
streamed and not, ``/health``, ``/model_info``, ``/get_model_info`` and ``/v1/models``. What
it answers is scripted, so tests are deterministic and need no GPU::

    with ScriptedServer() as srv:
        srv.enqueue("Hello!")                                # the next answer
        srv.enqueue(Reply(text="partial", cut_after=1))      # a stream cut mid-answer
        client = SGLangClient(srv.url)
        ...
        srv.requests[-1].json["messages"]                    # what the client sent

Answers come from the queue first, then from ``responder(request_json)`` (a function of
the request returning a :class:`Reply` or a string; it may be async and runs on the server's
event loop), else the server answers 400 saying that nothing was scripted.

It streams the way SGLang does: a role chunk, the text in small content chunks, a separate
``finish_reason`` chunk, a usage chunk with ``choices: []`` when the request asked for
``stream_options.include_usage``, then ``data: [DONE]``. Unless a reply says otherwise,
usage is estimated (about four characters per token) and ``cached_tokens`` comes from a
paged prefix cache over the serialised messages of earlier requests, so benchmarks see
prefix-cache hits the way a real server reports them.

Run as a process for end-to-end tests::

    python -m vlm.fake_server --port 8000 --script replies.json [--latency S] [--token-delay S]

``replies.json`` is a JSON list of replies (strings, or objects with :class:`Reply`'s
fields), used in order; once it is used up the last one repeats. Without ``--script`` the
server echoes the text of the last user message. The server prints its URL when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import inspect
import json
import math
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeAlias

from vlm.types import Usage

__all__ = ["RecordedRequest", "Reply", "Responder", "ScriptedServer", "main"]

# ASGI in three aliases; the server is a bare ASGI app so it controls disconnects exactly.
Scope: TypeAlias = dict[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[dict[str, Any]]]
Send: TypeAlias = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_MODEL = "OpenGVLab/InternVL-Chat-V1-5"
# Characters per estimated token, and tokens per prefix-cache page (SGLang's page is 1-64).
CHARS_PER_TOKEN = 4
PAGE_TOKENS = 16
_ROLES = frozenset({"system", "user", "assistant"})


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

    def __init__(self, page_chars: int = PAGE_TOKENS * CHARS_PER_TOKEN) -> None:
        self._page = page_chars
        self._seen: set[bytes] = set()

    def match_and_insert(self, prompt: str) -> int:
        """Characters of ``prompt`` (whole pages) already seen at the start of an earlier one."""
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


class ScriptedServer:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 whose answers are scripted.

    Use it as a context manager (``with``, or ``async with`` inside a running loop), or
    call :meth:`start` and :meth:`stop`. ``srv.requests`` records every request (unless
    ``record=False``; ``srv.request_count`` counts them anyway), and ``srv.disconnects`` the
    paths of requests whose client went away before the answer ended.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        model: str = DEFAULT_MODEL,
        latency: float = 0.0,
        token_delay: float = 0.0,
        api_key: str | None = None,
        starting_polls: int | None = 0,
        missing: Iterable[str] = (),
        owned_by: str = "sglang",
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_size: int = 4,
        record: bool = True,
    ) -> None:
        self.responder = responder
        self.model = model
        self.latency = latency
        self.token_delay = token_delay
        self.api_key = api_key
        # /health answers 503 for this many polls, then 200; None: starting for ever.
        self.starting_polls = starting_polls
        # Paths that answer 404 (to test fallbacks such as /model_info → /v1/models).
        self.missing = set(missing)
        self.owned_by = owned_by
        self.chunk_size = chunk_size
        # Long benchmarks with images would keep every body; they can turn recording off.
        self.record = record
        self.request_count = 0
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[str] = []
        self._queue: deque[Reply] = deque()
        self._cache = PrefixCache()
        self._settings = self._current_settings()
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None

    # -- scripting and inspection -------------------------------------------------------

    def enqueue(self, *replies: Reply | str) -> None:
        """Queue answers for the next chat requests, in order."""
        self._queue.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def reset(self) -> None:
        """Forget the queue, the records and the prefix cache; restore the settings it was
        made with. Lets one server serve many tests (starting one costs a fraction of a second).
        """
        self._queue.clear()
        self.request_count = 0
        self.requests.clear()
        self.disconnects.clear()
        self._cache = PrefixCache()
        for name, value in self._settings.items():
            setattr(self, name, set(value) if isinstance(value, frozenset) else value)

    def _current_settings(self) -> dict[str, Any]:
        return {
            "responder": self.responder,
            "latency": self.latency,
            "token_delay": self.token_delay,
            "api_key": self.api_key,
            "starting_polls": self.starting_polls,
            "missing": frozenset(self.missing),
        }

    @property
    def url(self) -> str:
        if self._thread is None:
            raise RuntimeError("ScriptedServer.url is known once the server started; use `with`.")
        return f"http://{self._host}:{self._port}"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``/v1/chat/completions`` requests."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a port, start serving in a background thread, return when it accepts."""
        import uvicorn  # Lazy: only tests and benchmarks need a server.

        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when
        # it sees that proto, and without it Nagle + delayed ACK add 40 ms to every answer.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            lifespan="off",
            # uvicorn's own log is silenced: scripted cuts and hangs would read as errors there.
            # Exceptions in the app itself are still printed (see _app).
            log_config=None,
            log_level="critical",
            access_log=False,
            backlog=4096,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"ScriptedServer:{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        # uvicorn flips `started` once it accepts; a thread that died will never flip it.
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        if self._failure is not None or not self._server.started:
            raise RuntimeError(f"ScriptedServer failed to start: {self._failure!r}")
        return self

    def stop(self) -> None:
        """Stop serving: hanging and slow answers end at once, then the thread exits."""
        if self._thread is None or self._server is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._server.should_exit = True
        self._thread.join(30)

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        except BaseException as exc:  # Reported by start(); a thread has nobody else to tell.
            self._failure = exc
        finally:
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- the ASGI app ------------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.request_count += 1
        if self.record:
            self.requests.append(
                RecordedRequest(
                    scope["method"], path, headers, _maybe_json(body), body, scope.get("client")
                )
            )
        exchange = _Exchange(send, receive, self._stopping)
        try:
            await self._route(scope["method"], path, headers, body, exchange)
        except Exception:
            # A bug in a responder or here: show it, since uvicorn's log is off; the client
            # gets uvicorn's 500.
            traceback.print_exc()
            raise
        finally:
            if exchange.watcher_done() and not exchange.completed:
                self.disconnects.append(path)
            exchange.close()

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes, ex: _Exchange
    ) -> None:
        if path in self.missing:
            await ex.json(404, {"detail": "Not Found"})
        elif self.api_key and path != "/health" and not self._authorized(headers):
            await ex.json(401, {"error": "Unauthorized"})
        elif (method, path) == ("GET", "/health"):
            await ex.raw(self._health_status(), b"", "text/plain")
        elif method == "GET" and path in ("/model_info", "/get_model_info"):
            await ex.json(200, self._model_info())
        elif (method, path) == ("GET", "/v1/models"):
            await ex.json(200, self._models())
        elif (method, path) == ("POST", "/v1/chat/completions"):
            await self._chat(body, ex)
        else:
            await ex.json(404, {"detail": "Not Found"})

    def _authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.api_key}"

    def _health_status(self) -> int:
        if self.starting_polls is None:
            return 503
        if self.starting_polls > 0:
            self.starting_polls -= 1
            return 503
        return 200

    def _model_info(self) -> dict[str, Any]:
        return {
            "model_path": self.model,
            "served_model_name": self.model,
            "tokenizer_path": self.model,
            "is_generation": True,
            "preferred_sampling_params": None,
            "weight_version": "default",
            "has_image_understanding": True,
            "has_audio_understanding": False,
            "model_type": "internvl_chat",
            "architectures": ["InternVLChatModel"],
        }

    def _models(self) -> dict[str, Any]:
        card = {
            "id": self.model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": self.owned_by,
            "root": self.model,
            "parent": None,
            "max_model_len": 8192,
        }
        return {"object": "list", "data": [card]}

    # -- chat completions ----------------------------------------------------------------

    async def _chat(self, body: bytes, ex: _Exchange) -> None:
        request = _maybe_json(body)
        problem = _invalid_chat(request)
        if problem is not None:
            await ex.json(400, error_body(problem, 400))
            return
        reply = await self._next_reply(request)
        if reply is None:
            message = "ScriptedServer has no reply scripted: enqueue one or pass responder="
            await ex.json(400, error_body(message, 400))
            return
        if reply.hang:
            await ex.until_gone()
            return
        if not await ex.sleep(self.latency if reply.delay is None else reply.delay):
            return
        if reply.status != 200 or reply.body is not None:
            await ex.send_body(reply.status, reply.body, reply.headers)
        elif request.get("stream"):
            await self._stream(request, reply, ex)
        elif reply.error is not None:
            await ex.json(500, error_body(reply.error, 500))
        elif reply.cut_after is not None:
            await ex.cut(_dumps(self._completion(request, reply)).encode(), reply.cut_after)
        else:
            await ex.json(200, self._completion(request, reply), reply.headers)

    async def _next_reply(self, request: dict[str, Any]) -> Reply | None:
        if self._queue:
            return self._queue.popleft()
        if self.responder is None:
            return None
        answer = self.responder(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return Reply(text=answer) if isinstance(answer, str) else answer

    def _usage(self, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt = json.dumps(request.get("messages"), ensure_ascii=False, separators=(",", ":"))
        cached = self._cache.match_and_insert(prompt) // CHARS_PER_TOKEN
        usage = reply.usage or Usage(
            prompt_tokens=math.ceil(len(prompt) / CHARS_PER_TOKEN),
            completion_tokens=len(split_text(reply.text, self.chunk_size)),
            cached_tokens=min(cached, max(math.ceil(len(prompt) / CHARS_PER_TOKEN) - 1, 0)),
        )
        if reply.cached_tokens is not None:
            usage = dataclasses.replace(usage, cached_tokens=reply.cached_tokens)
        return {
            "prompt_tokens": usage.prompt_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "completion_tokens": usage.completion_tokens,
            "prompt_tokens_details": (
                {"cached_tokens": usage.cached_tokens} if usage.cached_tokens else None
            ),
            "reasoning_tokens": 0,
        }

    def _completion(self, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message = {"role": "assistant", "content": reply.text, "reasoning_content": None}
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": reply.finish_reason,
            "matched_stop": None,
        }
        return {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "default"),
            "choices": [choice],
            "usage": self._usage(request, reply),
            "metadata": None,
        }

    async def _stream(self, request: dict[str, Any], reply: Reply, ex: _Exchange) -> None:
        chunk = _ChunkMaker(_completion_id(), str(request.get("model", "default")))
        delay = self.token_delay if reply.token_delay is None else reply.token_delay
        pieces = split_text(reply.text, self.chunk_size)
        await ex.start(200, "text/event-stream", reply.headers)
        await ex.event(chunk.make({"role": "assistant", "content": ""}))
        if not pieces and reply.malformed is not None:
            await ex.event(reply.malformed)
        for index, piece in enumerate(pieces[: _pieces_to_send(reply, len(pieces))]):
            if not await ex.sleep(delay):
                return
            await ex.event(chunk.make({"content": piece}))
            if index == 0 and reply.malformed is not None:
                await ex.event(reply.malformed)
        if reply.cut_after is not None:
            return  # Returning mid-body makes uvicorn drop the connection: a cut stream.
        if reply.error is not None:
            await ex.event(json.dumps({"error": error_body(reply.error, 500)}))
        else:
            await ex.event(chunk.make({}, finish_reason=reply.finish_reason))
            if (request.get("stream_options") or {}).get("include_usage"):
                await ex.event(chunk.usage(self._usage(request, reply)))
        await ex.finish()


def _pieces_to_send(reply: Reply, total: int) -> int:
    if reply.cut_after is not None:
        return min(reply.cut_after, total)
    if reply.error is not None and reply.error_after is not None:
        return min(reply.error_after, total)
    return total


class _ChunkMaker:
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
        return _dumps({**self._head, "choices": [choice]})

    def usage(self, usage: dict[str, Any]) -> str:
        return _dumps({**self._head, "choices": [], "usage": usage})


class _Exchange:
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
            await asyncio.wait([self._gone, self._stop_future()], timeout=seconds)
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
        await self.raw(status, _dumps(data).encode(), "application/json", headers)

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


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _completion_id() -> str:
    return uuid.uuid4().hex


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(parts)


def _maybe_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _invalid_chat(request: Any) -> str | None:
    """Why SGLang would reject this chat request (a small, useful subset of its checks)."""
    if not isinstance(request, dict):
        return "The request body is not a JSON object."
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required (a non-empty list)."
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            return f"Unsupported message role {role!r}: this model takes system, user, assistant."
    if sum(request.get(key) is not None for key in ("response_format", "regex", "ebnf")) > 1:
        return "Only one of regex, json_schema, or EBNF can be set."
    return None


# -- running as a process -------------------------------------------------------------------


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


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vlm.fake_server",
        description="A scripted OpenAI-compatible (SGLang-like) model server on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", help="JSON list of replies; the last repeats (default: echo)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per piece")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--starting-polls", type=int, default=0, help="/health 503s first")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, after printing the URL on its own line."""
    args = _parse_args(argv)
    try:
        responder: Responder = ScriptResponder(load_script(args.script)) if args.script else echo
    except ValueError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    server = ScriptedServer(
        responder,
        model=args.model,
        latency=args.latency,
        token_delay=args.token_delay,
        api_key=args.api_key,
        starting_polls=args.starting_polls,
        host=args.host,
        port=args.port,
        record=False,  # Nobody can read the records of a separate process.
    )
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with server:
        print(server.url, flush=True)
        while not done.wait(0.2):
            pass
    sys.exit(0)


if __name__ == "__main__":
    main()
