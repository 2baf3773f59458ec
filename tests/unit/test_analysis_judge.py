"""The statistical canary judge, its pure part: the test and the effect size per metric,
each metric's class, the score, the verdict, the value a run stores, and how the state
machine and lint treat a judge metric. Samples are fixed lists, or drawn from a seeded
generator; real Prometheus answers are tests/integration/test_analysis_judge.py's.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from analysis.decide import Outcome, plan_run, record
from analysis.decide_status import MAX_VALUE_LENGTH, format_value
from analysis.judge import (
    Classification,
    Comparison,
    Judgement,
    JudgeSettings,
    MetricRule,
    ScoreClass,
    classify,
    compare,
    judge_samples,
    judgement_phase,
    score_of,
)
from analysis.judge.score import MetricVerdict
from analysis.providers import JudgeProvider, MeasureContext
from analysis.providers.prometheus import (
    QueryError,
    value_from_answer,
    values_from_range_answer,
)
from rollouts.api import AnalysisPhase, check_object
from rollouts.api.rules_judge import EXTENSION_NOTE
from rollouts.cli.analysis_view import TrialMetric, render_trial, shown_target
from rollouts.lint import lint_text

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BASELINE = [100.0, 102, 98, 101, 99, 103, 97, 100, 101, 99, 100, 102]
HIGHER = [v * 1.3 for v in BASELINE]  # every canary sample 30% above


def normal(seed: int, mean: float, sd: float, n: int = 60) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


def settings(*rules: MetricRule, **kwargs: Any) -> JudgeSettings:
    return JudgeSettings(rules=rules, **kwargs)


# --- the test and the effect size ---------------------------------------------------------

class TestCompare:
    def test_the_alternative_follows_the_direction(self) -> None:
        assert compare(HIGHER, BASELINE, "increase").p_value < 0.001
        assert compare(HIGHER, BASELINE, "decrease").p_value > 0.99
        assert compare(HIGHER, BASELINE, "either").p_value < 0.001
        assert compare(BASELINE, HIGHER, "decrease").p_value < 0.001

    def test_two_sided_is_twice_the_one_sided_p_value(self) -> None:
        canary = normal(1, 104, 10, 30)
        baseline = normal(2, 100, 10, 30)
        one = compare(canary, baseline, "increase").p_value
        assert compare(canary, baseline, "either").p_value == pytest.approx(2 * one)

    def test_the_effect_is_the_relative_shift_of_the_median(self) -> None:
        found = compare(HIGHER, BASELINE, "increase")
        assert found.canary_median == pytest.approx(130.0)
        assert found.baseline_median == 100.0
        assert found.effect_size == pytest.approx(0.3)
        assert compare([90.0] * 5, [100.0] * 5, "either").effect_size == pytest.approx(-0.1)

    def test_a_zero_baseline_median_leaves_the_shift_undefined_unless_both_are_zero(
            self) -> None:
        assert compare([0.0, 0, 1], [0.0, 0, 0], "increase").effect_size == 0.0
        undefined = compare([2.0, 3, 4], [0.0, 0, 1], "increase")
        assert undefined.effect_size is None and undefined.shift_sign == 1

    def test_identical_constant_samples_give_no_evidence(self) -> None:
        assert compare([5.0] * 12, [5.0] * 12, "either").p_value == 1.0

    def test_an_unknown_direction_is_refused(self) -> None:
        with pytest.raises(ValueError, match="increase, decrease or either"):
            compare([1.0], [2.0], "sideways")


# --- classification -------------------------------------------------------------------------

def comparison(p_value: float, effect: float | None, sign: int = 1) -> Comparison:
    return Comparison(p_value=p_value, effect_size=effect, canary_median=100.0 + sign,
                      baseline_median=100.0)


@pytest.mark.parametrize(("direction", "p_value", "effect", "tolerance", "expected"), [
    ("increase", 0.001, 0.30, 0.1, "High"),    # significant and beyond the tolerance
    ("increase", 0.001, 0.05, 0.1, "Pass"),    # significant but within the tolerance
    ("increase", 0.20, 0.30, 0.1, "Pass"),     # large but not significant
    ("increase", 0.001, -0.30, 0.1, "Pass"),   # better, not worse
    ("decrease", 0.001, -0.30, 0.1, "Low"),
    ("decrease", 0.001, 0.30, 0.1, "Pass"),
    ("either", 0.001, 0.30, 0.1, "High"),
    ("either", 0.001, -0.30, 0.1, "Low"),
    ("either", 0.05, 0.30, 0.0, "Pass"),       # p must be below the significance
    ("increase", 0.001, 0.01, 0.0, "High"),    # tolerance 0: any significant shift
])
def test_a_metric_is_worse_only_when_significant_beyond_tolerance_in_its_direction(
        direction: str, p_value: float, effect: float, tolerance: float, expected: str) -> None:
    rule = MetricRule("m", direction=direction, tolerance=tolerance)
    assert classify(rule, comparison(p_value, effect), 0.05).value == expected


def test_an_undefined_shift_counts_as_beyond_any_tolerance_in_its_sign() -> None:
    rule = MetricRule("errors", direction="either", tolerance=10.0)
    assert classify(rule, comparison(0.001, None, sign=1), 0.05) is Classification.HIGH
    assert classify(rule, comparison(0.001, None, sign=-1), 0.05) is Classification.LOW


# --- the score ------------------------------------------------------------------------------

def verdict(name: str, classification: Classification, weight: float = 1.0,
            critical: bool = False) -> MetricVerdict:
    return MetricVerdict(MetricRule(name, weight=weight, critical=critical), classification,
                         None, 0, 0)


class TestScore:
    def test_the_score_is_the_weighted_share_of_passing_metrics(self) -> None:
        assert score_of([verdict("a", Classification.PASS, 3),
                         verdict("b", Classification.HIGH, 1)]) == 75.0

    def test_metrics_without_data_do_not_count(self) -> None:
        assert score_of([verdict("a", Classification.PASS),
                         verdict("b", Classification.NODATA, 5)]) == 100.0

    def test_a_critical_metric_that_fails_makes_it_zero(self) -> None:
        assert score_of([verdict("a", Classification.PASS, 10),
                         verdict("b", Classification.LOW, critical=True)]) == 0.0

    def test_without_any_data_there_is_no_score(self) -> None:
        assert score_of([verdict("a", Classification.NODATA)]) is None


class TestJudgement:
    rules = (MetricRule("latency", "increase", 0.1, weight=3),
             MetricRule("errors", "increase", 0.1))

    def test_thresholds_map_the_score_to_pass_marginal_fail(self) -> None:
        same = {"latency": (BASELINE, BASELINE), "errors": (BASELINE, BASELINE)}
        worse_errors = {"latency": (BASELINE, BASELINE), "errors": (HIGHER, BASELINE)}
        worse_both = {"latency": (HIGHER, BASELINE), "errors": (HIGHER, BASELINE)}
        cases = [(same, 100.0, ScoreClass.PASS, AnalysisPhase.SUCCESSFUL),
                 (worse_errors, 75.0, ScoreClass.MARGINAL, AnalysisPhase.INCONCLUSIVE),
                 (worse_both, 0.0, ScoreClass.FAIL, AnalysisPhase.FAILED)]
        for samples, score, classification, phase in cases:
            found = judge_samples(settings(*self.rules, pass_threshold=95,
                                           marginal_threshold=75), samples)
            assert (found.score, found.classification, found.phase) == (
                score, classification, phase), found.reason

    def test_too_few_samples_is_nodata_and_no_data_at_all_is_inconclusive(self) -> None:
        found = judge_samples(settings(*self.rules, min_samples=13),
                              {"latency": (BASELINE, BASELINE)})
        assert [v.classification for v in found.metrics] == [Classification.NODATA] * 2
        assert found.score is None and found.phase is AnalysisPhase.INCONCLUSIVE
        assert found.reason == "no metric has 13 samples on both sides"

    def test_nan_and_infinite_samples_are_dropped_before_counting(self) -> None:
        canary = [*BASELINE[:9], math.nan, math.inf, -math.inf]
        found = judge_samples(settings(MetricRule("latency"), min_samples=10),
                              {"latency": (canary, BASELINE)})
        assert found.metrics[0].canary_samples == 9
        assert found.metrics[0].classification is Classification.NODATA

    def test_a_critical_metric_without_data_holds_a_passing_score(self) -> None:
        rules = (MetricRule("latency"), MetricRule("errors", critical=True))
        found = judge_samples(settings(*rules), {"latency": (BASELINE, BASELINE),
                                                 "errors": ([1.0], [1.0])})
        assert found.score == 100.0
        assert found.classification is ScoreClass.MARGINAL
        assert found.reason == "critical metric without data: errors"

    def test_the_value_names_every_metric_with_its_numbers(self) -> None:
        found = judge_samples(settings(*self.rules), {"latency": (HIGHER, BASELINE)})
        assert found.value["score"] == 0.0 and found.value["classification"] == "Fail"
        metrics: Any = found.value["metrics"]
        latency, errors = metrics
        assert latency["name"] == "latency" and latency["classification"] == "High"
        assert 0 <= latency["pValue"] < 0.001
        assert latency["effectSize"] == pytest.approx(0.3, abs=1e-4)
        assert errors == {"name": "errors", "classification": "NoData", "pValue": None,
                          "effectSize": None}
        assert found.samples == "latency 12/12, errors 0/0"

    def test_the_stored_value_of_the_largest_judge_stays_json_under_the_cap(self) -> None:
        rules = tuple(MetricRule(f"{index}-" + "x" * 30, "either") for index in range(8))
        worst = Comparison(p_value=1.23456789e-300, effect_size=-123456.789012,
                           canary_median=-1.0, baseline_median=1.0)
        judgement = Judgement(score=12.345, classification=ScoreClass.NODATA, reason="",
                              metrics=tuple(MetricVerdict(rule, Classification.NODATA, worst,
                                                          0, 0) for rule in rules))
        text = format_value(judgement.value)
        assert len(text) < MAX_VALUE_LENGTH, len(text)
        stored = json.loads(text)
        assert len(stored["metrics"]) == 8 and stored["metrics"][0]["pValue"] == 1e-12

    def test_p_values_keep_three_significant_digits(self) -> None:
        found = judge_samples(settings(MetricRule("latency", "increase")),
                              {"latency": (HIGHER, BASELINE)})
        stored = json.loads(format_value(found.value))["metrics"][0]["pValue"]
        assert stored == float(f"{found.metrics[0].comparison.p_value:.3g}") > 0  # type: ignore[union-attr]

    @pytest.mark.parametrize(("value", "phase"), [
        ({"classification": "Pass"}, AnalysisPhase.SUCCESSFUL),
        ({"classification": "Marginal"}, AnalysisPhase.INCONCLUSIVE),
        ({"classification": "NoData"}, AnalysisPhase.INCONCLUSIVE),
        ({"classification": "Fail"}, AnalysisPhase.FAILED),
        ({"classification": "Great"}, None),
        ([0.99], None),
    ])
    def test_the_classification_decides_the_phase(self, value: object,
                                                   phase: AnalysisPhase | None) -> None:
        assert judgement_phase(value) is phase


class TestThreeCanaries:
    """The integration test's three canaries, as plain samples: worse (+30%), the same
    distribution with another seed, and the same median with four times the spread."""

    rules = (MetricRule("latency", "increase", tolerance=0.1),)
    baseline = normal(1, 100, 10)

    def judge(self, canary: Sequence[float]) -> ScoreClass:
        return judge_samples(settings(*self.rules), {"latency": (canary, self.baseline)}
                             ).classification

    def test_worse_fails_same_passes_and_noise_alone_is_no_shift(self) -> None:
        assert self.judge(normal(2, 130, 13)) is ScoreClass.FAIL
        assert self.judge(normal(3, 100, 10)) is ScoreClass.PASS
        assert self.judge(normal(4, 100, 40)) is ScoreClass.PASS


# --- the state machine and a judge metric ------------------------------------------------------

JUDGE = {"judge": {"address": "http://prometheus:9090", "window": "10m",
                   "metrics": [{"name": "latency", "canary": "a", "baseline": "b"}]}}


def run_with(**metric: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"metrics": [{"name": "judge", "provider": JUDGE, **metric}]}}


def phase_after(run: dict[str, Any], value: object) -> str:
    plan = plan_run(run, T0)
    status = record(run, plan.status, "judge", Outcome.measured(value), T0)
    return str(status["metricResults"][0]["measurements"][-1]["phase"])


@pytest.mark.parametrize(("classification", "phase"), [
    ("Pass", "Successful"), ("Marginal", "Inconclusive"), ("NoData", "Inconclusive"),
    ("Fail", "Failed")])
def test_without_conditions_the_judge_decides(classification: str, phase: str) -> None:
    value = {"score": 50, "classification": classification, "metrics": []}
    assert phase_after(run_with(), value) == phase


def test_conditions_decide_over_the_judges_verdict() -> None:
    run = run_with(successCondition="result.score >= 50")
    assert phase_after(run, {"score": 50, "classification": "Fail", "metrics": []}) == (
        "Successful")
    assert phase_after(run, {"score": 25, "classification": "Pass", "metrics": []}) == "Failed"


def test_a_value_that_is_no_judgement_is_an_error() -> None:
    assert phase_after(run_with(), [1.0]) == "Error"


# --- the spec: lint and the provider's own check ----------------------------------------------

def template(judge: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                       "metadata": {"name": "t"},
                       "spec": {"metrics": [{"name": "j", "provider": {"judge": judge}}]}})


def test_lint_accepts_a_judge_and_notes_that_it_is_not_argos() -> None:
    report = lint_text(template(JUDGE["judge"]), "t.yaml")
    assert report.errors == 0 and report.warnings == 1
    assert str(report.problems[0]) == (
        f"t.yaml:1:spec.metrics[0].provider.judge: warning: {EXTENSION_NOTE}")


@pytest.mark.parametrize(("change", "path", "needle"), [
    ({"window": "2m"}, "judge.window", "holds 3 samples, fewer than minSamples (10)"),
    ({"window": "10h", "step": "1s"}, "judge.step", "Prometheus answers at most 11000"),
    ({"significance": 1.5}, "judge.significance", "between 0 and 1"),
    ({"minSamples": 2}, "judge.minSamples", "at least 3"),
    ({"thresholds": {"pass": 70, "marginal": 80}}, "judge.thresholds", "not be above pass"),
    ({"metrics": []}, "judge.metrics", "at least one metric"),
    ({"metrics": [{"name": f"m{i}", "canary": "a", "baseline": "b"} for i in range(9)]},
     "judge.metrics", "at most 8 metrics"),
    ({"metrics": [{"name": "has space", "canary": "a", "baseline": "b"}]},
     "judge.metrics[0].name", "is not a short name"),
    ({"metrics": [{"name": "m", "canary": "a", "baseline": "b", "tolerance": -1}]},
     "judge.metrics[0].tolerance", "must be 0 or more"),
    ({"metrics": [{"name": "m", "canary": "a", "baseline": "b", "direction": "up"}]},
     "judge.metrics[0].direction", "increase"),
])
def test_mistakes_are_errors_naming_the_field(change: dict[str, Any], path: str,
                                              needle: str) -> None:
    result = check_object(json.loads(template({**JUDGE["judge"], **change})))
    errors = [problem for problem in result.problems if problem.is_error]
    assert any(p.path == f"spec.metrics[0].provider.{path}" and needle in p.message
               for p in errors), [str(p) for p in errors]


def context(judge: dict[str, Any]) -> MeasureContext:
    return MeasureContext(namespace="ns", run_name="r", run_uid="u", previous=None, now=T0,
                          metric={"name": "j", "provider": {"judge": judge}})


@pytest.mark.parametrize(("judge", "message"), [
    ({**JUDGE["judge"], "window": "2m"}, "provider.judge.window: "),
    ({"metrics": JUDGE["judge"]["metrics"]}, "provider.judge.window: Field required"),
    ({**JUDGE["judge"], "address": "prometheus:9090"}, "provider.judge.address "),
    ({**JUDGE["judge"], "headers": [{"key": "Authorization", "value": "Bearer hunter2"}],
      "timeout": -3}, "provider.judge.timeout"),
])
def test_the_provider_refuses_a_bad_spec_before_querying(judge: dict[str, Any],
                                                         message: str) -> None:
    outcome = JudgeProvider(default_address="").measure(context(judge))
    assert outcome.error is not None and outcome.error.startswith(message), outcome.error
    assert "hunter2" not in outcome.error


def test_a_range_answer_gives_each_series_values_in_order() -> None:
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"pod": "a"}, "values": [[1, "1"], [2, "2.5"]]},
        {"metric": {"pod": "b"}, "values": [[1, "+Inf"]]}]}}
    assert values_from_range_answer(answer) == ([[1.0, 2.5], [math.inf]], [])
    with pytest.raises(QueryError, match="not a matrix"):
        values_from_range_answer({"status": "success",
                                  "data": {"resultType": "vector", "result": []}})


@pytest.mark.parametrize("read", [value_from_answer, values_from_range_answer])
@pytest.mark.parametrize("values", ["", 0, {}, "1"])
def test_instant_and_range_readers_refuse_a_series_whose_values_are_no_list(
        read: Any, values: object) -> None:
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {}, "values": values}]}}
    with pytest.raises(QueryError, match="no list of values"):
        read(answer)


def test_analysis_run_shows_what_a_judge_compared_and_why_it_decided() -> None:
    metric = {"name": "judge", "provider": JUDGE}
    assert shown_target(metric, str) == "canary against baseline over 10m: latency"
    measured = TrialMetric(name="judge", kind="judge", target="-", success=None, failure=None,
                           measurement={"phase": "Failed", "value": "{}", "metadata": {
                               "reason": "score 0 < marginal 75 (latency High)"}})
    text = render_trial("t.yaml", "default", "-", [measured])
    assert "Failed: the judge: score 0 < marginal 75 (latency High)" in text


def test_empty_result_decides_a_judgement_without_data() -> None:
    nodata = {"score": None, "classification": "NoData", "metrics": []}
    assert phase_after(run_with(), nodata) == "Inconclusive"
    assert phase_after(run_with(emptyResult="Failed"), nodata) == "Failed"
    assert phase_after(run_with(emptyResult="Failed"),
                       {"score": 100, "classification": "Pass", "metrics": []}) == "Successful"
