"""When a failed delivery is tried again, and when it is given up (pure).

Argo's webhook service retries inside the request (go-retryablehttp: `retryMax` 3,
waits from `retryWaitMin` 1s doubling up to `retryWaitMax` 5s; connection errors, 429
and 5xx other than 501 are retried, other answers are not). We keep those settings and
that classification but retry from the controller: a failed attempt is recorded on the
object (`state`), a timer wakes the object again after the delay, and no worker sleeps.

    after_attempt(policy, attempt=0, retryable=True)  -> Decision(RETRY, 1.0)
    after_attempt(policy, attempt=1, retryable=True)  -> Decision(RETRY, 2.0)
    after_attempt(policy, attempt=2, retryable=True)  -> Decision(RETRY, 4.0)
    after_attempt(policy, attempt=3, retryable=True)  -> Decision(GIVE_UP, 0.0)
    after_attempt(policy, attempt=0, retryable=False) -> Decision(GIVE_UP, 0.0)

`attempt` counts from 0 (the first try); with `retryMax: 3` a notification is tried at
most four times.

Neighbours: `services` builds a `RetryPolicy` per service; `plan.settle` asks
`after_attempt` for each failed delivery; the delay is `rollouts.runtime.retry`'s
`backoff_delay` (a pure module the import contract lets this one use).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rollouts.runtime.retry import backoff_delay

__all__ = ["Decision", "RetryPolicy", "Verdict", "after_attempt", "retryable_status"]


@dataclass(frozen=True)
class RetryPolicy:
    wait_min: float = 1.0
    wait_max: float = 5.0
    retry_max: int = 3


class Verdict(Enum):
    RETRY = "retry"
    GIVE_UP = "give-up"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay: float


def after_attempt(policy: RetryPolicy, attempt: int, *, retryable: bool) -> Decision:
    """What follows failed attempt number `attempt` (0-based)."""
    if not retryable or attempt >= policy.retry_max:
        return Decision(Verdict.GIVE_UP, 0.0)
    # The controllers' doubling backoff; `attempt` comes from an annotation anyone may
    # write, so a negative count reads as the first.
    delay = backoff_delay(max(attempt, 0), base_delay=policy.wait_min, max_delay=policy.wait_max)
    return Decision(Verdict.RETRY, delay)


def retryable_status(status: int) -> bool:
    """Whether an HTTP answer with `status` is worth trying again (go-retryablehttp's rule:
    429 and 5xx except 501 Not Implemented)."""
    return status == 429 or (status >= 500 and status != 501)
