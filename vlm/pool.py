"""The client's connection pool: the caller's httpx client, or our own over aiohttp.

Kept apart from :mod:`kanjian.vlm.transport` (the aiohttp transport itself) so that importing
the client does not import the transport until the first request needs it.
"""

from __future__ import annotations

import httpx

__all__ = ["Pool"]


class Pool:
    """The client's HTTP client: the caller's as is, or our own, made on first use.

    Our own sends through :class:`kanjian.vlm.transport.AiohttpTransport`: httpx's native
    transport costs several times the CPU per request, and httpcore scans its whole pool for
    every request, so hundreds of connections made a batch CPU-bound in the client.
    """

    def __init__(self, http: httpx.AsyncClient | None, timeout: httpx.Timeout) -> None:
        self._given = http
        self._timeout = timeout
        self._own: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        if self._own is None:
            self._own = _new_http_client(self._timeout)
        return self._own

    async def aclose(self) -> None:
        """Close our own client; one passed in is its owner's to close."""
        own, self._own = self._own, None
        if own is not None:
            await own.aclose()


def _new_http_client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    # Batches run hundreds of requests at once: no cap on connections (the transport's).
    # Idle connections expire before uvicorn's 5 s keep-alive (SGLang's server) closes them,
    # so a request rarely lands on a connection the server is closing. Proxy variables are
    # ignored (trust_env=False): the model server is local or on the LAN, and a stray
    # HTTP_PROXY would otherwise swallow 127.0.0.1; pass http= to use a proxy.
    from kanjian.vlm.transport import AiohttpTransport

    transport = AiohttpTransport(keepalive_expiry=4.0)
    return httpx.AsyncClient(timeout=timeout, transport=transport, trust_env=False)
