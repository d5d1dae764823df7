"""The ``[tools]`` settings section: the tools package's own, read by :mod:`kanjian.agent.config`.

``tools`` sits below ``agent``, so it declares what it needs here and never imports the
agent's settings: :func:`~kanjian.tools.registry.load_tools` takes anything with a ``tools``
section and a ``plugin_dir`` (:class:`ToolConfig`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["McpServer", "ToolConfig", "ToolSettings"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class McpServer(_Section):
    # stdio: command + args (+ env names passed through); http: url.
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    # Names of environment variables the server may see; nothing else is passed.
    env: list[str] = Field(default_factory=list)
    url: str | None = None
    transport: Literal["stdio", "streamable_http", "sse"] = "stdio"
    side_effects: bool = True


class ToolSettings(_Section):
    plugin_dir: str | None = None
    disabled: list[str] = Field(default_factory=list)
    mcp: dict[str, McpServer] = Field(default_factory=dict)
    # Seconds a plugin may take to import and register; a slower one is skipped, with a warning.
    load_timeout: float = Field(20.0, gt=0)
    # Characters of a tool's output the model reads; the whole output is kept on disk.
    output_limit: int = Field(16_000, ge=1_000)


class ToolConfig(Protocol):
    """What loading the tools needs from the settings (``kanjian.agent.config.Settings``)."""

    @property
    def tools(self) -> ToolSettings: ...

    @property
    def plugin_dir(self) -> Path: ...
