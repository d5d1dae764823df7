"""When the client tries again, and how it names what went wrong (status phrases, reasons).

Kept apart from :mod:`kanjian.vlm.client` so the policy reads in one place: connect errors
and connections dropped before an answer are transient; 5xx and 429 are worth another try,
each after at least what ``Retry-After`` asks (delta-seconds or an HTTP date); timeouts are
not retried (a server slow once is slow again, and the user already waited).
"""

from __future__ import annotations

import errno
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import httpx

__all__ = [
    "connect_failure",
    "phrase",
    "reason",
    "retry_after",
    "retryable",
    "status_hint",
    "transient",
]


def retryable(status: int) -> bool:
    """5xx, and 429 (busy: SGLang's and proxies' rate limit), are worth another try."""
    return status >= 500 or status == HTTPStatus.TOO_MANY_REQUESTS


def retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); 0 if none."""
    if not value:
        return 0.0
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(when.timestamp() - time.time(), 0.0)


def status_hint(status: int) -> str:
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return (
            "the server is busy (rate limited) and stayed busy through the retries: wait a "
            "moment and retry, or lower the concurrency (batch -c)"
        )
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        return "it may still be loading the model: wait, or run `kanjian doctor`"
    return "check the URL and the server's log"


def connect_failure(exc: httpx.HTTPError) -> bool:
    return isinstance(exc, httpx.ConnectError)


def transient(exc: httpx.HTTPError) -> bool:
    """A failure before any answer arrived that another attempt may not meet.

    Refused connects, and connections the server dropped without answering (a server
    restarting, or a keep-alive connection it closed just as it was reused). Generating
    is free of side effects, so asking again is safe. Timeouts are not retried: a server
    that is slow once is slow again, and the user has already waited the whole timeout.
    """
    return isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError)


def reason(exc: httpx.HTTPError) -> str:
    """A short human reason for a transport error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "refused" in text or "errno 111" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "the host name does not resolve"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection"
    return str(exc) or type(exc).__name__


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"
