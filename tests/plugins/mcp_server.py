"""A tiny real MCP server (FastMCP) for the tests: stdio by default, HTTP with a port."""

from __future__ import annotations

import os
import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("kanjian-test")


@server.tool()
def read_env(name: str) -> str:
    """The value of an environment variable in the server's process, or <unset>."""
    return os.environ.get(name, "<unset>")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail(message: str) -> str:
    """Always fails with the message."""
    raise ValueError(message)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        server.settings.port = int(sys.argv[1])
        server.settings.log_level = "WARNING"
        server.run(transport="streamable-http")
    else:
        server.run()
