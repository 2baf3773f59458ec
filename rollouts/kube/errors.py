"""Errors from the API server, mapped onto a small tree that carries retry policy.

Everything `rollouts.kube` raises is a `KubeError`. Callers (the work queue's retry
policy, the CLI) read `temporary` and nothing else: a temporary error (server down, rate
limited, write conflict, stale watch) is retried after a delay; a permanent one (forbidden,
invalid object) is reported and not retried until the input changes.

| class           | HTTP                         | temporary |
| --------------- | ---------------------------- | --------- |
| `NotFound`      | 404                          | no        |
| `AlreadyExists` | 409, reason AlreadyExists    | no        |
| `Conflict`      | 409, any other reason        | yes (re-read, then retry) |
| `Gone`          | 410 (resourceVersion too old)| yes (re-list) |
| `Unauthorized`  | 401                          | yes (credentials may be rotated) |
| `Forbidden`     | 403                          | no        |
| `Invalid`       | 422 (+ `causes` per field)   | no        |
| `Unavailable`   | 5xx, 429, connection errors, timeouts | yes |
| `NotLeader`     | none: a write this replica refused to send (write fence) | yes |
| `KubeError`     | anything else (400, 405, 415 ...) | no   |

`error_from_response(status, body)` is the pure mapping from a response (the body is the
API server's `Status` object) to one of these. Messages are a single line, shortened, and
scrubbed of anything that looks like a bearer token: they go to logs, events and the CLI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AlreadyExists",
    "Conflict",
    "FieldCause",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeError",
    "NotFound",
    "NotLeader",
    "Unauthorized",
    "Unavailable",
    "error_from_response",
    "one_line",
]

_MAX_MESSAGE = 500
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_TOKEN_PARAM = re.compile(r"(?i)\b(token|password|secret)=[^&\s]+")


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace to one line, scrub credentials, shorten to `limit` characters."""
    flat = " ".join(text.split())
    flat = _BEARER.sub(r"\1 <redacted>", flat)
    flat = _TOKEN_PARAM.sub(r"\1=<redacted>", flat)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class FieldCause:
    """One field the API server rejected: `field` is its path (`spec.replicas`)."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class KubeError(Exception):
    """A failed call to the API server; `temporary` says whether retrying later may help."""

    default_temporary = False

    def __init__(
        self,
        message: str,
        status: int = 0,
        reason: str = "",
        temporary: bool | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.message = one_line(message)
        self.status = status
        self.reason = reason
        self.temporary = self.default_temporary if temporary is None else temporary
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NotFound(KubeError):
    """404: the object (or its namespace, or the kind itself) does not exist."""


class AlreadyExists(KubeError):
    """409 AlreadyExists: a create found an object of that name."""


class Conflict(KubeError):
    """409: the object changed since it was read (stale resourceVersion); re-read and retry."""

    default_temporary = True


class Gone(KubeError):
    """410: the resourceVersion asked for is too old; list again."""

    default_temporary = True


class Unauthorized(KubeError):
    """401: the credentials were refused; retried because tokens may be rotated."""

    default_temporary = True


class Forbidden(KubeError):
    """403: RBAC does not allow this call; needs a change of Role, not a retry."""


class Invalid(KubeError):
    """422: the object was refused by validation; `causes` names each rejected field."""

    def __init__(
        self,
        message: str,
        status: int = 422,
        reason: str = "Invalid",
        temporary: bool | None = None,
        *,
        causes: tuple[FieldCause, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status, reason, temporary, retry_after=retry_after)
        self.causes = causes


class Unavailable(KubeError):
    """The API server could not answer (5xx, 429, refused connection, timeout); retry later."""

    default_temporary = True


class NotLeader(KubeError):
    """A write this replica did not send: it no longer holds the leader Lease (the write
    fence of `KubeClient.fenced`). Nothing reached the API server; the new leader acts."""

    default_temporary = True


def error_from_response(status: int, body: bytes | str | dict[str, Any] | None) -> KubeError:
    """The `KubeError` for a non-2xx response; `body` is usually a `Status` object."""
    parsed = _status_object(body)
    reason = str(parsed.get("reason") or "")
    message = str(parsed.get("message") or "") or _fallback_message(status, body)
    raw_details = parsed.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    retry_after = _retry_after(details)
    if status == 404:
        return NotFound(message, status, reason or "NotFound")
    if status == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(message, status, reason)
        return Conflict(message, status, reason or "Conflict")
    if status == 410:
        return Gone(message, status, reason or "Gone")
    if status == 401:
        return Unauthorized(message, status, reason or "Unauthorized")
    if status == 403:
        return Forbidden(message, status, reason or "Forbidden")
    if status == 422:
        return Invalid(message, status, reason or "Invalid", causes=_causes(details))
    if status == 429 or status >= 500:
        return Unavailable(message, status, reason, retry_after=retry_after)
    return KubeError(message, status, reason)


def _status_object(body: bytes | str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _fallback_message(status: int, body: bytes | str | dict[str, Any] | None) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if isinstance(text, str) and text.strip():
        return f"HTTP {status}: {one_line(text, 200)}"
    return f"HTTP {status} from the API server"


def _retry_after(details: dict[str, Any]) -> float | None:
    value = details.get("retryAfterSeconds")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _causes(details: dict[str, Any]) -> tuple[FieldCause, ...]:
    raw = details.get("causes")
    if not isinstance(raw, list):
        return ()
    return tuple(
        FieldCause(
            field=str(cause.get("field") or ""),
            reason=str(cause.get("reason") or ""),
            message=one_line(str(cause.get("message") or "")),
        )
        for cause in raw
        if isinstance(cause, dict)
    )
