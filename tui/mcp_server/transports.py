"""Serving an :class:`~.server.McpApp` over stdio or streamable HTTP.

stdio: the client starts ``kanjian mcp`` and speaks JSON-RPC on its stdin and stdout. Only
the protocol may reach stdout, so while serving, ``sys.stdout`` is pointed at stderr: a plugin
that prints cannot corrupt the channel.

HTTP: one endpoint, ``/mcp``, served by uvicorn on 127.0.0.1 unless told otherwise. With a
token, every request must carry ``Authorization: Bearer <token>`` (checked in constant time);
DNS-rebinding protection allows only loopback Host headers when bound to loopback.
"""

from __future__ import annotations

import hmac
import json
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
    import io

    import anyio
    from mcp.server.stdio import stdio_server

    stdin = anyio.wrap_file(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    stdout = anyio.wrap_file(io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))
    with _stdout_to_stderr():
        await app.load()
        try:
            async with stdio_server(stdin, stdout) as (read, write):
                await app.server.run(read, write, app.server.create_initialization_options())
        finally:
            await app.aclose()


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved


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
