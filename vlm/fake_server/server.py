"""The scripted server: uvicorn in a background thread, routing, chat completions."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import math
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from kanjian.vlm.fake_server.exchange import (
    ChunkMaker,
    Exchange,
    Receive,
    Scope,
    Send,
    dumps,
    maybe_json,
    read_body,
)
from kanjian.vlm.fake_server.script import (
    CHARS_PER_TOKEN,
    DEFAULT_MODEL,
    PrefixCache,
    RecordedRequest,
    Reply,
    Responder,
    error_body,
    split_text,
)
from kanjian.vlm.types import Usage

__all__ = ["ScriptedServer"]

_ROLES = frozenset({"system", "user", "assistant"})


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
        body = await read_body(receive)
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.request_count += 1
        if self.record:
            self.requests.append(
                RecordedRequest(
                    scope["method"], path, headers, maybe_json(body), body, scope.get("client")
                )
            )
        exchange = Exchange(send, receive, self._stopping)
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
        self, method: str, path: str, headers: dict[str, str], body: bytes, ex: Exchange
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

    async def _chat(self, body: bytes, ex: Exchange) -> None:
        request = maybe_json(body)
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
            await ex.cut(dumps(self._completion(request, reply)).encode(), reply.cut_after)
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

    async def _stream(self, request: dict[str, Any], reply: Reply, ex: Exchange) -> None:
        chunk = ChunkMaker(_completion_id(), str(request.get("model", "default")))
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


def _completion_id() -> str:
    return uuid.uuid4().hex


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
