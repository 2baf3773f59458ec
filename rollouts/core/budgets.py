"""maxSurge / maxUnavailable resolved against a replica count: pure arithmetic.

Both strategies use them: canary for every scaling step, blue-green for restarts and
the Available condition (its new ReplicaSet is always scaled up in full).
"""

from __future__ import annotations

import math


def resolve_int_or_percent(value: int | str, total: int, *, round_up: bool) -> int:
    """Kubernetes' int-or-percent: `25%` of total, rounded up (surge) or down."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%"):
        share = total * int(text[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(text)


def surge_and_unavailable(
    max_surge: int | str, max_unavailable: int | str, total: int
) -> tuple[int, int]:
    """Resolved (maxSurge, maxUnavailable); both zero is not allowed, so unavailable is 1."""
    surge = resolve_int_or_percent(max_surge, total, round_up=True)
    unavailable = resolve_int_or_percent(max_unavailable, total, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable
