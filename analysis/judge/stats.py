"""The statistics of the judge: one Mann-Whitney U test and one effect size per metric.

`compare(canary, baseline, direction)` runs `scipy.stats.mannwhitneyu` (never a test
written here) with the alternative the direction asks for, and measures how far the
canary's median moved from the baseline's:

| direction  | bad when the canary is | scipy `alternative` |
| ---------- | ---------------------- | ------------------- |
| `increase` | higher                 | `greater`           |
| `decrease` | lower                  | `less`              |
| `either`   | different              | `two-sided`         |

The **effect size** is the relative shift of the median,
`(median(canary) - median(baseline)) / |median(baseline)|`: 0.3 means the canary's median
is 30% above the baseline's. The median goes with a rank test (neither is moved by a few
outliers). When the baseline's median is 0 the shift is undefined (None) unless the
canary's is 0 too (then 0): `analysis.judge.score` then judges by the p-value and the
sign of the difference alone.

scipy is imported on the first comparison, not with this module: it takes most of a second
and tens of MiB, which a controller whose runs never judge should not pay.

Neighbours: `analysis.judge.score` classifies and scores what this returns.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from rollouts.api import JudgeDirection

__all__ = ["ALTERNATIVES", "Comparison", "compare", "finite"]

ALTERNATIVES: dict[str, str] = {JudgeDirection.INCREASE: "greater",
                                JudgeDirection.DECREASE: "less",
                                JudgeDirection.EITHER: "two-sided"}
"""The scipy alternative hypothesis for each direction (the model's `JudgeDirection`)."""


@dataclass(frozen=True)
class Comparison:
    """What one canary/baseline comparison found."""

    p_value: float
    """Of the Mann-Whitney U test with the direction's alternative (1.0 when undefined)."""
    effect_size: float | None
    """Relative shift of the median; None when the baseline's median is 0 and the canary's
    is not."""
    canary_median: float
    baseline_median: float

    @property
    def shift_sign(self) -> int:
        """+1 when the canary's median is above the baseline's, -1 below, 0 equal."""
        difference = self.canary_median - self.baseline_median
        return (difference > 0) - (difference < 0)


def finite(values: Sequence[float]) -> list[float]:
    """`values` without NaN and infinities (Kayenta drops NaN too; an infinity has no rank
    that means anything)."""
    return [value for value in values if math.isfinite(value)]


def compare(canary: Sequence[float], baseline: Sequence[float], direction: str) -> Comparison:
    """The Mann-Whitney U test of `canary` against `baseline` and the median shift.

    Both need at least one finite value (the caller checks the minimum); raises
    `ValueError` for an unknown direction.
    """
    from scipy.stats import mannwhitneyu  # imported here: see the module docstring

    alternative = ALTERNATIVES.get(direction)
    if alternative is None:
        raise ValueError(f"direction must be increase, decrease or either, not {direction!r}")
    result = mannwhitneyu(list(canary), list(baseline), alternative=alternative)
    p_value = float(result.pvalue)
    if not math.isfinite(p_value):  # every value tied: no evidence of any difference
        p_value = 1.0
    canary_median = float(statistics.median(canary))
    baseline_median = float(statistics.median(baseline))
    if baseline_median != 0:
        effect: float | None = (canary_median - baseline_median) / abs(baseline_median)
    else:
        effect = 0.0 if canary_median == 0 else None
    return Comparison(p_value=min(max(p_value, 0.0), 1.0), effect_size=effect,
                      canary_median=canary_median, baseline_median=baseline_median)
