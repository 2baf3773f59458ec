"""The statistical canary judge: canary samples against baseline samples, per metric,
combined into a score, as Kayenta does (a documented extension of ours; Argo Rollouts has
no such provider).

- `stats`: the Mann-Whitney U test (`scipy.stats.mannwhitneyu`) and the effect size (the
  relative shift of the median); scipy is imported on first use.
- `score`: classification per metric (Pass / High / Low / NoData), the weighted score,
  critical metrics, thresholds, and the phase a judgement decides.

Pure: no I/O, no clock. The provider (`analysis.providers.judge`) fetches the samples
with Prometheus range queries and hands them here; the state machine
(`analysis.decide_rules`) asks `judgement_phase` for the phase of a judge metric that has
no conditions of its own.
"""

from __future__ import annotations

from analysis.judge.score import (
    Classification,
    Judgement,
    JudgeSettings,
    MetricRule,
    MetricVerdict,
    ScoreClass,
    classify,
    judge_samples,
    judgement_phase,
    judgement_without_data,
    score_of,
)
from analysis.judge.stats import Comparison, compare

__all__ = [
    "Classification",
    "Comparison",
    "JudgeSettings",
    "Judgement",
    "MetricRule",
    "MetricVerdict",
    "ScoreClass",
    "classify",
    "compare",
    "judge_samples",
    "judgement_phase",
    "judgement_without_data",
    "score_of",
]
