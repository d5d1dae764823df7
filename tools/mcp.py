"""MCP servers' tools, mounted through ``langchain-mcp-adapters``.

Configured in ``config.toml``, one table per server::

    [tools.mcp.files]                       # stdio: kanjian starts the server
    command = "uvx"
    args = ["mcp-server-filesystem", "/home/me/notes"]
    env = ["NOTES_TOKEN"]                   # names only; values come from kanjian's env

    [tools.mcp.search]                      # streamable HTTP: the server already runs
    url = "http://127.0.0.1:8765/mcp"
    transport = "streamable_http"
    side_effects = false

A stdio server gets a minimal environment: ``PATH``, ``HOME``, ``LANG`` (plus the few harmless
names the MCP SDK always adds: ``LOGNAME``, ``SHELL``, ``TERM``, ``USER``) and only the
variables its ``env`` lists. Nothing else from kanjian's environment (API keys, tokens) reaches
it. MCP tools count as having side effects unless the server's config says
``side_effects = false``.

The adapter opens a fresh session for each call, so the tools listed here work from any
event loop.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from kanjian.tools.errors import PluginLoadError

if TYPE_CHECKING:
    from kanjian.tools.registry import ToolRegistry
    from kanjian.tools.settings import McpServer

__all__ = ["BASE_ENV", "connection_for", "load_mcp_tools", "minimal_env"]

# What every stdio server sees, whatever its config says: enough to find programs and a home.
BASE_ENV = ("PATH", "HOME", "LANG")


def minimal_env(names: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """``BASE_ENV`` plus ``names``, taken from ``environ`` (default: this process's)."""
    source = dict(os.environ) if environ is None else environ
    env: dict[str, str] = {}
    for name in (*BASE_ENV, *names):
        value = source.get(name)
        if value is None:
            continue
        if "${" in value:
            # The adapter expands ${VAR} in values from kanjian's own environment, which would
            # smuggle an unlisted variable through.
            raise PluginLoadError(
                f"Environment variable {name!r} holds {'${'!r}, which the MCP adapter would "
                "expand from kanjian's environment; remove the reference from its value."
            )
        env[name] = value
    return env


def connection_for(name: str, server: McpServer) -> dict[str, Any]:
    """The ``langchain-mcp-adapters`` connection dict for one configured server."""
    if server.transport == "stdio":
        if not server.command:
            raise PluginLoadError(
                f"MCP server {name!r} uses transport 'stdio' but has no command; set "
                f"command = ... in [tools.mcp.{name}], or give a url and transport."
            )
        return {
            "transport": "stdio",
            "command": server.command,
            "args": list(server.args),
            "env": minimal_env(server.env),
        }
    if not server.url:
        raise PluginLoadError(
            f"MCP server {name!r} uses transport {server.transport!r} but has no url; set "
            f'url = "http://..." in [tools.mcp.{name}].'
        )
    return {"transport": server.transport, "url": server.url}


def load_mcp_tools(name: str, server: McpServer, registry: ToolRegistry) -> None:
    """List the server's tools and add them to ``registry`` (runs its own event loop)."""
    from kanjian.tools.langchain_tools import from_langchain

    connection = connection_for(name, server)
    lc_tools = asyncio.run(_list_tools(name, connection))
    for lc_tool in lc_tools:
        registry.add(from_langchain(lc_tool, side_effects=server.side_effects))


async def _list_tools(name: str, connection: dict[str, Any]) -> list[Any]:
    from langchain_mcp_adapters.client import MultiServerMCPClient

    client = MultiServerMCPClient({name: connection})  # type: ignore[dict-item]
    try:
        return await client.get_tools(server_name=name)
    except Exception as exc:
        raise PluginLoadError(
            f"MCP server {name!r} did not list its tools ({_reason(exc)}); check its "
            f"command or url in [tools.mcp.{name}]."
        ) from exc


def _reason(exc: BaseException) -> str:
    # anyio wraps failures in exception groups; the first leaf says what happened.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
