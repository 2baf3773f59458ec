"""How many pods the canary and the stable ReplicaSet get for a weight: pure arithmetic.

Without a traffic router, traffic follows pods, so the weight is approximated by
replica counts over `spec.replicas` (N):

    target canary  c, target total t  minimise |100 * c / t - weight|
        c in {floor(N * w / 100), ceil(N * w / 100)},  t in {N, N + 1 if maxSurge > 0}
        equally close options go to ceil, then to t = N;
        0 < c < t for 0 < w < 100, unless N == 1 and maxSurge == 0
    target stable  s = t - c

Getting there respects the surge and availability budgets:

    scale up:    room = N + maxSurge - (sum of spec.replicas of all ReplicaSets)
                 stable grows first, then the canary, each up to its target
    scale down:  only once no older ReplicaSet holds replicas;
                 budget = (pods counted available) - (N - maxUnavailable)
                 while the canary grows, the stable shrinks toward its target;
                 while it shrinks (abort), the canary shrinks toward its target;
                 then the other set is trimmed back within N + maxSurge, keeping
                 N - maxUnavailable pods available.

"Pods counted available" is a ReplicaSet's available pods, except that the set being
drained counts its `spec.replicas` (its availability must not block the drain), and a
set already above its spec counts only its spec.

Worked examples (N, weight, maxSurge, maxUnavailable; canary/stable before -> after),
all ReplicaSets fully available; each is a test in tests/unit/test_canary_replicas.py:

    10, 10%, 1, 1;  0/10 -> 1/9
    10, 30%, 3, 0;  0/10 -> 3/10     (surge first; stable shrinks when canary ready)
    10, 30%, 0, 5;  0/10 -> 0/7      (no surge: make room before adding the canary)
    10,  5%, 1, 1;  0/10 -> 1/10     (never 0 canary pods; 1/11 is nearer 5% than 1/10)
     1,  5%, 1, 0;  0/1  -> 1/1
     1, 95%, 1, 0;  0/1  -> 1/1
    10, 41%        target 4/6        (4/10 = 40% beats 5/11 = 45.5% and 5/10)

With a traffic router the router carries the weight, so the canary gets
ceil(N * weight / 100) pods and the stable stays at N (`rollouts/canary/routed.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rollouts.core.budgets import resolve_int_or_percent, surge_and_unavailable

__all__ = ["SetCounts", "basic_canary_counts", "resolve_int_or_percent", "surge_and_unavailable",
           "target_counts"]


@dataclass(frozen=True)
class SetCounts:
    """A ReplicaSet as the arithmetic sees it: desired and available pods."""

    replicas: int
    available: int


def _distance(weight: int, canary: int, total: int) -> float:
    return abs(canary * 100 / total - weight)


def target_counts(spec_replicas: int, weight: int, max_surge: int) -> tuple[int, int]:
    """(canary, stable) pod counts that best approximate `weight` over `spec_replicas`."""
    if spec_replicas == 0:
        return 0, 0
    ceil_canary = math.ceil(spec_replicas * weight / 100)
    floor_canary = math.floor(spec_replicas * weight / 100)
    zero_allowed = weight in (0, 100) or (spec_replicas == 1 and max_surge == 0)
    totals = (spec_replicas, spec_replicas + 1) if max_surge > 0 else (spec_replicas,)
    options = [
        (canary, total)
        for total in totals
        for canary in (ceil_canary, floor_canary)
        # Keep at least one pod on each side for 0 < weight < 100, except with a
        # single replica and no surge, where that cannot be done.
        if zero_allowed or (0 < canary < total)
    ]
    if not options:
        return (spec_replicas, 0) if weight >= 50 else (0, spec_replicas)
    # min() keeps the first of equally close options: ceil before floor (a tie rounds
    # the canary up) and no surge before surge.
    best = min(options, key=lambda option: _distance(weight, *option))
    return best[0], best[1] - best[0]


def _counted_for_scale_down(rs: SetCounts | None, ignore_availability: bool) -> int:
    if rs is None:
        return 0
    if rs.replicas < rs.available or ignore_availability:
        return rs.replicas
    return rs.available


def basic_canary_counts(
    *,
    spec_replicas: int,
    weight: int,
    max_surge: int,
    max_unavailable: int,
    canary: SetCounts | None,
    stable: SetCounts | None,
    older_replicas: int,
) -> tuple[int, int]:
    """Next (canary, stable) `spec.replicas` for a canary without a traffic router.

    `stable` is None when there is no stable ReplicaSet distinct from the canary: then
    the canary simply goes to `spec_replicas` (a first rollout, or a fast rollback).
    `older_replicas` is the sum of `spec.replicas` of every other ReplicaSet.
    """
    target_canary, target_stable = target_counts(spec_replicas, weight, max_surge)
    canary_count = canary.replicas if canary else 0
    stable_count = stable.replicas if stable else 0
    if stable is None:
        target_canary, target_stable = spec_replicas, 0

    max_total = spec_replicas + max_surge
    room = max_total - (older_replicas + canary_count + stable_count)
    if stable is not None and stable.replicas < target_stable and room > 0:
        stable_count = min(target_stable, stable.replicas + room)
        room -= stable_count - stable.replicas
    if canary is not None and canary.replicas < target_canary and room > 0:
        canary_count = min(target_canary, canary.replicas + room)

    if older_replicas > 0:
        return canary_count, stable_count  # older sets drain first

    min_available = spec_replicas - max_unavailable
    increasing = canary is None or target_canary >= canary.replicas
    counted = _counted_for_scale_down(canary, not increasing) + _counted_for_scale_down(
        stable, increasing
    )
    if counted <= min_available:
        return canary_count, stable_count
    budget = counted - min_available
    if not increasing:
        if canary is not None and canary.replicas > target_canary:
            canary_count = max(target_canary, canary.replicas - budget)
        canary_count, stable_count = _within_limits(
            canary, stable, canary_count, stable_count, max_total, min_available
        )
    elif stable is not None:
        if stable.replicas > target_stable:
            stable_count = max(target_stable, stable.replicas - budget)
        stable_count, canary_count = _within_limits(
            stable, canary, stable_count, canary_count, max_total, min_available
        )
    return canary_count, stable_count


def _within_limits(
    drained: SetCounts | None,
    adjusted: SetCounts | None,
    drained_count: int,
    adjusted_count: int,
    max_total: int,
    min_available: int,
) -> tuple[int, int]:
    """Trim `adjusted` back under the surge limit without breaking min availability.

    `drained` is the set whose availability the budget ignored; whatever surge remains
    after giving `adjusted` back the availability it needs comes off `drained`.
    """
    if adjusted is None:
        return drained_count, adjusted_count
    over = max(0, adjusted_count + drained_count - max_total)
    available = min(drained.available, drained_count) if drained else 0
    adjusted_count -= over
    available += min(adjusted.available, adjusted_count)
    lost = max(0, adjusted.available - adjusted_count)
    still_needed = max(0, min_available - available)
    adjusted_count += min(lost, still_needed)
    over = max(0, adjusted_count + drained_count - max_total)
    return drained_count - over, adjusted_count
