"""The AnalysisRun state machine, run by run: several metrics, dry-run, retention,
termination, scheduling (initialDelay, interval, Jobs' resumeAt) and restart safety."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from analysis.decide import Outcome, plan_run, record
from tests.unit.test_analysis_decide import (
    SMOKE_TEST_JOB,
    T0,
    Controller,
    analysis_run,
    metric,
)

JOB = SMOKE_TEST_JOB
FOREVER = metric("latency", interval="1m", successCondition="result[0] < 500")


class TestSeveralMetrics:
    def test_the_run_waits_for_every_metric(self) -> None:
        quick = metric("quick", successCondition="result > 0")
        slow = metric("slow", interval="1m", count=2, successCondition="result > 0")
        controller = Controller(analysis_run(quick, slow))

        assert controller.plan.due == ["quick", "slow"]
        controller.measure({"quick": 1, "slow": 1})
        assert controller.status["phase"] == "Running"
        assert controller.result("quick")["phase"] == "Successful"

        controller.wake()
        assert controller.plan.due == ["slow"]
        assert controller.measure({"slow": 1}).phase.value == "Successful"

    def test_a_failing_metric_ends_the_run_and_terminates_the_others(self) -> None:
        """Given an indefinite background metric and a failing one."""
        failing = metric("errors", failureCondition="result > 10")
        controller = Controller(analysis_run(FOREVER, failing))

        plan = controller.measure({"latency": [120.0], "errors": 50})

        assert plan.done and plan.phase.value == "Failed"
        assert controller.result("errors")["phase"] == "Failed"
        assert controller.result("latency")["phase"] == "Successful"  # terminated, as Argo
        assert plan.status["message"] == (
            'Metric "errors" assessed Failed due to failed (1) > failureLimit (0)'
        )
        assert plan.status["runSummary"] == {
            "count": 2, "successful": 1, "failed": 1, "inconclusive": 0, "error": 0,
        }  # fmt: skip

    def test_a_job_started_in_the_same_pass_as_a_failure_is_cancelled(self) -> None:
        """Given a failing gate and a Job metric due together: the Job was created by the
        provider, so its pending measurement is kept and the settling plan cancels it."""
        gate = metric("gate", successCondition="false")
        controller = Controller(analysis_run(gate, {"name": "smoke", "provider": SMOKE_TEST_JOB}))
        waiting = Outcome.waiting(T0 + timedelta(seconds=5), metadata={"job-name": "smoke-1"})

        plan = controller.measure({"gate": 1, "smoke": waiting})

        assert plan.done and plan.phase.value == "Failed"
        assert plan.cancelled == ["smoke"]
        [terminated] = controller.measurements("smoke")
        assert (terminated["message"], terminated["metadata"]) == (
            "Metric Terminated",
            {"job-name": "smoke-1"},
        )

    def test_recording_alone_leaves_the_run_to_the_next_plan(self) -> None:
        run = analysis_run(metric("gate", successCondition="false"), FOREVER)
        status = record(run, plan_run(run, T0).status, "gate", Outcome.measured(1), T0)
        assert status["metricResults"][0]["phase"] == "Failed"
        assert status["phase"] == "Running"  # settled by plan_run, before the status is written
        assert plan_run({**run, "status": status}, T0).phase.value == "Failed"

    def test_the_worst_completed_metric_names_the_run_phase(self) -> None:
        """Given a status where two metrics ended badly before the run did (Argo writes such
        a status: it notices the run must end one reconcile later)."""
        run = analysis_run(
            metric("a", successCondition="true"), metric("b", successCondition="true")
        )
        run["status"] = {
            "phase": "Running",
            "startedAt": "2024-05-01T12:00:00Z",
            "metricResults": [
                {"name": "a", "phase": "Error", "error": 5, "consecutiveError": 5,
                 "message": "timeout", "measurements": [{"phase": "Error"}]},
                {"name": "b", "phase": "Failed", "count": 1, "failed": 1,
                 "measurements": [{"phase": "Failed"}]},
            ],
        }  # fmt: skip

        plan = plan_run(run, T0)

        assert plan.done and plan.phase.value == "Failed"  # Failed is worse than Error
        assert plan.status["message"] == (
            'Metric "b" assessed Failed due to failed (1) > failureLimit (0)'
        )


class TestDryRun:
    def test_a_failing_dry_run_metric_is_recorded_but_never_decides(self) -> None:
        candidate = metric("candidate", successCondition="result[0] > 0.99")
        real = metric("success-rate", successCondition="result[0] > 0.9")
        controller = Controller(analysis_run(candidate, real, dryRun=[{"metricName": "cand.*"}]))

        plan = controller.measure({"candidate": [0.5], "success-rate": [0.95]})

        assert plan.phase.value == "Successful"
        dry = controller.result("candidate")
        assert (dry["dryRun"], dry["phase"]) == (True, "Failed")
        assert dry["message"] == "Metric assessed Failed due to failed (1) > failureLimit (0)"
        assert "dryRun" not in controller.result("success-rate")
        assert plan.status["dryRunSummary"]["failed"] == 1
        assert plan.status["runSummary"]["count"] == 1

    def test_a_run_of_dry_run_metrics_only_is_successful_even_when_they_fail(self) -> None:
        controller = Controller(
            analysis_run(
                metric("a", interval="1m", count=2, successCondition="false"),
                dryRun=[{"metricName": ".*"}],
            )
        )
        assert controller.feed("a", [1]) == ["Successful"]
        assert controller.result("a")["phase"] == "Failed"
        assert controller.status["runSummary"]["count"] == 0

    def test_the_run_also_waits_for_dry_run_metrics(self) -> None:
        controller = Controller(
            analysis_run(
                metric("real", successCondition="true"),
                metric("shadow", interval="1m", count=2, successCondition="true"),
                dryRun=[{"metricName": "shadow"}],
            )
        )
        assert controller.measure({"real": 1, "shadow": 1}).phase.value == "Running"
        controller.wake()
        assert controller.measure({"shadow": 1}).phase.value == "Successful"


class TestRetention:
    def test_ten_measurements_are_kept_by_default(self) -> None:
        controller = Controller(analysis_run(metric(interval="1s", successCondition="true")))
        controller.feed("success-rate", [1] * 12)
        kept = controller.measurements()
        assert len(kept) == 10 and controller.result()["count"] == 12
        assert kept[0]["startedAt"] == "2024-05-01T12:00:02Z"

    def test_measurement_retention_matches_metric_names_by_regex(self) -> None:
        controller = Controller(
            analysis_run(
                metric(interval="1s", successCondition="true"),
                measurementRetention=[{"metricName": "success-.*", "limit": 2}],
            )
        )
        controller.feed("success-rate", [1, 2, 3])
        assert [m["value"] for m in controller.measurements()] == ["2", "3"]


class TestTerminate:
    def test_terminating_an_indefinite_run_makes_it_successful(self) -> None:
        controller = Controller(analysis_run(FOREVER))
        controller.measure({"latency": [100.0]})
        controller.run["spec"]["terminate"] = True

        plan = plan_run(controller.run, T0 + timedelta(seconds=30))

        assert plan.done and plan.phase.value == "Successful"
        assert plan.status["message"] == "Run Terminated"
        assert plan.status["metricResults"][0]["phase"] == "Successful"
        assert plan.due == []

    def test_a_run_terminated_before_measuring_is_successful(self) -> None:
        plan = plan_run(analysis_run(FOREVER, terminate=True), T0)
        assert (plan.done, plan.phase.value, plan.status["message"]) == (
            True,
            "Successful",
            "Run Terminated",
        )

    def test_terminating_keeps_a_failure(self) -> None:
        tolerant = {**FOREVER, "failureLimit": 5}
        controller = Controller(analysis_run(tolerant, metric("gate", successCondition="false")))
        controller.measure({"latency": [100.0], "gate": 1})
        assert controller.plan.phase.value == "Failed"

    def test_terminating_cuts_an_in_flight_job(self) -> None:
        controller = Controller(analysis_run({"name": "smoke", "provider": JOB}))
        waiting = Outcome.waiting(T0 + timedelta(seconds=5), metadata={"job-name": "smoke-1"})
        controller.measure({"smoke": waiting})
        controller.run["spec"]["terminate"] = True

        plan = plan_run(controller.run, T0 + timedelta(seconds=2))

        assert plan.cancelled == ["smoke"]
        measurement = plan.status["metricResults"][0]["measurements"][0]
        assert measurement["phase"] == "Successful"
        assert measurement["message"] == "Metric Terminated"
        assert measurement["metadata"] == {"job-name": "smoke-1"}
        assert "resumeAt" not in measurement
        assert plan.phase.value == "Successful"

    def test_a_completed_run_never_changes_again(self) -> None:
        controller = Controller(analysis_run(metric(successCondition="true")))
        controller.measure({"success-rate": 1})
        frozen = copy.deepcopy(controller.status)

        later = T0 + timedelta(hours=1)
        assert plan_run(controller.run, later).status == frozen
        late = record(controller.run, frozen, "success-rate", Outcome.measured(0), later)
        assert late == frozen


class TestScheduling:
    def test_initial_delay_postpones_the_first_measurement(self) -> None:
        controller = Controller(analysis_run(metric(initialDelay="5m", successCondition="true")))
        assert controller.plan.due == []
        assert controller.plan.next_wake == T0 + timedelta(minutes=5)

        early = plan_run(controller.run, T0 + timedelta(minutes=4, seconds=59))
        assert early.due == [] and early.next_wake == T0 + timedelta(minutes=5)
        assert controller.wake().due == ["success-rate"]

    def test_interval_counts_from_the_end_of_the_last_measurement(self) -> None:
        controller = Controller(analysis_run(metric(interval="30s", successCondition="true")))
        finished = T0 + timedelta(seconds=3)
        measured = Outcome.measured(1, started_at=T0)
        status = record(controller.run, controller.status, "success-rate", measured, finished)
        plan = plan_run({**controller.run, "status": status}, finished)
        assert plan.due == [] and plan.next_wake == finished + timedelta(seconds=30)
        measurement = plan.status["metricResults"][0]["measurements"][0]
        assert (measurement["startedAt"], measurement["finishedAt"]) == (
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:03Z",
        )

    def test_next_wake_is_the_earliest_of_all_metrics(self) -> None:
        controller = Controller(
            analysis_run(
                metric("a", interval="1m", successCondition="true"),
                metric("b", initialDelay="20s", successCondition="true"),
            )
        )
        controller.measure({"a": 1})
        assert controller.plan.next_wake == T0 + timedelta(seconds=20)

    def test_a_running_job_is_looked_at_again_at_resume_at(self) -> None:
        controller = Controller(analysis_run({"name": "smoke", "provider": JOB}))
        resume = T0 + timedelta(seconds=5)
        controller.measure({"smoke": Outcome.waiting(resume, metadata={"job-name": "smoke-1"})})

        running = controller.measurements("smoke")[0]
        assert (running["phase"], running["resumeAt"]) == ("Running", "2024-05-01T12:00:05Z")
        assert controller.result("smoke")["phase"] == "Running"
        assert controller.plan.due == [] and controller.plan.next_wake == resume

        assert controller.wake().due == ["smoke"]
        controller.measure({"smoke": Outcome.measured(True)})

        assert controller.plan.phase.value == "Successful"
        [finished] = controller.measurements("smoke")  # the same measurement, completed
        assert finished["startedAt"] == "2024-05-01T12:00:00Z"
        assert finished["finishedAt"] == "2024-05-01T12:00:05Z"
        assert finished["metadata"] == {"job-name": "smoke-1"}
        assert "resumeAt" not in finished

    def test_replanning_from_stored_status_gives_the_same_answer(self) -> None:
        """Restart safety: a new controller reading the stored run plans the same wake-up."""
        controller = Controller(
            analysis_run(
                metric("a", interval="1m", successCondition="true"),
                metric("b", initialDelay="90s", successCondition="true"),
            )
        )
        controller.measure({"a": 1})
        stored = copy.deepcopy(controller.run)

        for later in (T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=59)):
            again = plan_run(stored, later)
            assert (again.due, again.next_wake) == ([], T0 + timedelta(minutes=1))
            assert again.status == controller.status  # stored timestamps are never refreshed

        overdue = plan_run(stored, T0 + timedelta(minutes=5))
        assert overdue.due == ["a", "b"]


class TestInvalidSpecs:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"successCondition": "result[0] >= 0.95)"},
             "spec.metrics[0].successCondition: unexpected ')' at column 18"),
            ({"sucessCondition": "result > 1"},
             "unknown field 'sucessCondition' (did you mean 'successCondition'?)"),
            ({"failureLimit": "{{args.limit}}"},
             "spec.metrics[0].failureLimit: '{{args.limit}}' was never substituted"),
            ({"count": 3}, "spec.metrics[0].interval: required when count > 1"),
            ({"provider": {"datadog": {"query": "avg:errors"}}},
             "spec.metrics[0].provider.datadog: the datadog provider is not supported; "
             "use prometheus, web or job"),
            ({"interval": "{{args.interval}}"},
             "spec.metrics[0].interval: '{{args.interval}}' was never substituted"),
        ],
    )  # fmt: skip
    def test_the_run_ends_in_error_naming_the_field(
        self, change: dict[str, Any], message: str
    ) -> None:
        plan = plan_run(analysis_run(metric(**change)), T0)
        assert plan.done and plan.phase.value == "Error"
        assert plan.status["message"].startswith("Analysis spec invalid: ")
        assert message in plan.status["message"]

    def test_an_invalid_run_is_not_measured_even_once(self) -> None:
        run = analysis_run(metric(successCondition="result["))
        status = record(run, {}, "success-rate", Outcome.measured([1.0]), T0)
        assert status["phase"] == "Error" and "metricResults" not in status

    def test_recording_for_an_unknown_metric_is_a_programming_error(self) -> None:
        run = analysis_run(metric(successCondition="true"))
        with pytest.raises(KeyError, match="no metric named 'nope'"):
            record(run, plan_run(run, T0).status, "nope", Outcome.measured(1), T0)


@dataclass(frozen=True)
class ProviderOutcome:
    """The providers' own result type, as `analysis.providers.base.Outcome` defines it."""

    value: object = None
    error: str | None = None
    pending: bool = False
    resume_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def test_a_providers_outcome_is_recorded_as_it_is() -> None:
    run = analysis_run(metric(successCondition="result[0] > 0.5"))
    outcome = ProviderOutcome(value=[0.9], metadata={"query": "up"})
    status = record(run, plan_run(run, T0).status, "success-rate", outcome, T0)
    measurement = status["metricResults"][0]["measurements"][0]
    assert (measurement["phase"], measurement["metadata"]) == ("Successful", {"query": "up"})


def test_a_naive_now_is_taken_as_utc() -> None:
    plan = plan_run(analysis_run(metric(initialDelay="1m")), T0.replace(tzinfo=None))
    assert plan.status["startedAt"] == "2024-05-01T12:00:00Z"
    assert plan.next_wake == T0 + timedelta(minutes=1)


def test_outcomes_are_one_of_value_error_or_pending() -> None:
    with pytest.raises(ValueError, match="either pending or an error"):
        Outcome(error="x", pending=True)
    with pytest.raises(ValueError, match="resume_at only goes with a pending"):
        Outcome(value=1, resume_at=T0)
