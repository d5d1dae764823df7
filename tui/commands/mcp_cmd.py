"""``kanjian mcp``: serve kanjian's tools, ``ask`` and past sessions over MCP.

stdio by default (the client starts this command); ``--http PORT`` serves streamable HTTP at
``http://127.0.0.1:PORT/mcp`` instead (``--http 0`` picks a free port and prints the URL on
stderr). See docs/mcp.md for client configs.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["register"]

TOKEN_ENV = "KANJIAN_MCP_TOKEN"
CONCURRENCY_ENV = "KANJIAN_MCP_CONCURRENCY"
DEFAULT_CONCURRENCY = 8


def mcp(
    http: Annotated[
        int | None,
        typer.Option(
            "--http",
            metavar="PORT",
            help="Serve streamable HTTP on PORT (0: a free one) instead of stdio.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on with --http.")
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help=f"With --http, require 'Authorization: Bearer TOKEN' (or set {TOKEN_ENV}).",
        ),
    ] = None,
    builtin_only: Annotated[
        bool, typer.Option("--builtin-only", help="Serve only the built-in tools, no plugins.")
    ] = False,
    allow_effects: Annotated[
        bool,
        typer.Option(
            "--allow-effects",
            help="Also serve tools with side effects (and let ask use them without asking).",
        ),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            help=f"Calls served at once; more wait (default {DEFAULT_CONCURRENCY}, "
            f"or {CONCURRENCY_ENV}).",
        ),
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Model server URL.")] = None,
    no_memory: Annotated[
        bool, typer.Option("--no-memory", help="No memory: no recall, no memory_search.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each call on stderr.")
    ] = False,
) -> None:
    """Serve kanjian to other agents over MCP (stdio, or streamable HTTP with --http)."""
    from kanjian.tui.runner import fail, run

    token = token or os.environ.get(TOKEN_ENV) or None
    slots = _concurrency(concurrency)
    if http is not None and not 0 <= http <= 65535:
        fail(f"--http {http} is not a port; give 0–65535 (0 picks a free port).")
    if http is None and token:
        fail(
            "--token applies to --http only; a stdio server is private to the client that starts it."
        )
    if http is not None and host not in _loopback() and not token:
        fail(
            f"--host {host!r} is reachable from other machines; set a bearer token with --token "
            f"or {TOKEN_ENV}, or keep the default host 127.0.0.1."
        )
    _logging(verbose)
    flags: dict[str, object] = {"vlm.url": url}
    if no_memory:
        flags["memory.enabled"] = False
    run(_serve(flags, http, host, token, builtin_only, allow_effects, slots))


def _concurrency(value: int | None) -> int:
    from kanjian.tui.runner import fail

    if value is None:
        text = os.environ.get(CONCURRENCY_ENV, str(DEFAULT_CONCURRENCY))
        try:
            value = int(text)
        except ValueError:
            fail(f"{CONCURRENCY_ENV}={text!r} is not a number; set a whole number such as 8.")
    if value < 1:
        fail(f"Concurrency {value} is too small; serve at least 1 call at a time.")
    return value


def _loopback() -> tuple[str, ...]:
    from kanjian.tui.mcp_server.transports import LOOPBACK

    return LOOPBACK


def _logging(verbose: bool) -> None:
    import logging
    import sys

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="kanjian mcp: %(message)s",
    )
    if verbose:
        logging.getLogger("kanjian.mcp").setLevel(logging.INFO)


async def _serve(
    flags: dict[str, object],
    http: int | None,
    host: str,
    token: str | None,
    builtin_only: bool,
    allow_effects: bool,
    concurrency: int,
) -> None:
    from kanjian.agent.config import load_settings
    from kanjian.tui.mcp_server import McpApp, ServeOptions, serve_http, serve_stdio

    settings = load_settings(flags)
    options = ServeOptions(builtin_only, allow_effects, concurrency)
    app = McpApp(settings, options)
    if http is None:
        await serve_stdio(app)
        return

    def ready(endpoint: str) -> None:
        guarded = " (bearer token required)" if token else ""
        typer.echo(f"kanjian mcp: serving {endpoint}{guarded}; Ctrl-C stops it.", err=True)

    await serve_http(app, host, http, token, ready)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
