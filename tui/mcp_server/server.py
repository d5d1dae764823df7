"""The MCP server: kanjian's tools, ``ask`` and past sessions, on MCP's low-level Server.

The low-level :class:`mcp.server.lowlevel.Server` rather than FastMCP, because kanjian's tools
already carry JSON schemas (a registry, plugins included): FastMCP would want Python
signatures. The SDK handles each request in its own task, so one client's calls run
concurrently; :class:`McpApp` bounds how many run at once (``concurrency``).

Errors: a failing call is an MCP tool error (``isError``) whose text is one sentence (a bad
image path, the model server down, a bad argument), never a dead server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mcp import types
from mcp.server.lowlevel import Server

from kanjian.tui.mcp_server.ask import ASK_TOOL, Progress, run_ask
from kanjian.tui.mcp_server.resources import TEMPLATES, list_sessions, read_resource
from kanjian.tui.mcp_server.toolset import (
    KanjianBackend,
    composed,
    exposed_tools,
    mcp_tool,
    run_tool,
)

if TYPE_CHECKING:
    from kanjian.agent.api import Kanjian
    from kanjian.agent.config import Settings
    from kanjian.tools.base import Tool
    from kanjian.tools.registry import PluginProblem

__all__ = ["McpApp", "ServeOptions", "describe_error"]

log = logging.getLogger("kanjian.mcp")

INSTRUCTIONS = (
    "kanjian sees images. Use `ask` for questions about images (it plans its own OCR, "
    "grounding, zoom and math), or call `ocr`, `ground`, `zoom` and `math` directly. Images "
    "are file paths on the server's machine, data: URLs or base64 bytes. Past conversations "
    "are resources kanjian://session/ID."
)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    builtin_only: bool = False
    allow_effects: bool = False
    # Calls served at once; more wait their turn (the model server has its own limits).
    concurrency: int = 8


class McpApp:
    """One kanjian (settings, backend, memory, tools) served as one MCP server."""

    def __init__(self, settings: Settings, options: ServeOptions) -> None:
        self.settings = settings
        self.options = options
        # As loaded (the agent behind ask composes its own), and through the tool pipeline.
        self.tools: dict[str, Tool] = {}
        self._calls: dict[str, Tool] = {}
        self.problems: list[PluginProblem] = []
        self._kanjian: Kanjian | None = None
        self._slots = asyncio.Semaphore(max(1, options.concurrency))
        self.server: Server[Any, Any] = self._build()

    @property
    def kanjian(self) -> Kanjian:
        if self._kanjian is None:
            raise RuntimeError("McpApp.load() must run before the server serves.")
        return self._kanjian

    async def load(self) -> None:
        """Load the tools (plugins included); the agent behind ``ask`` gets the same set."""
        from kanjian.agent.api import Kanjian

        tools, self.problems = await exposed_tools(
            self.settings,
            lambda: self.kanjian,
            builtin_only=self.options.builtin_only,
            allow_effects=self.options.allow_effects,
        )
        for tool in tools:
            if tool.name == ASK_TOOL.name:
                log.warning("%s: its tool 'ask' is hidden by kanjian's own ask.", tool.source)
        self.tools = {t.name: t for t in tools if t.name != ASK_TOOL.name}
        allow = self.options.allow_effects
        self._calls = {
            n: composed(t, self.settings, allow_effects=allow) for n, t in self.tools.items()
        }
        # Side-effect tools reach the agent only with --allow-effects, which approves them:
        # an MCP server has nobody to ask.
        approve: Literal["always", "never"] = "always" if self.options.allow_effects else "never"
        self._kanjian = Kanjian(self.settings, approve=approve, tools=list(self.tools.values()))
        for problem in self.problems:
            log.warning("%s: %s", problem.source, problem.message)

    async def aclose(self) -> None:
        if self._kanjian is not None:
            await self._kanjian.aclose()

    def _build(self) -> Server[Any, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            own_version = version("kanjian")
        except PackageNotFoundError:
            own_version = "0"
        server: Server[Any, Any] = Server("kanjian", version=own_version, instructions=INSTRUCTIONS)
        # The SDK's decorator factories carry no annotations.
        server.list_tools()(self.list_tools)  # type: ignore[no-untyped-call]
        # Arguments are checked by kanjian (the tools' own messages name the argument and the
        # fix), not by the SDK.
        server.call_tool(validate_input=False)(self.call_tool)
        server.list_resources()(self.list_resources)  # type: ignore[no-untyped-call]
        server.list_resource_templates()(self.list_resource_templates)  # type: ignore[no-untyped-call]
        # Registered directly: the SDK's decorator would give every content the session's
        # URI, and each image has its own.
        server.request_handlers[types.ReadResourceRequest] = self._read_resource
        return server

    # -- handlers -------------------------------------------------------------------------

    async def list_tools(self) -> list[types.Tool]:
        return [ASK_TOOL, *(mcp_tool(t) for t in self.tools.values())]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        started = time.perf_counter()
        async with self._slots:
            try:
                result = await self._dispatch(name, arguments)
            except Exception as exc:
                result = _error(describe_error(exc))
        log.info("%s %.3fs%s", name, time.perf_counter() - started, " (error)" * result.isError)
        return result

    async def _dispatch(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        if name == ASK_TOOL.name:
            return await run_ask(self.kanjian, arguments, self._progress())
        tool = self._calls.get(name)
        if tool is None:
            known = ", ".join([ASK_TOOL.name, *self.tools])
            return _error(f"There is no tool {name!r}; the tools are: {known}.")
        return await run_tool(tool, arguments, KanjianBackend(self.kanjian))

    def _progress(self) -> Progress | None:
        """Progress notifications for this request, when the client asked for them."""
        request = self.server.request_context
        token = request.meta.progressToken if request.meta is not None else None
        if token is None:
            return None

        async def report(done: float, message: str) -> None:
            await request.session.send_progress_notification(
                token, done, message=message, related_request_id=str(request.request_id)
            )

        return report

    async def list_resources(self) -> list[types.Resource]:
        try:
            return await list_sessions(self.kanjian)
        except Exception as exc:
            # Listing is a convenience: a broken memory lists nothing rather than failing.
            log.warning("cannot list sessions: %s", describe_error(exc))
            return []

    async def list_resource_templates(self) -> list[types.ResourceTemplate]:
        return TEMPLATES

    async def _read_resource(self, request: types.ReadResourceRequest) -> types.ServerResult:
        from mcp.shared.exceptions import McpError

        uri = str(request.params.uri)
        try:
            contents = await read_resource(self.kanjian, uri)
        except Exception as exc:
            error = types.ErrorData(code=types.INVALID_PARAMS, message=describe_error(exc))
            raise McpError(error) from exc
        return types.ServerResult(types.ReadResourceResult(contents=list(contents)))


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], isError=True
    )


def describe_error(exc: BaseException) -> str:
    """One sentence for a client: kanjian's own errors are that already."""
    from kanjian.tui.runner import error_exit_code

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if error_exit_code(exc) is not None:
        return str(exc)
    log.exception("internal error", exc_info=exc)
    return f"kanjian failed with an internal error ({type(exc).__name__}: {exc}); please report it."
