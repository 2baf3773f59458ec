"""The judge's decisions: each metric's classification, the score, and the verdict.

Pure functions of the samples (no I/O, no clock); the statistics are `analysis.judge.stats`.

**Per metric** (Kayenta's classes):

- `NoData`: fewer than `minSamples` finite samples on either side (default 10). It does
  not count in the score (as in Kayenta), but a critical metric without data caps the
  verdict at Marginal: missing data never promotes.
- `High` / `Low`: the canary is worse in a direction the metric cares about: the p-value
  is below `significance` (default 0.05) **and** the median moved further than
  `tolerance` (a relative shift; 0.1 = 10%) that way. `increase` metrics can only be High,
  `decrease` only Low, `either` both. An undefined shift (a zero baseline median) counts
  as beyond any tolerance in the direction the medians moved.
- `Pass`: otherwise.

**Score** = 100 x (weight of the Pass metrics) / (weight of the Pass, High and Low
metrics), or 0 when a critical metric is High or Low (Kayenta's rule); None when no
metric has data. **Classification of the score**: `Pass` at or above `thresholds.pass`
(default 95), `Marginal` at or above `thresholds.marginal` (default 75), else `Fail`;
`NoData` without a score. The AnalysisRun phase follows (`judgement_phase`): Pass ->
Successful, Marginal and NoData -> Inconclusive, Fail -> Failed; Argo's Kayenta provider
maps its score to phases the same way. A judge metric's `emptyResult` (ours, as for any
metric) overrides NoData: `emptyResult: Failed` fails a judgement without data.

The measured value (`Judgement.value`) is what conditions see as `result` and what the
status keeps (under 1 KiB for the at most 8 metrics of a judge; p-values to three
significant digits, at least 1e-12; effect sizes to four decimals)::

    {"score": 50, "classification": "Fail", "metrics": [
      {"name": "latency", "classification": "High", "pValue": 0.0000123, "effectSize": 0.3021},
      {"name": "errors", "classification": "Pass", "pValue": 0.41, "effectSize": 0}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from analysis.judge.stats import Comparison, compare, finite
from rollouts.api import AnalysisPhase, JudgeDirection, JudgeMetric
from rollouts.api.analysis import (
    JUDGE_DEFAULT_MARGINAL,
    JUDGE_DEFAULT_MIN_SAMPLES,
    JUDGE_DEFAULT_PASS,
    JUDGE_DEFAULT_SIGNIFICANCE,
)

__all__ = [
    "Classification",
    "JudgeSettings",
    "Judgement",
    "MetricRule",
    "MetricVerdict",
    "ScoreClass",
    "classify",
    "judge_samples",
    "judgement_phase",
    "judgement_without_data",
    "score_of",
]


class Classification(StrEnum):
    """One metric's class, Kayenta's words."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "NoData"


class ScoreClass(StrEnum):
    """The whole judgement's class, Kayenta's words; `phase` is the measurement's phase."""

    PASS = "Pass"
    MARGINAL = "Marginal"
    FAIL = "Fail"
    NODATA = "NoData"

    @property
    def phase(self) -> AnalysisPhase:
        if self is ScoreClass.PASS:
            return AnalysisPhase.SUCCESSFUL
        if self is ScoreClass.FAIL:
            return AnalysisPhase.FAILED
        return AnalysisPhase.INCONCLUSIVE


@dataclass(frozen=True)
class MetricRule:
    name: str
    direction: str = JudgeDirection.EITHER
    """A `JudgeDirection` value."""
    tolerance: float = 0.0
    weight: float = 1.0
    critical: bool = False


@dataclass(frozen=True)
class JudgeSettings:
    rules: tuple[MetricRule, ...]
    significance: float = JUDGE_DEFAULT_SIGNIFICANCE
    min_samples: int = JUDGE_DEFAULT_MIN_SAMPLES
    pass_threshold: float = JUDGE_DEFAULT_PASS
    marginal_threshold: float = JUDGE_DEFAULT_MARGINAL

    @classmethod
    def from_model(cls, judge: JudgeMetric) -> JudgeSettings:
        thresholds = judge.thresholds_or_default
        return cls(
            rules=tuple(MetricRule(name=m.name, direction=m.direction_or_default,
                                   tolerance=m.tolerance_or_default, weight=m.weight_or_default,
                                   critical=bool(m.critical)) for m in judge.metrics),
            significance=judge.significance_or_default,
            min_samples=judge.min_samples_or_default,
            pass_threshold=thresholds.pass_or_default,
            marginal_threshold=thresholds.marginal_or_default)


@dataclass(frozen=True)
class MetricVerdict:
    rule: MetricRule
    classification: Classification
    comparison: Comparison | None
    canary_samples: int
    baseline_samples: int


