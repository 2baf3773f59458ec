"""The AnalysisRun state machine, measurement by measurement: how values become verdicts,
and how a metric's verdicts add up to its phase (Argo's rules, DESIGN.md section 3).

Each test plays the analysis controller: plan the run, feed the due metrics scripted
provider outcomes, record them, plan again, move the clock to the next wake-up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analysis.decide import Outcome, RunPlan, plan_run, record

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PROMETHEUS = {"prometheus": {"address": "http://prometheus:9090", "query": "up"}}
SMOKE_TEST_JOB = {
    "job": {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "test", "image": "busybox"}],
                    "restartPolicy": "Never",
                }
            }
        }
    }
}


def metric(name: str = "success-rate", **fields: Any) -> dict[str, Any]:
    return {"name": name, "provider": PROMETHEUS, **fields}


def analysis_run(*metrics: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "guestbook-6c54544bf9-2", "namespace": "default"},
        "spec": {"metrics": list(metrics), **spec},
    }


class Controller:
    """Drives one run like the analysis controller does, with scripted provider answers."""

    def __init__(self, run: dict[str, Any], now: datetime = T0) -> None:
        self.run = run
        self.now = now
        self.plan = plan_run(run, now)
        self.run["status"] = self.plan.status

    def measure(self, answers: dict[str, object]) -> RunPlan:
        """Record an answer (a value or an Outcome) for every due metric, then re-plan."""
        status = self.plan.status
        for name in self.plan.due:
            answer = answers[name]
            outcome = answer if isinstance(answer, Outcome) else Outcome.measured(answer)
            status = record(self.run, status, name, outcome, self.now)
        self.run["status"] = status
        self.plan = plan_run(self.run, self.now)
        self.run["status"] = self.plan.status
        return self.plan

    def wake(self) -> RunPlan:
        """Move the clock to the plan's next wake-up and plan."""
        assert self.plan.next_wake is not None, "nothing scheduled"
        self.now = self.plan.next_wake
        self.plan = plan_run(self.run, self.now)
        self.run["status"] = self.plan.status
        return self.plan

    def feed(self, name: str, answers: Iterable[object]) -> list[str]:
        """Measure `name` once per answer (waking in between); the run phase after each."""
        phases = []
        for answer in answers:
            if self.plan.done:
                break
            if name not in self.plan.due:
                self.wake()
            assert name in self.plan.due
            phases.append(self.measure({name: answer}).phase.value)
        return phases

    @property
    def status(self) -> dict[str, Any]:
        return self.plan.status

    def result(self, name: str = "success-rate") -> dict[str, Any]:
        return next(r for r in self.status["metricResults"] if r["name"] == name)

    def measurements(self, name: str = "success-rate") -> list[dict[str, Any]]:
        measurements: list[dict[str, Any]] = self.result(name)["measurements"]
        return measurements


SUCCESS_RATE = metric(interval="1m", count=3, successCondition="result[0] >= 0.95")


class TestSuccessRateMetric:
    def test_passes_after_count_measurements(self) -> None:
        """Given success-rate measured 3 times a minute apart, all >= 0.95."""
        controller = Controller(analysis_run(SUCCESS_RATE))
        assert controller.plan.due == ["success-rate"]
        assert controller.status["phase"] == "Running"
        assert controller.status["startedAt"] == "2024-05-01T12:00:00Z"

        phases = controller.feed("success-rate", [[0.99], [0.97], [0.96]])

        assert phases == ["Running", "Running", "Successful"]
        assert controller.plan.done and controller.plan.next_wake is None
        result = controller.result()
        assert result["phase"] == "Successful"
        assert (result["count"], result["successful"], result["failed"]) == (3, 3, 0)
        assert [m["value"] for m in controller.measurements()] == ["[0.99]", "[0.97]", "[0.96]"]
        assert [m["startedAt"][11:16] for m in controller.measurements()] == [
            "12:00",
            "12:01",
            "12:02",
        ]
        assert controller.status["runSummary"] == {
            "count": 1,
            "successful": 1,
            "failed": 0,
            "inconclusive": 0,
            "error": 0,
        }
        assert controller.status["completedAt"] == "2024-05-01T12:02:00Z"

    def test_a_failure_spike_fails_the_run_with_failure_limit_0(self) -> None:
        controller = Controller(analysis_run(SUCCESS_RATE))

        phases = controller.feed("success-rate", [[0.99], [0.80], [0.99]])

        assert phases == ["Running", "Failed"]  # the run ends at once
        assert controller.plan.done
        assert controller.status["message"] == (
            'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)'
        )
        assert controller.measurements()[-1] == {
            "phase": "Failed",
            "startedAt": "2024-05-01T12:01:00Z",
            "finishedAt": "2024-05-01T12:01:00Z",
            "value": "[0.8]",
        }

    def test_the_same_spike_passes_with_failure_limit_1(self) -> None:
        tolerant = {**SUCCESS_RATE, "failureLimit": 1}
        controller = Controller(analysis_run(tolerant))

        phases = controller.feed("success-rate", [[0.99], [0.80], [0.99]])

        assert phases == ["Running", "Running", "Successful"]
        assert (controller.result()["failed"], controller.result()["successful"]) == (1, 2)

    def test_two_failures_exceed_failure_limit_1(self) -> None:
        tolerant = {**SUCCESS_RATE, "failureLimit": "1"}  # substituted from {{args.X}}
        controller = Controller(analysis_run(tolerant))

        assert controller.feed("success-rate", [[0.5], [0.5]]) == ["Running", "Failed"]
        assert "failed (2) > failureLimit (1)" in controller.status["message"]


