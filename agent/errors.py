"""Errors raised by `agent`.

    AgentError                base
    ├── ConfigError (2)       a setting cannot work (bad TOML, unknown key, invalid value)
    ├── InputError (2)        bad input to a run (unknown session id, unreadable task file)
    ├── RunCancelled (1)      the run was cancelled by the user
    └── RunFailed (1)         the run could not finish (model or server error; carries it)

Errors from `vlm` and `tools` pass through with their own types; the CLI maps any of
them to one sentence on stderr and its ``exit_code``.
"""

from __future__ import annotations

from kanjian.vlm.errors import KanjianError

__all__ = ["AgentError", "ConfigError", "InputError", "RunCancelled", "RunFailed"]


class AgentError(KanjianError):
    exit_code: int = 1


class ConfigError(AgentError):
    exit_code = 2


class InputError(AgentError):
    exit_code = 2


class RunCancelled(AgentError):
    pass


class RunFailed(AgentError):
    pass
