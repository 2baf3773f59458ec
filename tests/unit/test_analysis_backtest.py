"""The backtest simulation: the live state machine played over past instants.

Each test scripts what the metric "measured" at each instant (a fake query function) and
checks the runs' verdicts, where the analysis would first have failed and how many
queries were made against numbers worked out by hand from Argo's rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analysis.backtest import TooMuchWork, Window, backtest
from analysis.decide import Outcome
from rollouts.api import AnalysisPhase

T0 = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PROMETHEUS = {"prometheus": {"address": "http://prometheus:9090", "query": "ratio"}}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(*metrics: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "backtest", "namespace": "default"},
            "spec": {"metrics": list(metrics), **spec}}


def ratio(**fields: Any) -> dict[str, Any]:
    return {"name": "error-ratio", "successCondition": "result[0] < 0.05",
            "provider": PROMETHEUS, **fields}


class Script:
    """A fake Prometheus: `value(at)` per instant, and a log of what was asked."""

    def __init__(self, value: Callable[[datetime], object]) -> None:
        self.value = value
        self.asked: list[datetime] = []

    def __call__(self, metric: Mapping[str, Any], moment: datetime) -> Outcome:
        self.asked.append(moment)
        answer = self.value(moment)
        return answer if isinstance(answer, Outcome) else Outcome.measured(answer)


def bad_from(minute: int) -> Script:
    """0.01 before `minute`, 0.09 (failing `< 0.05`) from then on."""
    return Script(lambda moment: [0.01] if moment < at(minute) else [0.09])


def window(minutes: int, every: timedelta = MINUTE) -> Window:
    return Window(T0, at(minutes), every)


class TestRunsThatEndByThemselves:
    def test_one_measurement_runs_start_every_minute(self) -> None:
        """Given a single-measurement metric over 10 minutes that goes bad at minute 6:
        runs start at 0..10 (11); those from 6 on fail, the first at 6."""
        script = bad_from(6)
        result = backtest(run(ratio()), window(10), script)

        assert not result.continuous
        assert [r.started for r in result.runs] == [at(m) for m in range(11)]
        assert result.tally() == {"Successful": 6, "Failed": 5}
        assert result.verdict is AnalysisPhase.FAILED
        failure = result.first_failure
        assert failure is not None
        assert (failure.started, failure.finished) == (at(6), at(6))
        assert failure.message == (
            'Metric "error-ratio" assessed Failed due to failed (1) > failureLimit (0)')
        point = result.first_failed_point
        assert point is not None and (point.at, point.value, point.number) == (
            at(6), "[0.09]", 0.09)
        assert result.queries == 11 and script.asked == [at(m) for m in range(11)]

    def test_count_interval_and_failure_limit_as_live(self) -> None:
        """count 3 every 1m, failureLimit 1, bad from minute 6, runs started every minute
        while they fit in 10 minutes (0..8). A run fails at its second bad measurement:
        the run of minute 4 sees one (6) and passes; the runs of 5 and 6 fail at 7
        (5's first: it started earlier); 7 fails at 8 and 8 at 9."""
        script = bad_from(6)
        result = backtest(run(ratio(count=3, interval="1m", failureLimit=1)), window(10),
                          script)

        assert result.nominal_length == 2 * MINUTE
        phases = {r.started: (r.phase.value, r.finished) for r in result.runs}
        assert phases == {
            **{at(m): ("Successful", at(m + 2)) for m in range(5)},
            at(5): ("Failed", at(7)), at(6): ("Failed", at(7)),
            at(7): ("Failed", at(8)), at(8): ("Failed", at(9)),
        }
        failure = result.first_failure
        assert failure is not None and failure.started == at(5)
        # Each instant is asked once and shared by the runs measuring it; 10 is never due.
        assert result.queries == 10 and sorted(set(script.asked)) == script.asked
        assert [p.at for p in result.points["error-ratio"]] == [at(m) for m in range(10)]

    def test_every_spaces_the_runs(self) -> None:
        result = backtest(run(ratio()), window(10, every=5 * MINUTE), bad_from(6))
        assert [r.started for r in result.runs] == [at(0), at(5), at(10)]
        assert result.tally() == {"Successful": 2, "Failed": 1}

    def test_initial_delay_shifts_the_measurement_and_must_fit(self) -> None:
        script = bad_from(6)
        result = backtest(run(ratio(initialDelay="2m")), window(10), script)
        assert [r.started for r in result.runs] == [at(m) for m in range(9)]
        assert script.asked == [at(m) for m in range(2, 11)]
        assert result.first_failure is not None and result.first_failure.started == at(4)

    def test_a_dry_run_metric_never_fails_a_run(self) -> None:
        result = backtest(run(ratio(), dryRun=[{"metricName": "error-ratio"}]), window(10),
                          bad_from(6))
        assert result.verdict is AnalysisPhase.SUCCESSFUL
        assert sum(p.phase is AnalysisPhase.FAILED for p in result.points["error-ratio"]) == 5

    def test_empty_result_inconclusive_holds(self) -> None:
        script = Script(lambda moment: [0.01] if moment < at(3) else [])
        result = backtest(run(ratio(emptyResult="Inconclusive")), window(5), script)
        assert result.tally() == {"Successful": 3, "Inconclusive": 3}
        assert result.verdict is AnalysisPhase.INCONCLUSIVE
        assert result.first_failure is None
        assert result.points["error-ratio"][3].message == (
            "no data (no series): emptyResult is Inconclusive")


class TestRunsThatNeverEnd:
    def test_a_run_fails_when_failures_pass_the_limit_and_the_next_one_follows(self) -> None:
        """A background analysis (interval 1m, no count), failureLimit 2, bad from 6:
        failures at 6, 7, 8; the third passes the limit at 8. The next run starts at the
        next minute (9), fails at 9 and 10 (not past the limit) and is terminated at the
        end (10): Successful, as a completed Rollout's background run."""
        script = bad_from(6)
        result = backtest(run(ratio(interval="1m", failureLimit=2)), window(10), script)

        assert result.continuous
        assert [(r.started, r.phase, r.finished, r.cut) for r in result.runs] == [
            (T0, AnalysisPhase.FAILED, at(8), False),
            (at(9), AnalysisPhase.SUCCESSFUL, at(10), True)]
        assert result.verdict is AnalysisPhase.FAILED
        assert result.queries == 11 and script.asked == [at(m) for m in range(11)]

    def test_the_next_run_waits_for_the_next_every_step(self) -> None:
        script = bad_from(2)
        result = backtest(run(ratio(interval="1m")), window(10, every=4 * MINUTE), script)
        assert [(r.started, r.finished) for r in result.runs] == [
            (T0, at(2)), (at(4), at(4)), (at(8), at(8))]

    def test_a_run_still_going_at_the_end_is_terminated_successful(self) -> None:
        result = backtest(run(ratio(interval="1m")), window(10), bad_from(99))
        only = result.runs[0]
        assert (only.phase, only.cut, only.finished) == (AnalysisPhase.SUCCESSFUL, True, at(10))
        assert only.message == "Run Terminated"
        assert result.verdict is AnalysisPhase.SUCCESSFUL
        assert result.queries == 11

    def test_errors_retry_after_ten_seconds_until_the_limit(self) -> None:
        """Errors from minute 3: retried 10 s apart (Argo's code), the fifth in a row
        (consecutiveErrorLimit 4) ends the run in Error at 3:40."""
        script = Script(lambda moment: [0.01] if moment < at(3) else Outcome.failed("down"))
        result = backtest(run(ratio(interval="1m")), window(10), script)

        first = result.runs[0]
        assert (first.phase, first.finished) == (AnalysisPhase.ERROR,
                                                 at(3) + timedelta(seconds=40))
        assert script.asked[:8] == [at(0), at(1), at(2)] + [
            at(3) + timedelta(seconds=s) for s in (0, 10, 20, 30, 40)]
        # Then a run a minute (4..9) errs five times each; the one at 10 is cut at the end.
        assert [(r.started, r.phase) for r in result.runs[1:]] == [
            *[(at(m), AnalysisPhase.ERROR) for m in range(4, 10)],
            (at(10), AnalysisPhase.SUCCESSFUL)]
        assert result.queries == 8 + 6 * 5 + 1
        errors = [p for p in result.points["error-ratio"] if p.phase is AnalysisPhase.ERROR]
        assert errors[0].value is None and errors[0].message == "down"


class TestBounds:
    def test_a_week_at_one_minute_is_too_many_instants(self) -> None:
        week = Window(T0, T0 + timedelta(days=7), MINUTE)
        with pytest.raises(TooMuchWork, match="more than 10000 instants"):
            backtest(run(ratio()), week, bad_from(0))

    def test_a_background_analysis_every_second_for_a_day_is_too_many(self) -> None:
        day = Window(T0, T0 + timedelta(days=1), MINUTE)
        with pytest.raises(TooMuchWork, match="more than 10000 instants"):
            backtest(run(ratio(interval="1s")), day, bad_from(0))

    def test_a_window_shorter_than_a_run(self) -> None:
        with pytest.raises(TooMuchWork, match=r"a run takes 4m .* the window is 3m"):
            backtest(run(ratio(count=5, interval="1m")), window(3), bad_from(0))

    def test_a_window_with_more_runs_than_counted_does_not_name_a_made_up_count(self) -> None:
        # 400 days at 1s is 34,560,000 runs; the starts are only counted up to the bound.
        days = Window(T0, T0 + timedelta(days=400), timedelta(seconds=1))
        with pytest.raises(TooMuchWork, match=r"^more than 200000 runs would take more "):
            backtest(run(ratio(count=3, interval="1m")), days, bad_from(0))

    def test_nothing_is_queried_before_the_check(self) -> None:
        script = bad_from(0)
        with pytest.raises(TooMuchWork):
            backtest(run(ratio()), Window(T0, T0 + timedelta(days=8), MINUTE), script)
        assert script.asked == []
