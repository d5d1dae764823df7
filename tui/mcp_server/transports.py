"""Serving an :class:`~.server.McpApp` over stdio or streamable HTTP.

stdio: the client starts ``kanjian mcp`` and speaks JSON-RPC on its stdin and stdout. Only
the protocol may use them, so while serving they move to descriptors of their own and the
standard streams point at stderr and /dev/null (see :func:`_private_channel`).

HTTP: one endpoint, ``/mcp``, served by uvicorn on 127.0.0.1 unless told otherwise. With a
token, every request must carry ``Authorization: Bearer <token>`` (checked in constant time);
DNS-rebinding protection allows only loopback Host headers when bound to loopback.
"""

from __future__ import annotations

import hmac
import io
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from kanjian.tui.mcp_server.server import McpApp

__all__ = ["ENDPOINT", "LOOPBACK", "serve_http", "serve_stdio"]

ENDPOINT = "/mcp"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Base64 images make big requests: a 4K screenshot is ~10 MB as PNG, ~14 MB encoded.
MAX_BODY = 64 * 1024 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


async def serve_stdio(app: McpApp) -> None:
    import anyio
    from mcp.server.stdio import stdio_server

    with _private_channel() as (channel_in, channel_out):
        stdin = anyio.wrap_file(channel_in)
        stdout = anyio.wrap_file(channel_out)
        await app.load()
        try:
            async with stdio_server(stdin, stdout) as (read, write):
                await app.server.run(read, write, app.server.create_initialization_options())
        finally:
            await app.aclose()


@contextmanager
def _private_channel() -> Iterator[tuple[io.TextIOWrapper, io.TextIOWrapper]]:
    """The protocol's stdin and stdout, on file descriptors of their own.

    While serving, descriptor 1 and ``sys.stdout`` point at stderr and descriptor 0 reads
    /dev/null: a plugin that prints, a C library that writes, or a child process that inherits
    the standard streams can neither corrupt the protocol nor swallow the client's messages.
    """
    sys.stdout.flush()
    saved = (os.dup(0), os.dup(1), sys.stdout)
    with open(os.dup(0), "rb") as raw_in, open(os.dup(1), "wb") as raw_out:
        channel_in = io.TextIOWrapper(raw_in, encoding="utf-8", errors="replace")
        channel_out = io.TextIOWrapper(raw_out, encoding="utf-8")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(2, 1)
        os.close(null)
        sys.stdout = sys.stderr
        try:
            yield channel_in, channel_out
        finally:
            os.dup2(saved[0], 0)
            os.dup2(saved[1], 1)
            os.close(saved[0])
            os.close(saved[1])
            sys.stdout = saved[2]
            channel_out.close()
            channel_in.close()


async def serve_http(
    app: McpApp, host: str, port: int, token: str | None, ready: Callable[[str], None]
) -> None:
    """Serve until interrupted; ``ready(url)`` is called once connections are accepted."""
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    await app.load()
    manager = StreamableHTTPSessionManager(
        app=app.server,
        security_settings=_security(host),
        max_request_body_size=MAX_BODY,
    )
    sock = _listen(host, port)
    config = uvicorn.Config(
        _Endpoint(manager, token),
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    try:
        async with manager.run():
            ready(f"http://{shown}:{bound[1]}{ENDPOINT}")
            await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()
        await app.aclose()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, so the URL is known (``port`` 0: any free one) before uvicorn runs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from kanjian.agent.errors import InputError

        raise InputError(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}); pick another port with "
            "--http PORT (0 picks a free one)."
        ) from exc
    sock.listen(512)
    return sock


def _security(host: str) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    if host not in LOOPBACK:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


class _Endpoint:
    """The ASGI app: ``/mcp`` (bearer token checked first), 404 elsewhere."""

    def __init__(self, manager: StreamableHTTPSessionManager, token: str | None) -> None:
        self._manager = manager
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].rstrip("/") != ENDPOINT:
            await _reply(send, 404, f"Not found; the MCP endpoint is {ENDPOINT}.")
            return
        if self._token is not None and not self._authorized(scope):
            await _reply(
                send,
                401,
                "Missing or wrong bearer token; send 'Authorization: Bearer <token>' with the "
                "token kanjian mcp was started with (--token or KANJIAN_MCP_TOKEN).",
                [(b"www-authenticate", b'Bearer realm="kanjian"')],
            )
            return
        await self._manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

    def _authorized(self, scope: Scope) -> bool:
        assert self._token is not None
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _, given = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    given.strip(), self._token
                )
        return False


async def _reply(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