@dataclass(frozen=True)
class Judgement:
    score: float | None
    classification: ScoreClass
    metrics: tuple[MetricVerdict, ...]
    reason: str
    """Why the classification is what it is, one line."""

    @property
    def phase(self) -> AnalysisPhase:
        return self.classification.phase

    @property
    def value(self) -> dict[str, object]:
        """The measured value (see the module docstring); numbers rounded so it stays short."""
        return {
            "score": self.score,
            "classification": self.classification.value,
            "metrics": [{
                "name": verdict.rule.name,
                "classification": verdict.classification.value,
                "pValue": _p_value(verdict.comparison),
                "effectSize": _rounded(None if verdict.comparison is None
                                       else verdict.comparison.effect_size, 4),
            } for verdict in self.metrics],
        }

    @property
    def samples(self) -> str:
        """`latency 61/61, errors 3/61`: canary/baseline samples per metric (for metadata)."""
        return ", ".join(f"{v.rule.name} {v.canary_samples}/{v.baseline_samples}"
                         for v in self.metrics)


def _rounded(number: float | None, digits: int) -> float | None:
    return None if number is None else round(number, digits)


P_VALUE_FLOOR = 1e-12
"""Smaller p-values are stored as this (the status writes numbers without exponents)."""


def _p_value(comparison: Comparison | None) -> float | None:
    """Three significant digits, at least `P_VALUE_FLOOR`."""
    if comparison is None:
        return None
    return float(f"{max(comparison.p_value, P_VALUE_FLOOR):.3g}")


def classify(rule: MetricRule, comparison: Comparison, significance: float) -> Classification:
    """High, Low or Pass for one metric with enough samples (see the module docstring)."""
    if comparison.p_value >= significance:
        return Classification.PASS
    effect = comparison.effect_size
    up = effect > rule.tolerance if effect is not None else comparison.shift_sign > 0
    down = effect < -rule.tolerance if effect is not None else comparison.shift_sign < 0
    if up and rule.direction in (JudgeDirection.INCREASE, JudgeDirection.EITHER):
        return Classification.HIGH
    if down and rule.direction in (JudgeDirection.DECREASE, JudgeDirection.EITHER):
        return Classification.LOW
    return Classification.PASS


def score_of(verdicts: Sequence[MetricVerdict]) -> float | None:
    """The weighted share of passing metrics among those with data, 0..100; 0 when a
    critical metric is High or Low; None when no metric has data."""
    counted = [v for v in verdicts if v.classification is not Classification.NODATA]
    if not counted:
        return None
    if any(v.rule.critical and v.classification is not Classification.PASS for v in counted):
        return 0.0
    total = sum(v.rule.weight for v in counted)
    passed = sum(v.rule.weight for v in counted if v.classification is Classification.PASS)
    return round(100.0 * passed / total, 2)


def judge_samples(settings: JudgeSettings,
                  samples: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Judgement:
    """Classify each metric of `settings` from its `(canary, baseline)` samples (a metric
    missing from `samples` has none), score them, and classify the score."""
    verdicts = []
    for rule in settings.rules:
        canary, baseline = (finite(side) for side in samples.get(rule.name, ((), ())))
        comparison = None
        classification = Classification.NODATA
        if min(len(canary), len(baseline)) >= settings.min_samples:
            comparison = compare(canary, baseline, rule.direction)
            classification = classify(rule, comparison, settings.significance)
        verdicts.append(MetricVerdict(rule, classification, comparison,
                                      canary_samples=len(canary), baseline_samples=len(baseline)))
    score = score_of(verdicts)
    score_class, reason = _score_class(settings, verdicts, score)
    return Judgement(score=score, classification=score_class, metrics=tuple(verdicts),
                     reason=reason)


def _score_class(settings: JudgeSettings, verdicts: Sequence[MetricVerdict],
                 score: float | None) -> tuple[ScoreClass, str]:
    if score is None:
        return ScoreClass.NODATA, (f"no metric has {settings.min_samples} samples on both sides")
    worse = [f"{v.rule.name} {v.classification.value}" for v in verdicts
             if v.classification in (Classification.HIGH, Classification.LOW)]
    detail = f" ({', '.join(worse)})" if worse else ""
    if score < settings.marginal_threshold:
        return ScoreClass.FAIL, (
            f"score {score:g} < marginal {settings.marginal_threshold:g}{detail}")
    blind = [v.rule.name for v in verdicts
             if v.rule.critical and v.classification is Classification.NODATA]
    if blind:
        return ScoreClass.MARGINAL, f"critical metric without data: {', '.join(blind)}"
    if score < settings.pass_threshold:
        return ScoreClass.MARGINAL, f"score {score:g} < pass {settings.pass_threshold:g}{detail}"
    return ScoreClass.PASS, f"score {score:g} >= pass {settings.pass_threshold:g}"


def judgement_phase(value: object) -> AnalysisPhase | None:
    """The phase a judge's measured value decides (its `classification`), or None when
    `value` is not a judge's value. Used by the state machine for a judge metric without
    `successCondition`/`failureCondition`."""
    if not isinstance(value, Mapping):
        return None
    try:
        return ScoreClass(str(value.get("classification"))).phase
    except ValueError:
        return None


def judgement_without_data(value: object) -> bool:
    """Whether `value` is a judgement in which no metric had enough samples (`NoData`):
    a judge metric's `emptyResult` then decides, as for an empty Prometheus result."""
    return isinstance(value, Mapping) and value.get("classification") == ScoreClass.NODATA.value
