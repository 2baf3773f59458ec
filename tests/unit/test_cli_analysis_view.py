"""What the CLI shows of analysis (rollouts.cli.analysis_view): pure text from literals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analysis.decide import Outcome, record
from analysis.evaluator import evaluate
from rollouts.api import AnalysisPhase
from rollouts.cli.analysis_view import (
    TrialMetric,
    args_text,
    measurement_line,
    render_run,
    render_trial,
    shown_target,
    trial_metrics,
    trial_verdict,
    why,
)

A = "\u03b1"  # the AnalysisRun icon (Greek alpha)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def measurement(phase: str, value: str | None = None, seconds_ago: float = 10,
                message: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"phase": phase, "startedAt": ago(seconds_ago),
                             "finishedAt": ago(seconds_ago)}
    if value is not None:
        found["value"] = value
    if message is not None:
        found["message"] = message
    return found


def analysis_run(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "demo-6f7c9d8b5-2-1", "namespace": "shop"},
        "spec": {
            "args": [{"name": "service", "value": "checkout"},
                     {"name": "api-token",
                      "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}],
            "metrics": [
                {"name": "success-rate", "interval": "30s", "count": 3,
                 "successCondition": "result[0] >= 0.95",
                 "failureCondition": "result[0] < 0.8",
                 "provider": {"prometheus": {"address": "http://prom:9090",
                                             "query": "sum(rate(x[1m]))"}}},
                {"name": "latency", "successCondition": "result < 300",
                 "provider": {"web": {"url": "http://checks/latency", "jsonPath": "{$.p99}"}}},
            ],
            "dryRun": [{"metricName": "lat.*"}],
            **spec,
        },
        "status": status if status is not None else {
            "phase": "Failed", "startedAt": ago(120), "completedAt": ago(30),
            "message": 'Metric "success-rate" assessed Failed due to failed (1) > '
                       "failureLimit (0)",
            "runSummary": {"count": 1, "successful": 0, "failed": 1, "inconclusive": 0,
                           "error": 0},
            "metricResults": [{
                "name": "success-rate", "phase": "Failed", "count": 7, "successful": 6,
                "failed": 1, "inconclusive": 0, "error": 1, "consecutiveError": 0,
                "measurements": [measurement("Successful", f"[0.9{i}]", 200 - i)
                                 for i in range(5, 10)] + [
                    measurement("Error", None, 40, "prometheus at http://prom:9090 did not "
                                                   "answer within 30s"),
                    measurement("Failed", "[0.71]", 30)],
            }],
        },
    }


class TestGetAnalysisRun:
    def test_the_header_names_the_run_and_says_why_it_ended(self) -> None:
        view = render_run(analysis_run(), NOW)
        lines = view.splitlines()
        assert lines[0] == "Name:          demo-6f7c9d8b5-2-1"
        assert lines[1] == "Namespace:     shop"
        assert lines[2] == ('Status:        ✖ Failed   (Metric "success-rate" assessed Failed '
                            "due to failed (1) > failureLimit (0))")
        assert "Started:       2026-01-01T11:58:00Z (2m ago)" in lines
        assert "Completed:     2026-01-01T11:59:30Z (30s ago)" in lines

    def test_secret_backed_arguments_are_masked(self) -> None:
        view = render_run(analysis_run(), NOW)
        assert "Args:          service=checkout  api-token=*****" in view.splitlines()
        assert "creds" not in view

    def test_a_metric_block_has_provider_phase_counters_and_conditions(self) -> None:
        view = render_run(analysis_run(), NOW)
        block = view.split(f"{A} success-rate")[1].split(f"{A} latency")[0]
        assert "Provider:      prometheus" in block
        assert "Phase:         ✖ Failed" in block
        assert ("Counters:      count 7  successful 6  failed 1  inconclusive 0  error 1  "
                "consecutiveError 0") in block
        assert "Success:       result[0] >= 0.95" in block
        assert "Failure:       result[0] < 0.8" in block
        assert "Settings:      count 3  interval 30s" in block

    def test_only_the_last_five_measurements_are_listed_oldest_first(self) -> None:
        view = render_run(analysis_run(), NOW)
        block = view.split(f"{A} success-rate")[1].split(f"{A} latency")[0]
        assert "Measurements:  last 5 of 7 kept" in block
        rows = [line.strip() for line in block.splitlines() if line.startswith("    ")]
        assert rows[0].split() == ["PHASE", "VALUE", "FINISHED", "AT", "MESSAGE"]
        assert [row.split()[1] for row in rows[1:]] == [
            "Successful", "Successful", "Successful", "Error", "Failed"]
        assert "[0.95]" not in block and "[0.96]" not in block
        assert rows[-2].endswith("prometheus at http://prom:9090 did not answer within 30s")
        assert rows[-1].split()[:4] == ["✖", "Failed", "[0.71]", "2026-01-01T11:59:30Z"]

    def test_a_dry_run_metric_is_marked_even_before_its_first_measurement(self) -> None:
        view = render_run(analysis_run(), NOW)
        block = view.split(f"{A} latency")[1]
        assert block.splitlines()[0] == "  (dry run: never decides the run)"
        assert "Provider:      web" in block
        assert "Phase:         ◷ Pending" in block
        assert "Measurements:  none yet" in block

    def test_the_status_flag_marks_dry_run_too(self) -> None:
        run = analysis_run(dryRun=None)
        run["status"]["metricResults"].append({"name": "latency", "dryRun": True,
                                               "phase": "Running"})
        assert f"{A} latency  (dry run: never decides the run)" in render_run(run, NOW)
        assert f"{A} success-rate  (dry run" not in render_run(run, NOW)

    def test_a_run_the_controller_has_not_seen_is_pending(self) -> None:
        view = render_run(analysis_run(status={}), NOW)
        assert "Status:        ◷ Pending" in view
        assert "Started:       -" in view
        assert view.count("Measurements:  none yet") == 2

    def test_results_without_a_metric_in_the_spec_are_still_shown(self) -> None:
        run = analysis_run()
        run["status"]["metricResults"].append({"name": "removed", "phase": "Successful"})
        block = render_run(run, NOW).split(f"{A} removed")[1]
        assert "Provider:      ?" in block

    def test_a_terminated_run_says_so(self) -> None:
        assert "Terminate:     requested (spec.terminate)" in render_run(
            analysis_run(terminate=True), NOW)


class TestArgsText:
    def test_values_secrets_and_rollout_supplied_arguments(self) -> None:
        args = [{"name": "a", "value": "1"},
                {"name": "b", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "c", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "d", "valueFrom": {"podTemplateHashValue": "Stable"}},
                {"name": "e"}]
        assert args_text(args, frozenset({"a"})) == (
            "a=1 (--arg)  b=*****  c=(fieldRef metadata.name)  "
            "d=(podTemplateHashValue Stable)  e=(no value)")

    def test_no_arguments(self) -> None:
        assert args_text(None) == "-"


# --- why: the verdict read backwards, checked against the real judge -------------------

def judged(success: str | None, failure: str | None, value: object) -> dict[str, Any]:
    """The measurement `analysis.decide.record` writes for `value`."""
    metric: dict[str, Any] = {"name": "m", "provider": {"web": {"url": "http://x"}}}
    if success:
        metric["successCondition"] = success
    if failure:
        metric["failureCondition"] = failure
    run = {"metadata": {"name": "r"}, "spec": {"metrics": [metric]}}
    status = record(run, {}, "m", Outcome.measured(value), NOW)
    found: dict[str, Any] = status["metricResults"][0]["measurements"][-1]
    return found


CASES = [(s, f, v) for s in ("result > 10", None) for f in ("result < 0", None)
         for v in (20, 5, -1)]


@pytest.mark.parametrize(("success", "failure", "value"), CASES)
def test_why_states_only_what_the_conditions_say(success: str | None, failure: str | None,
                                                 value: int) -> None:
    """Every "holds" / "does not hold" in the reason is true of the value."""
    shown = judged(success, failure, value)
    reason = why(shown["phase"], success=success, failure=failure,
                 message=shown.get("message"))
    assert reason
    for name, text in (("successCondition", success), ("failureCondition", failure)):
        if text is None:
            assert name not in reason
            continue
        holds = evaluate(text, value)
        if reason.startswith("neither"):
            assert not holds, (reason, value)
        elif f"{name} `{text}` holds" in reason:
            assert holds, (reason, value)
        elif f"{name} `{text}` does not" in reason:
            assert not holds, (reason, value)


def test_why_explains_each_phase() -> None:
    assert why("Failed", success="r > 1", failure=None, message=None) == \
        "successCondition `r > 1` does not hold"
    assert why("Failed", success="r > 1", failure="r < 0", message=None) == \
        "failureCondition `r < 0` holds"
    assert why("Successful", success=None, failure="r < 0", message=None) == \
        "failureCondition `r < 0` does not hold"
    assert why("Successful", success=None, failure=None, message=None) == \
        "no condition: any value is Successful"
    assert why("Inconclusive", success="r > 1", failure="r < 0", message=None) == \
        "neither successCondition `r > 1` nor failureCondition `r < 0` holds"
    assert why("Error", success="r > 1", failure=None, message="connection refused") == \
        "connection refused"


# --- analysis run ----------------------------------------------------------------------

def prometheus(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "provider": {"prometheus": {"address": "http://p", "query": "up"}},
            **extra}


class TestTrial:
    def test_each_metric_shows_value_verdict_and_why(self) -> None:
        status = {"metricResults": [
            {"name": "ok", "measurements": [measurement("Successful", "[0.99]")]},
            {"name": "bad", "measurements": [measurement("Failed", "[0.5]")]},
            {"name": "down", "measurements": [measurement("Error", None, 1,
                                                          "connection refused")]}]}
        metrics = [prometheus("ok", successCondition="result[0] > 0.9"),
                   prometheus("bad", successCondition="result[0] > 0.9"),
                   prometheus("down"),
                   {"name": "smoke", "provider": {"job": {"spec": {}}}}]
        trials = trial_metrics(metrics, status, {"smoke": "job metrics create Jobs"},
                               lambda text: text)
        text = render_trial("AnalysisTemplate t (from t.yaml)", "shop", "x=1", trials)
        assert text.splitlines()[:3] == ["Template:      AnalysisTemplate t (from t.yaml)",
                                         "Namespace:     shop", "Args:          x=1"]
        ok = text.split(f"{A} ok  prometheus")[1].split(f"{A} bad")[0]
        assert "Asked:         up" in ok
        assert "Value:         [0.99]" in ok
        assert "Verdict:       ✔ Successful: successCondition `result[0] > 0.9` holds" in ok
        bad = text.split(f"{A} bad  prometheus")[1]
        assert "Verdict:       ✖ Failed: successCondition `result[0] > 0.9` does not hold" in bad
        down = text.split(f"{A} down  prometheus")[1]
        assert "Value:" not in down.split(f"{A} smoke")[0]
        assert "Verdict:       ⚠ Error: connection refused" in down
        assert f"{A} smoke  job\n  skipped: job metrics create Jobs" in text
        assert text.splitlines()[-1] == \
            "Result:  ✖ Failed (1 Error, 1 Failed, 1 Successful; 1 skipped)"

    def test_secrets_are_redacted_in_everything_shown(self) -> None:
        metric = {"name": "w", "successCondition": "result == 'tok3n'",
                  "provider": {"web": {"url": "http://user:pw@h:8080/c?t=tok3n"}}}
        status = {"metricResults": [{"name": "w", "measurements": [
            measurement("Failed", "tok3n-echo", 1)]}]}
        [trial] = trial_metrics([metric], status, {}, lambda t: t.replace("tok3n", "*****"))
        assert trial.target == "GET http://h:8080/c?t=*****"
        assert trial.success == "result == '*****'"
        assert trial.measurement is not None and trial.measurement["value"] == "*****-echo"

    def test_dry_run_metrics_never_decide(self) -> None:
        failed_dry = TrialMetric("a", "web", "GET x", None, None, dry_run=True,
                                 measurement={"phase": "Failed"})
        good = TrialMetric("b", "web", "GET x", None, None, measurement={"phase": "Successful"})
        skipped = TrialMetric("c", "job", "job", None, None, skipped="jobs")
        assert trial_verdict([failed_dry, good, skipped]) is AnalysisPhase.SUCCESSFUL
        assert "(dry run: does not decide)" in render_trial("t", "ns", "-", [failed_dry])

    def test_the_worst_verdict_decides(self) -> None:
        trials = [TrialMetric(n, "web", "", None, None, measurement={"phase": p})
                  for n, p in (("a", "Inconclusive"), ("b", "Error"), ("c", "Successful"))]
        assert trial_verdict(trials) is AnalysisPhase.ERROR

    def test_nothing_measured(self) -> None:
        skipped = TrialMetric("c", "job", "job", None, None, skipped="jobs")
        assert render_trial("t", "ns", "-", [skipped]).endswith(
            "Result:  nothing measured; 1 skipped")

    def test_shown_target_of_a_post(self) -> None:
        metric = {"provider": {"web": {"url": "https://h/x", "method": "post"}}}
        assert shown_target(metric, str) == "POST https://h/x"


def test_measurement_line() -> None:
    line = measurement_line("rate", 2, measurement("Error", None, 1, "timed out"), 12.4)
    assert line == "[+12s] rate #2  ⚠ Error  (timed out)"
    assert measurement_line("rate", 1, measurement("Successful", "[1]"), 0) == \
        "[+0s] rate #1  ✔ Successful  value [1]"