class TestPrometheusDown:
    def test_errors_accumulate_to_error_and_never_to_success(self) -> None:
        """Given Prometheus refusing connections, the 5th consecutive error (> limit 4) ends it."""
        controller = Controller(analysis_run(metric(successCondition="result[0] >= 0.95")))
        down = Outcome.failed("cannot query http://prometheus:9090: connection refused")

        phases = controller.feed("success-rate", [down] * 6)

        assert phases == ["Running"] * 4 + ["Error"]
        result = controller.result()
        assert (result["error"], result["consecutiveError"], result["count"]) == (5, 5, 0)
        assert controller.status["message"] == (
            'Metric "success-rate" assessed Error due to consecutiveErrors (5) > '
            'consecutiveErrorLimit (4): "Error Message: cannot query '
            'http://prometheus:9090: connection refused"'
        )
        assert {m["phase"] for m in controller.measurements()} == {"Error"}

    def test_errors_are_retried_every_10_seconds(self) -> None:
        controller = Controller(analysis_run(metric(interval="5m", successCondition="true")))
        controller.measure({"success-rate": Outcome.failed("timeout")})
        assert controller.plan.next_wake == T0 + timedelta(seconds=10)

    def test_a_good_measurement_resets_the_consecutive_errors(self) -> None:
        controller = Controller(
            analysis_run(metric(interval="1m", count=3, successCondition="result[0] > 0"))
        )
        down = Outcome.failed("timeout")

        controller.feed("success-rate", [down, down, down, [1.0], down])

        result = controller.result()
        assert (result["error"], result["consecutiveError"], result["count"]) == (4, 1, 1)
        assert controller.status["phase"] == "Running"

    def test_a_custom_consecutive_error_limit(self) -> None:
        controller = Controller(
            analysis_run(metric(consecutiveErrorLimit=0, successCondition="true"))
        )
        assert controller.feed("success-rate", [Outcome.failed("boom")]) == ["Error"]


class TestMissingData:
    def test_empty_result_is_success_when_the_condition_says_so(self) -> None:
        """Argo's documented idiom for "no data is fine": len(result) == 0 || ..."""
        controller = Controller(
            analysis_run(metric(successCondition="len(result) == 0 || result[0] < 5"))
        )
        assert controller.feed("success-rate", [[]]) == ["Successful"]
        assert controller.measurements()[0]["value"] == "[]"

    def test_empty_result_is_an_error_when_the_condition_indexes_it(self) -> None:
        controller = Controller(analysis_run(metric(successCondition="result[0] < 5")))

        assert controller.feed("success-rate", [[]] * 5) == ["Running"] * 4 + ["Error"]

        first = controller.measurements()[0]
        assert first["phase"] == "Error"
        assert first["message"] == (
            'successCondition "result[0] < 5" could not be evaluated: index out of range: 0 '
            "(array length is 0) at column 7"
        )
        assert controller.result()["successful"] == 0

    def test_nan_never_passes_a_comparison(self) -> None:
        controller = Controller(analysis_run(metric(successCondition="result[0] >= 0.95")))
        assert controller.feed("success-rate", [[math.nan]]) == ["Failed"]
        assert controller.measurements()[0]["value"] == "[NaN]"


