"""Retry policy as pure functions: (error, attempt) -> (action, delay).

Errors carry their own policy: `rollouts.kube` maps HTTP failures onto exceptions with
a `temporary: bool` attribute (409 Conflict, 5xx, timeouts are temporary; 403, 404, 422
are not). `is_temporary` reads only that attribute, and treats an exception without it
(a bug, an unexpected library error) as temporary, so that a crash in one reconcile is
retried with backoff instead of silently dropping the object.

`WorkQueue.add_rate_limited` and the `Manager`'s workers both use these functions, so
the delay a log line reports is the delay the queue applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_MAX_DELAY",
    "RetryAction",
    "RetryDecision",
    "backoff_delay",
    "is_temporary",
    "retry_decision",
]

DEFAULT_BASE_DELAY = 0.05
"""Seconds before the first retry of a key (client-go's default item rate limiter)."""

DEFAULT_MAX_DELAY = 60.0
"""Longest wait between retries of one key, however often it failed."""


class RetryAction(StrEnum):
    """What to do with a key whose reconcile failed."""

    RETRY = "retry"
    DROP = "drop"

    @property
    def retries(self) -> bool:
        return self is RetryAction.RETRY


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """The verdict for one failure: retry after `delay_seconds`, or drop (delay 0)."""

    action: RetryAction
    delay_seconds: float


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


def retry_decision(
    temporary: bool,
    attempt: int,
    *,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
) -> RetryDecision:
    """Decide what follows a failed reconcile.

    - why retry: a temporary error (API server down, conflict) heals by itself;
      back off exponentially per key so a broken object cannot hot-loop.
    - why drop: a permanent error (forbidden, invalid) fails the same way every time;
      the next change to the object (a watch event) enqueues it again anyway.
    """
    if not temporary:
        return RetryDecision(RetryAction.DROP, 0.0)
    return RetryDecision(
        RetryAction.RETRY, backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay)
    )


def is_temporary(error: BaseException) -> bool:
    """True unless the error says `temporary = False` (unknown errors are retried)."""
    return bool(getattr(error, "temporary", True))
