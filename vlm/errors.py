"""Errors raised by `vlm`, the package that talks to the model.

Every message is one sentence a person can act on: it names the value with ``!r``, the
rule it broke and the fix. Third-party errors (httpx, PIL, transformers) are translated at
the boundary with ``raise ... from exc``; callers never see them.

The tree, split by who must act (``exit_code`` is what the CLI exits with):

    KanjianError                  base of every kanjian error, in every package (exit_code)
    └── VLMError                  base of everything raised here
    ├── InputError (2)            the user must act: bad input, bad config
    │   ├── ImageError            missing, empty, corrupt, truncated, too large, not an image
    │   └── ConfigError           a setting that cannot work (bad URL, bad tile rule)
    ├── ServerError (1)           infrastructure: the model server or the transport
    │   ├── ServerUnreachable     nothing listens at the URL (connect refused, DNS)
    │   ├── ServerStarting        /health answers 503 past the wait budget
    │   ├── ServerTimeout         connect or read timed out
    │   ├── AuthError             401/403: the API key is missing or wrong
    │   ├── BadRequestError       400/422: the server rejected the request; carries its body
    │   ├── ServerHTTPError       any other HTTP status; carries status and body
    │   └── StreamError           the stream broke: cut mid-answer, malformed chunk, error event
    ├── ModelOutputError (1)      the model answered, but not in the required format
    └── BackendError (1)          the local transformers backend cannot run
        └── ModelNotFound (2)     no local checkpoint, and it cannot be downloaded offline
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BackendError",
    "BadRequestError",
    "ConfigError",
    "ImageError",
    "InputError",
    "KanjianError",
    "ModelNotFound",
    "ModelOutputError",
    "ServerError",
    "ServerHTTPError",
    "ServerStarting",
    "ServerTimeout",
    "ServerUnreachable",
    "StreamError",
    "VLMError",
]


class KanjianError(Exception):
    """Base of every error kanjian raises on purpose, whichever package raises it.

    ``str(err)`` is one sentence a person can act on, and ``exit_code`` is what the CLI exits
    with (2: bad usage or input; 1: the task failed). It lives here because `vlm` is the
    bottom layer: `tools`, `memory` and `agent` all derive their errors from it.
    """

    exit_code: int = 1


class VLMError(KanjianError):
    """Base of every error raised by `vlm`. ``str(err)`` is one clear sentence."""

    exit_code: int = 1


class InputError(VLMError):
    """The user must act: the input or the configuration cannot work."""

    exit_code = 2


class ImageError(InputError):
    """An image that cannot be used: missing, empty, corrupt, truncated, too large."""


class ConfigError(InputError):
    """A setting that cannot work."""


class ServerError(VLMError):
    """The model server, or the way to it, failed."""

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class ServerUnreachable(ServerError):
    """Nothing answers at the configured URL."""


class ServerStarting(ServerError):
    """The server is up but still loading the model (``/health`` is 503)."""


class ServerTimeout(ServerError):
    """Connecting or reading took longer than the configured timeout."""


class AuthError(ServerError):
    """The server refused the API key (401/403)."""


class BadRequestError(ServerError):
    """The server rejected the request as invalid (400/422)."""


class ServerHTTPError(ServerError):
    """Any other non-success HTTP status."""


class StreamError(ServerError):
    """A streamed answer broke off, carried a malformed chunk, or reported an error."""


class ModelOutputError(VLMError):
    """The model's output did not follow the required format, even after a retry."""

    def __init__(self, message: str, *, output: str | None = None):
        super().__init__(message)
        self.output = output


class BackendError(VLMError):
    """The local transformers backend cannot run."""


class ModelNotFound(BackendError):
    """No local checkpoint is available and none can be downloaded."""

    exit_code = 2
