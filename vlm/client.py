"""The HTTP client for SGLang, or any OpenAI-compatible chat server.

:class:`SGLangClient` implements :class:`vlm.types.ChatBackend` over one shared
``httpx.AsyncClient`` (injectable, for tests and for sharing a pool): chat completions,
streamed or not, ``/health`` with a bounded wait while the model loads, and ``/model_info``.
:func:`build_body` (:mod:`kanjian.vlm.request_body`) is the only place a request body is made,
so the conformance tests can check every body it makes against SGLang's own request schema.

Failures reach callers only as :mod:`kanjian.vlm.errors` exceptions, each one sentence naming
the URL and the fix, worded by :mod:`kanjian.vlm.client_errors` (httpx's exceptions never leak).
Connect errors, 5xx, 503 and 429 are retried with exponential backoff (``Retry-After``
honoured up to a cap, :mod:`kanjian.vlm.retry`); other 4xx never are, and nothing is retried
once a streamed answer has begun (the user has already seen part of it). What the server
says it serves is read by :mod:`kanjian.vlm.model_info`; the connection pool is
:class:`kanjian.vlm.pool.Pool`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

import httpx

from kanjian.vlm.client_errors import CHAT_PATH, ServerErrors
from kanjian.vlm.errors import ConfigError, ServerStarting, ServerUnreachable
from kanjian.vlm.model_info import DEFAULT_MODEL, openai_info, sglang_info
from kanjian.vlm.pacing import request_slot
from kanjian.vlm.pool import Pool
from kanjian.vlm.request_body import build_body, encode_body
from kanjian.vlm.retry import reason, retry_after, retryable, transient
from kanjian.vlm.sse import StreamDecoder, parse_usage, sse_batches
from kanjian.vlm.types import (
    ChatRequest,
    ChatResult,
    Finished,
    ModelInfo,
    StreamEvent,
    TextDelta,
    UsageReport,
)

__all__ = ["CHAT_PATH", "DEFAULT_MODEL", "DEFAULT_URL", "SGLangClient", "build_body", "encode_body"]

DEFAULT_URL = "http://127.0.0.1:30000"
# Never sleep longer than this between retries, whatever Retry-After says.
_MAX_RETRY_DELAY = 30.0
# How long to wait for the body to end after [DONE] before dropping the connection anyway,
# and for usage and [DONE] after finish_reason (a healthy server sends them at once; one
# that never sends [DONE] must not hold a finished answer for the whole read timeout).
_DRAIN_SECONDS = 1.0
_DONE_GRACE = 0.2


class SGLangClient:
    """A :class:`~vlm.types.ChatBackend` talking to an SGLang (or OpenAI-compatible) server.

    Use it as ``async with SGLangClient(url) as client: ...``, or call :meth:`aclose`.
    A client passed as ``http`` is used as is (its pool, its transport) and left open;
    the timeouts given here still apply to every request.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        model: str | None = None,
        http: httpx.AsyncClient | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = _check_url(base_url)
        self.model = model
        self.retries = _check_non_negative("retries", retries)
        self.backoff = _check_non_negative("backoff", backoff)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._errors = ServerErrors(
            self.base_url, api_key, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        self._pool = Pool(http, self._timeout)
        self._info: ModelInfo | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool, unless it was passed in (then its owner closes it)."""
        await self._pool.aclose()

    # -- chat --------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResult:
        """One whole answer to ``request``."""
        content = encode_body(self._body(request, stream=False))
        async with request_slot():
            response = await self._send("POST", CHAT_PATH, content)
        return self._chat_result(response)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """The answer to ``request`` as it is generated.

        Yields :class:`~vlm.types.TextDelta` pieces, then exactly one
        :class:`~vlm.types.Finished`, then (from servers that report it) one
        :class:`~vlm.types.UsageReport`; read to the end to get the usage. Cancelling the
        consuming task, or closing the generator, closes the HTTP stream, which tells
        the server to stop generating.
        """
        content = encode_body(self._body(request, stream=True))
        async with request_slot(), self._open_stream(CHAT_PATH, content) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                # A server that ignores "stream" and answers whole: still one answer.
                for event in await self._whole_as_events(response):
                    yield event
                return
            self._errors.check_stream_type(response)
            decoder = StreamDecoder(self.base_url, redact=self._errors.redact)
            try:
                # The events of each read together: the work is per read, not per line.
                batches = sse_batches(response.aiter_bytes())
                async for batch in batches:
                    for i, payload in enumerate(batch):
                        for event in decoder.feed(payload):
                            yield event
                        if decoder.finished or decoder.done:
                            for event in await _tail(_rest(batch[i + 1 :], batches), decoder):
                                yield event
                            return
            except httpx.TimeoutException as exc:
                raise self._errors.stream_timeout(decoder.chars) from exc
            except httpx.HTTPError as exc:
                raise decoder.cut_error(reason(exc)) from exc
            decoder.close()

    async def _whole_as_events(self, response: httpx.Response) -> list[StreamEvent]:
        try:
            await response.aread()
        except httpx.HTTPError as exc:
            self._errors.translate(exc, CHAT_PATH)
        result = self._chat_result(response)
        head: list[StreamEvent] = [TextDelta(result.text)] if result.text else []
        return [*head, Finished(result.finish_reason), UsageReport(result.usage)]

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return build_body(request, stream=stream, default_model=self.model or DEFAULT_MODEL)

    def _chat_result(self, response: httpx.Response) -> ChatResult:
        data = self._errors.json(response)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            reason = choice.get("finish_reason")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self._errors.not_a_completion(response) from None
        if not isinstance(text, str):
            raise self._errors.not_a_completion(response)
        model = data.get("model")
        return ChatResult(
            text=text,
            finish_reason=reason if reason is None else str(reason),
            usage=parse_usage(data.get("usage")),
            model=model if isinstance(model, str) else None,
        )

    # -- health and model info -------------------------------------------------------------

    async def health(self) -> Literal["ok", "starting"]:
        """``"ok"`` when the server serves, ``"starting"`` while it loads the model (503).

        Servers without ``/health`` (some OpenAI-compatible ones) are asked ``/v1/models``.
        """
        path = "/health"
        response = await self._request("GET", path, None)
        if response.status_code == 404:
            path = "/v1/models"
            response = await self._request("GET", path, None)
        if response.status_code == 503:
            return "starting"
        self._errors.raise_for_status(response, "GET", path, attempts=1)
        return "ok"

    async def wait_until_healthy(
        self,
        *,
        budget: float = 600,
        on_progress: Callable[[str], None] | None = None,
        interval: float = 2.0,
        until_listening: bool = False,
    ) -> None:
        """Poll ``/health`` until the server serves, for at most ``budget`` seconds.

        ``on_progress`` gets one message per poll while the model loads. With
        ``until_listening`` a refused connection also counts as "still starting" (for
        callers that have just launched the server); otherwise it fails at once.
        """
        start = time.monotonic()
        while True:
            state = await self._health_or_starting(until_listening)
            waited = time.monotonic() - start
            if state == "ok":
                return
            if waited >= budget:
                raise ServerStarting(
                    f"The model server at {self.base_url!r} was still starting after "
                    f"{waited:.0f} s (the wait budget is {budget:g} s); wait longer, or "
                    "check the server's log for a failed model load.",
                    status=503,
                )
            if on_progress is not None:
                on_progress(
                    f"Waiting for the model server at {self.base_url!r} to finish loading "
                    f"the model ({waited:.0f} s of at most {budget:g} s)…"
                )
            await asyncio.sleep(min(interval, max(budget - waited, 0.0)))

    async def _health_or_starting(self, until_listening: bool) -> Literal["ok", "starting"]:
        try:
            return await self.health()
        except ServerUnreachable:
            if until_listening:
                return "starting"
            raise

    async def model_info(self) -> ModelInfo:
        """What the server serves: ``/model_info``, else ``/get_model_info``, else ``/v1/models``.

        Asked once per client: the agent (constraints), the image budget and batch all want
        it, and a server does not change its model under a running client.
        """
        if self._info is None:
            self._info = await self._fetch_model_info()
        return self._info

    async def _fetch_model_info(self) -> ModelInfo:
        for path in ("/model_info", "/get_model_info"):
            response = await self._send("GET", path, None, missing_ok=True)
            if response.status_code != 404:
                data = self._errors.json(response)
                info = sglang_info(data)
                break
        else:
            data = self._errors.json(await self._send("GET", "/v1/models", None))
            info = openai_info(data)
        if info is None:
            raise self._errors.bad_info(data)
        return info

    # -- transport: retries, status and error translation --------------------------------

    async def _send(
        self, method: str, path: str, content: bytes | None, *, missing_ok: bool = False
    ) -> httpx.Response:
        """A whole response, after retrying dropped connections, 5xx and 503."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(method, path, content)
            except httpx.HTTPError as exc:
                if transient(exc) and attempt <= self.retries:
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                self._errors.translate(exc, path)
            if retryable(response.status_code) and attempt <= self.retries:
                await asyncio.sleep(self._delay(attempt, response))
                continue
            if not (missing_ok and response.status_code == 404):
                self._errors.raise_for_status(response, method, path, attempts=attempt)
            return response

    async def _request(self, method: str, path: str, content: bytes | None) -> httpx.Response:
        """One attempt, httpx errors translated (for polls that do their own retrying)."""
        try:
            return await self._attempt(method, path, content)
        except httpx.HTTPError as exc:
            self._errors.translate(exc, path)

    async def _attempt(self, method: str, path: str, content: bytes | None) -> httpx.Response:
        return await self._pool.client().request(
            method, self.base_url + path, content=content, headers=self._headers,
            timeout=self._timeout,
        )  # fmt: skip

    @asynccontextmanager
    async def _open_stream(self, path: str, content: bytes) -> AsyncIterator[httpx.Response]:
        """A streaming response with status 200; retries only before any byte of the answer."""
        http = self._pool.client()
        request = http.build_request(
            "POST", self.base_url + path, content=content, headers=self._headers,
            timeout=self._timeout,
        )  # fmt: skip
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await http.send(request, stream=True)
            except httpx.HTTPError as exc:
                if transient(exc) and attempt <= self.retries:
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                self._errors.translate(exc, path)
            try:
                if response.status_code != 200:
                    await response.aread()
                if retryable(response.status_code) and attempt <= self.retries:
                    await asyncio.sleep(self._delay(attempt, response))
                    continue
                self._errors.raise_for_status(response, "POST", path, attempts=attempt)
                yield response
                return
            except httpx.HTTPError as exc:
                self._errors.translate(exc, path)
            finally:
                # Closing a stream not read to the end drops the connection, which is how
                # the server learns that nobody is listening any more (cancellation).
                await response.aclose()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay: float = self.backoff * 2 ** (attempt - 1)
        if response is not None:
            delay = max(delay, retry_after(response.headers.get("Retry-After")))
        return min(delay, _MAX_RETRY_DELAY)


async def _tail(payloads: AsyncIterator[str], decoder: StreamDecoder) -> list[StreamEvent]:
    """What follows the answer's finish_reason: the usage, then ``[DONE]``.

    A server that sent the whole answer but never ends the stream (no ``[DONE]``, the
    connection kept open) has finished all the same: the usage is awaited for at most
    ``_DRAIN_SECONDS``, and ``[DONE]`` after it for ``_DONE_GRACE`` (a healthy server sends
    both at once; reading ``[DONE]`` keeps the connection for the next request). The events
    are gathered, not yielded, so the time limits never cover the consumer's time.
    """
    events: list[StreamEvent] = []
    with suppress(httpx.HTTPError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS) as limit:
            while not decoder.done:
                payload = await anext(payloads, None)
                if payload is None:
                    break
                events += decoder.feed(payload)
                if any(isinstance(event, UsageReport) for event in events):
                    limit.reschedule(min(limit.when() or 0, _now() + _DONE_GRACE))
    if decoder.done:
        await _drain(payloads)
    return events


async def _rest(batch: list[str], batches: AsyncIterator[list[str]]) -> AsyncIterator[str]:
    """The payloads left in ``batch``, then those of the batches still to come."""
    for payload in batch:
        yield payload
    async for later in batches:
        for payload in later:
            yield payload


def _now() -> float:
    return asyncio.get_running_loop().time()


async def _drain(payloads: AsyncIterator[str]) -> None:
    """Read what follows ``[DONE]`` (the body's end): a response read to its end gives its
    connection back to the pool, one closed early is dropped, and a new connection per
    request costs a batch more CPU than the request itself."""
    with suppress(httpx.HTTPError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in payloads:
                pass


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"The model server URL {url!r} is not an http(s) URL with a host; "
            f"set KANJIAN_URL or pass --url like {DEFAULT_URL!r}."
        )
    return url.rstrip("/")


_Number = TypeVar("_Number", int, float)


def _check_non_negative(name: str, value: _Number) -> _Number:
    if value < 0:
        raise ConfigError(f"The client's {name} is {value!r}, but it must be 0 or more.")
    return value
