"""Errors raised by `tools`.

ToolError                   base
├── ToolInputError (2)      the arguments are wrong (unknown image id, bad box, bad
│                           expression); the model is told and may retry
├── ToolFailed (1)          the tool ran and failed (engine crashed, timed out)
│   └── ToolTimeout         it ran past its timeout
├── ToolDefinitionError (2) a tool cannot be registered (no docstring, untyped argument)
├── PluginLoadError (1)     a plugin failed to import or register; reported and skipped
└── ApprovalDenied (1)      a side-effect tool was not approved
"""

from __future__ import annotations

from kanjian.vlm.errors import KanjianError

__all__ = [
    "ApprovalDenied",
    "PluginLoadError",
    "ToolDefinitionError",
    "ToolError",
    "ToolFailed",
    "ToolInputError",
    "ToolTimeout",
]


class ToolError(KanjianError):
    exit_code: int = 1


class ToolInputError(ToolError):
    exit_code = 2


class ToolFailed(ToolError):
    pass


class ToolTimeout(ToolFailed):
    pass


class ToolDefinitionError(ToolError):
    exit_code = 2


class PluginLoadError(ToolError):
    pass


class ApprovalDenied(ToolError):
    pass
