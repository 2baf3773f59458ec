"""Retry policy as pure functions: (error kind, attempt) -> delay.

Errors carry their own policy: `rollouts.kube` maps HTTP failures onto exceptions with
a `temporary: bool` attribute (409 Conflict, 5xx, timeouts are temporary; 403, 404, 422
are not). `error_kind` reads only that attribute, and treats an exception without it
(a bug, an unexpected library error) as temporary, so that a crash in one reconcile is
retried with backoff instead of silently dropping the object.

Both kinds are retried; only the pace differs (`retry_delay`):

- temporary (API server down, conflict): it heals by itself, so retry soon, doubling
  per failure: 0.05 s, 0.1 s, ... capped at 60 s (client-go's item rate limiter);
- permanent (forbidden, invalid): it fails the same way until someone changes the
  object *or the world* (RBAC is fixed, a missing CRD is installed). Dropping the key
  would leave the object stalled until its next edit, so it is retried slowly:
  30 s, 60 s, 120 s, ... capped at 10 minutes.

`WorkQueue.add_rate_limited` and the `Manager`'s workers both use `retry_delay`, so
the delay a log line reports is the delay the queue applies.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_MAX_DELAY",
    "PERMANENT_BASE_DELAY",
    "PERMANENT_MAX_DELAY",
    "ErrorKind",
    "backoff_delay",
    "error_kind",
    "is_temporary",
    "retry_delay",
]

DEFAULT_BASE_DELAY = 0.05
"""Seconds before the first retry after a temporary error (client-go's default)."""

DEFAULT_MAX_DELAY = 60.0
"""Longest wait between retries of one key after temporary errors, however many."""

PERMANENT_BASE_DELAY = 30.0
"""Seconds before the first retry after a permanent error (403, 404, 422)."""

PERMANENT_MAX_DELAY = 600.0
"""Longest wait between retries of one key after permanent errors (10 minutes)."""


class ErrorKind(StrEnum):
    """How a failed reconcile is retried: soon (`temporary`) or slowly (`permanent`)."""

    TEMPORARY = "temporary"
    PERMANENT = "permanent"


def backoff_delay(
    attempt: int,
    *,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    `base_delay * 2**attempt`, capped at `max_delay`. With the defaults:
    attempt 0 -> 0.05 s, 1 -> 0.1 s, 2 -> 0.2 s, ..., 10 -> 51.2 s, 11 and later -> 60 s.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if attempt >= 64:  # 2**64 * base is far beyond any sane cap; avoid float overflow
        return max_delay
    return float(min(base_delay * (2**attempt), max_delay))


def retry_delay(
    kind: ErrorKind,
    attempt: int,
    *,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    permanent_base_delay: float = PERMANENT_BASE_DELAY,
    permanent_max_delay: float = PERMANENT_MAX_DELAY,
) -> float:
    """Seconds before retry number `attempt` (0-based, counted per kind) of a key.

    Temporary: `backoff_delay(attempt)` (0.05 s doubling to 60 s). Permanent: 30 s,
    60 s, 120 s, 240 s, 480 s, then 600 s for every later attempt.
    """
    if kind is ErrorKind.PERMANENT:
        return backoff_delay(attempt, base_delay=permanent_base_delay,
                             max_delay=permanent_max_delay)
    return backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay)


def error_kind(error: BaseException) -> ErrorKind:
    """Permanent if the error says `temporary = False`; anything else is temporary."""
    return ErrorKind.TEMPORARY if is_temporary(error) else ErrorKind.PERMANENT


def is_temporary(error: BaseException) -> bool:
    """True unless the error says `temporary = False` (unknown errors are retried)."""
    return bool(getattr(error, "temporary", True))
