"""An httpx transport over aiohttp: httpx's API and errors, aiohttp's speed.

:class:`vlm.client.SGLangClient` speaks httpx everywhere (requests, responses, the error
translation, tests that inject a transport). httpx's own transport, httpcore on anyio,
costs about 1.3 ms of CPU per request on this project's 2-core machines, against 0.2 ms
for aiohttp (``/tmp`` measurements: 500 requests, 32 at a time, to a 200 ms server), and at
``kanjian batch -c 32`` that was a fifth of a worker's CPU per task. So the client's own
pool sends through aiohttp, and everything above the transport stays httpx.

aiohttp's failures are mapped to the httpx exceptions that mean the same, because
:mod:`kanjian.vlm.client` turns those into its one-sentence errors: a refused connect is a
``ConnectError`` (with the ``OSError`` kept as the cause), a connection the server dropped
before answering or in the middle of a body a ``RemoteProtocolError``, a stalled read a
``ReadTimeout``. (The ``httpx-aiohttp`` package maps a dropped connection to a connect
timeout, which would tell the user the wrong story, hence this module.)

A response body that is not read to its end closes its connection instead of returning it
to the pool: that is how a server learns that a cancelled answer has nobody listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one aiohttp session per event loop (made on first use)."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, keepalive_expiry: float = 4.0
    ) -> None:
        # None: aiohttp's default verified context, made only when an https URL needs it.
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._keepalive = keepalive_expiry
        # aiohttp sessions belong to the loop they were made on; a client used from a
        # second loop (a script's private loop in a thread) gets a session of its own.
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp

        session = self._session()
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _mapped_errors():
            response = await session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()

    def _session(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for gone in [old for old in self._sessions if old.is_closed()]:
                _abandon(self._sessions.pop(gone))
            connector = aiohttp.TCPConnector(
                limit=0,  # no cap: a batch may have hundreds of requests in flight
                keepalive_timeout=self._keepalive,
                ssl=self._ssl,
            )
            # Compressed bodies are left to httpx, which decodes by Content-Encoding.
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, trust_env=False
            )
            self._sessions[loop] = session
        return session


def _abandon(session: aiohttp.ClientSession) -> None:
    """Forget a session whose event loop has ended (a script that ran ``asyncio.run`` twice
    with one client): it can no longer be closed properly, so it and its connector are only
    marked closed; otherwise each prints "Unclosed client session" when collected."""
    connector = session.connector
    session.detach()
    if connector is not None:
        with contextlib.suppress(Exception):
            connector._close()  # on an ended loop this only marks it closed


class _Body(httpx.AsyncByteStream):
    """An aiohttp response body as httpx reads it: chunks as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # read to the end: the connection is reused
        else:
            self._response.close()  # dropped: the server sees the client leave


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Re-raise aiohttp's exceptions as the httpx ones that mean the same."""
    import aiohttp

    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError("the server closed the connection") from exc
    except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
