"""``kanjian mcp``: kanjian as an MCP server for other agents (Claude Code, Codex CLI, gptme,
LangChain apps).

    server.py      McpApp: the low-level MCP Server, its handlers, errors as tool errors
    toolset.py     which tools are served (registry + memory_search) and how a call runs
    inputs.py      images as clients send them (path, data: URL, base64) and tool schemas
    ask.py         the ``ask`` tool: a whole agent run through the Python API
    resources.py   past sessions as ``kanjian://session/ID`` (Markdown + images)
    transports.py  stdio and streamable HTTP (bearer token, loopback by default)

Everything here uses the public API (:class:`kanjian.agent.api.Kanjian`, the tool registry,
memory); no tool logic is duplicated.
"""

from __future__ import annotations

from kanjian.tui.mcp_server.server import McpApp, ServeOptions
from kanjian.tui.mcp_server.transports import serve_http, serve_stdio

__all__ = ["McpApp", "ServeOptions", "serve_http", "serve_stdio"]
