"""The client's failures, each one sentence that names the server, what it did and the fix.

:class:`ServerErrors` turns what :class:`kanjian.vlm.client.SGLangClient` meets (an httpx
exception, an error status, a body that is not JSON, a web page where a stream was due) into
:mod:`kanjian.vlm.errors` exceptions; httpx's own exceptions never leak past the client. The API key
is blanked out of any server text quoted in an error, since some proxies echo the request's
headers back.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import httpx

from kanjian.vlm.errors import (
    AuthError,
    BadRequestError,
    ServerError,
    ServerHTTPError,
    ServerTimeout,
    ServerUnreachable,
)
from kanjian.vlm.retry import connect_failure, phrase, reason, status_hint
from kanjian.vlm.sse import error_message, excerpt

__all__ = ["CHAT_PATH", "ServerErrors"]

CHAT_PATH = "/v1/chat/completions"
# Content types of web pages: a proxy's login or error page, or a wrong port, not a stream.
_PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/xml")


class ServerErrors:
    """The errors about one server, worded with its URL, timeouts and (hidden) API key."""

    def __init__(
        self, url: str, api_key: str | None, *, connect_timeout: float, read_timeout: float
    ) -> None:
        self.url = url
        self.api_key = api_key or None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def redact(self, text: str) -> str:
        """``text`` without the API key (a server or proxy may echo the Authorization header)."""
        return text.replace(self.api_key, "***") if self.api_key else text

    def json(self, response: httpx.Response) -> Any:
        """The body of ``response`` as JSON, or a ServerHTTPError saying it is not JSON."""
        try:
            return json.loads(response.content)
        except ValueError:
            raise ServerHTTPError(
                f"The model server at {self.url!r} answered {response.request.url.path} "
                f"with {excerpt(self.redact(response.text))!r}, which is not JSON; check that "
                "the URL points at an OpenAI-compatible server such as SGLang.",
                status=response.status_code,
                body=response.text,
            ) from None

    def check_stream_type(self, response: httpx.Response) -> None:
        """A web page (a proxy's login or error page, a wrong port) is not a stream."""
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in _PAGE_TYPES:
            raise ServerHTTPError(
                f"The server at {self.url!r} answered the chat request with a {kind} "
                "page (content-type), so it is not an OpenAI-compatible API; check that the "
                "URL points at the model server (SGLang) and not at a web page or proxy.",
                status=response.status_code,
            )

    def not_a_completion(self, response: httpx.Response) -> ServerHTTPError:
        return ServerHTTPError(
            f"The model server at {self.url!r} answered {CHAT_PATH} with "
            f"{excerpt(self.redact(response.text))!r}, which is not a chat completion; check "
            "that the URL points at an OpenAI-compatible server such as SGLang.",
            status=response.status_code,
            body=response.text,
        )

    def stream_timeout(self, chars: int) -> ServerTimeout:
        return ServerTimeout(
            f"The model server at {self.url!r} sent nothing for {self.read_timeout:g} s "
            f"in the middle of an answer (after {chars} characters); it may be "
            "overloaded or stuck: retry, or raise the read timeout."
        )

    def bad_info(self, data: Any) -> ServerHTTPError:
        return ServerHTTPError(
            f"The model server at {self.url!r} described its model as "
            f"{excerpt(json.dumps(data))!r}, which names no model; check that the URL points "
            "at an OpenAI-compatible server such as SGLang.",
            status=200,
            body=json.dumps(data),
        )

    def raise_for_status(
        self, response: httpx.Response, method: str, path: str, *, attempts: int
    ) -> None:
        """Raise the error an HTTP error status means (401/403, 400/422, the rest)."""
        status = response.status_code
        if status < 400:
            return
        body = self.redact(response.text)
        if status in (401, 403):
            raise AuthError(self._auth_message(status, body), status=status, body=body)
        if status in (400, 422):
            raise BadRequestError(
                f"The model server at {self.url!r} rejected the request with {status} "
                f"{phrase(status)}: {error_message(body)!r}; fix the request (message, "
                "image or parameters) it names.",
                status=status,
                body=body,
            )
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        raise ServerHTTPError(
            f"The model server at {self.url!r} answered {method} {path} with {status} "
            f"{phrase(status)}{tried}: {error_message(body)!r}; {status_hint(status)}.",
            status=status,
            body=body,
        )

    def _auth_message(self, status: int, body: str) -> str:
        sent = "rejected the API key it was sent" if self.api_key else "needs an API key"
        return (
            f"The model server at {self.url!r} {sent} ({status} {phrase(status)}: "
            f"{error_message(body)!r}); set KANJIAN_API_KEY to the key the server was "
            "started with (its --api-key)."
        )

    def translate(self, exc: httpx.HTTPError, path: str) -> NoReturn:
        """Raise the :mod:`kanjian.vlm.errors` twin of an httpx error."""
        url = self.url
        if isinstance(exc, httpx.ConnectTimeout):
            raise ServerTimeout(
                f"Connecting to the model server at {url!r} took longer than "
                f"{self.connect_timeout:g} s; check that the host is up and reachable, or "
                "raise the connect timeout."
            ) from exc
        if isinstance(exc, httpx.TimeoutException):
            raise ServerTimeout(
                f"The model server at {url!r} did not answer {path} within "
                f"{self.read_timeout:g} s; it may be overloaded or stuck: retry, or raise "
                "the read timeout."
            ) from exc
        if connect_failure(exc):
            raise ServerUnreachable(
                f"Cannot reach the model server at {url!r}: {reason(exc)}. Start it with "
                "`kanjian serve-model`, or set KANJIAN_URL / pass --url."
            ) from exc
        raise ServerError(
            f"The connection to the model server at {url!r} broke during {path}: "
            f"{reason(exc)}; retry, and check the server's log if it happens again."
        ) from exc