class TestJudgingOneMeasurement:
    @pytest.mark.parametrize(
        ("conditions", "value", "phase"),
        [
            ({"successCondition": "result > 0.9"}, 0.95, "Successful"),
            ({"successCondition": "result > 0.9"}, 0.5, "Failed"),
            ({"failureCondition": "result >= 10"}, 12, "Failed"),
            ({"failureCondition": "result >= 10"}, 3, "Successful"),
            ({"successCondition": "result >= 0.9", "failureCondition": "result < 0.5"}, 0.95,
             "Successful"),
            ({"successCondition": "result >= 0.9", "failureCondition": "result < 0.5"}, 0.7,
             "Inconclusive"),
            ({"successCondition": "result >= 0.9", "failureCondition": "result < 0.5"}, 0.1,
             "Failed"),
            ({"successCondition": "true", "failureCondition": "true"}, 1, "Failed"),
            ({}, 0.1, "Successful"),  # no conditions: any value passes (Argo)
            ({"successCondition": "result"}, 0.5, "Error"),  # not a bool
            ({"successCondition": "result.code == 200"}, {"code": 200}, "Successful"),
            ({"successCondition": "result == true"}, True, "Successful"),
        ],
    )  # fmt: skip
    def test_phase(self, conditions: dict[str, str], value: object, phase: str) -> None:
        controller = Controller(analysis_run(metric(**conditions)))
        controller.measure({"success-rate": value})
        assert controller.measurements()[0]["phase"] == phase

    def test_an_error_in_the_failure_condition_is_an_error(self) -> None:
        controller = Controller(
            analysis_run(metric(successCondition="true", failureCondition="result.x > 1"))
        )
        controller.measure({"success-rate": [1.0]})
        message = controller.measurements()[0]["message"]
        assert message.startswith('failureCondition "result.x > 1" could not be evaluated:')
        assert "cannot fetch x from array" in message

    @pytest.mark.parametrize(("succeeded", "phase"), [(True, "Successful"), (False, "Failed")])
    def test_a_job_metric_is_decided_by_the_job(self, succeeded: bool, phase: str) -> None:
        job = {"name": "smoke", "provider": SMOKE_TEST_JOB}
        controller = Controller(analysis_run(job))
        controller.measure({"smoke": Outcome.measured(succeeded, metadata={"job-name": "j-1"})})
        assert controller.status["phase"] == phase
        assert controller.measurements("smoke")[0]["metadata"] == {"job-name": "j-1"}

    @pytest.mark.parametrize(
        ("value", "stored"),
        [
            ([0.99, 0.5], "[0.99,0.5]"),
            (0.99, "0.99"),
            (1.0, "1"),
            (1e-05, "0.00001"),
            (math.inf, "+Inf"),
            (True, "true"),
            (None, "null"),
            ("ok", "ok"),
            ({"ok": True, "rate": 0.9}, '{"ok":true,"rate":0.9}'),
            (list(range(1000)), None),
        ],
    )
    def test_values_are_stored_as_argo_formats_them(
        self, value: object, stored: str | None
    ) -> None:
        controller = Controller(analysis_run(metric()))
        controller.measure({"success-rate": value})
        text = controller.measurements()[0]["value"]
        if stored is None:
            assert len(text) == 1024 and text.endswith("...")
        else:
            assert text == stored


class TestInconclusive:
    BOTH = {"successCondition": "result >= 0.9", "failureCondition": "result < 0.5"}

    def test_neither_condition_holding_makes_the_run_inconclusive(self) -> None:
        controller = Controller(analysis_run(metric(**self.BOTH)))
        assert controller.feed("success-rate", [0.7]) == ["Inconclusive"]
        assert controller.status["message"] == (
            'Metric "success-rate" assessed Inconclusive due to inconclusive (1) > '
            "inconclusiveLimit (0)"
        )

    def test_inconclusive_limit_tolerates_some(self) -> None:
        controller = Controller(
            analysis_run(metric(interval="1m", count=3, inconclusiveLimit=1, **self.BOTH))
        )
        assert controller.feed("success-rate", [0.7, 0.95, 0.95]) == [
            "Running",
            "Running",
            "Successful",
        ]
