"""Trigger conditions on the analysis evaluator, Argo's condition keys and Event names."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from analysis.evaluator import ConditionError, compile_condition, evaluate
from analysis.expr_time import TimeModule
from rollouts.notifications.triggers import (
    APPLICATION_NAMES,
    ROLLOUT_NAMES,
    ConditionResult,
    TriggerCondition,
    condition_key,
    run_trigger,
    trigger_for_reason,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
APP = {"metadata": {"name": "guestbook"},
       "status": {"operationState": {"phase": "Succeeded", "finishedAt": "2026-12-04T11:00:00Z",
                                     "syncResult": {"revision": "abc123"}},
                  "health": {"status": "Healthy", "lastTransitionTime": "2026-12-04T11:00:05Z"},
                  "sync": {"status": "Synced"}}}


def _run(when: str, *, once_per: str = "", obj: object = APP,
         names: frozenset[str] = APPLICATION_NAMES,
         empty: bool = False) -> list[ConditionResult]:
    variable = "app" if names is APPLICATION_NAMES else "rollout"
    return run_trigger([TriggerCondition(when, ("t",), once_per)], {variable: obj}, NOW,
                       names=names, empty_when_triggers=empty)


class TestArgoCDConditions:
    @pytest.mark.parametrize(("when", "expected"), [
        ("app.status.operationState.phase in ['Succeeded']", True),
        ("app.status.operationState.phase in ['Error', 'Failed']", False),
        ("app.status.operationState != nil and app.status.operationState.phase in "
         "['Succeeded'] and app.status.health.status == 'Healthy'", True),
        ("app.status.sync.status == 'Unknown' or app.status.health.status == 'Degraded'",
         False),
        ("app.metadata.deletionTimestamp != nil", False),
        # Argo CD's on-deployed trigger, Go time methods included:
        ("app.status.operationState != nil and app.status.operationState.phase in "
         "['Succeeded'] and app.status.health.status == 'Healthy' and "
         "!time.Parse(app.status.health.lastTransitionTime).Before("
         "time.Parse(app.status.operationState.finishedAt))", True),
        ("time.Now().Sub(time.Parse(app.status.operationState.finishedAt)).Minutes() >= 60",
         True),
        ("time.Now().Sub(time.Parse(app.status.operationState.finishedAt)).Hours() > 1",
         False),
    ])
    def test_conditions_from_the_argo_cd_catalogue(self, when: str, expected: bool) -> None:
        (result,) = _run(when)
        assert result.error is None
        assert result.triggered is expected

    def test_a_field_of_nil_is_not_triggered_and_says_why(self) -> None:
        (result,) = _run("app.status.operationState.phase == 'Succeeded'",
                         obj={"status": {}})
        assert result.triggered is False
        assert result.error is not None and "cannot fetch phase from nil" in result.error

    def test_once_per_is_printed_as_go_does(self) -> None:
        (result,) = _run("true", once_per="app.status.operationState?.syncResult?.revision")
        assert result.once_per == "abc123"
        (missing,) = _run("true", once_per="app.status.nothing?.here")
        assert missing.once_per == "<nil>"
        printed = [_run("true", once_per="app.v", obj={"v": value})[0].once_per
                   for value in (3.0, 2.5, 1e6, 1e21, [1, "a"], {"b": 1.5e-7})]
        # fmt.Sprint: %v prints a float64 with %g's shortest form (1e6 is "1e+06").
        assert printed == ["3", "2.5", "1e+06", "1e+21", "[1 a]", "map[b:1.5e-07]"]

    def test_an_empty_when_never_fires_for_applications_always_for_rollout_events(self) -> None:
        (app,) = _run("")
        (rollout,) = _run("", obj={}, names=ROLLOUT_NAMES, empty=True)
        assert (app.triggered, rollout.triggered) == (False, True)


class TestConditionKeys:
    def test_the_key_is_the_index_and_the_base64url_sha1_of_when(self) -> None:
        when = "app.status.operationState.phase in ['Succeeded']"
        digest = base64.urlsafe_b64encode(hashlib.sha1(when.encode()).digest()).decode()
        assert condition_key(0, when) == "[0]." + digest.rstrip("=")
        assert condition_key(2, "").startswith("[2].2jmj7l5rSw0yVb_vlWAYkK_YBwk")


class TestEventReasonsNameTriggers:
    @pytest.mark.parametrize(("reason", "trigger"), [
        ("RolloutCompleted", "on-rollout-completed"),
        ("RolloutStepCompleted", "on-rollout-step-completed"),
        ("RolloutUpdated", "on-rollout-updated"),
        ("ScalingReplicaSet", "on-scaling-replica-set"),
        ("RolloutPaused", "on-rollout-paused"),
        ("RolloutAborted", "on-rollout-aborted"),
        ("AnalysisRunRunning", "on-analysis-run-running"),
        ("AnalysisRunFailed", "on-analysis-run-failed"),
        ("AnalysisRunError", "on-analysis-run-error"),
    ])
    def test_argo_rollouts_kebab_case(self, reason: str, trigger: str) -> None:
        assert trigger_for_reason(reason) == trigger


class TestTheEvaluatorStaysSafe:
    def test_analysis_conditions_still_know_only_result_and_no_methods(self) -> None:
        with pytest.raises(ConditionError, match="unknown name app"):
            evaluate("app.x == 1", {})
        with pytest.raises(ConditionError, match="conditions have no methods"):
            evaluate("result.Before(result)", {})
        assert evaluate("result[0] > 0.5", [0.9]) is True

    def test_methods_reach_only_go_time_values(self) -> None:
        names = frozenset({"app", "time"})
        condition = compile_condition("app.name.upper() == 'X'", names, True)
        with pytest.raises(ConditionError, match="cannot call upper"):
            condition.evaluate_in({"app": {"name": "x"}})
        condition = compile_condition("time.system('id')", names, True)
        with pytest.raises(ConditionError, match="time has no function system"):
            condition.evaluate_in({"time": TimeModule(NOW)})

    def test_comparing_times_says_what_to_write_and_names_go_types(self) -> None:
        (result,) = _run("time.Now() < time.Parse(app.status.health.lastTransitionTime)")
        assert result.error is not None and "GoTime" not in result.error
        assert ("< is not defined on time.Time; compare times with .Before(t), .After(t)"
                in result.error)
        (mixed,) = _run("time.Now() == 1 || time.Now().Sub(time.Now()) > 1")
        assert mixed.error is not None and "GoDuration" not in mixed.error
        assert "time.Duration" in mixed.error and "Seconds()" in mixed.error
        (other,) = _run("time.Now() + 1 > 0")
        assert other.error is not None and "mismatched types time.Time and int" in other.error

    def test_a_bad_time_is_an_error_not_a_crash(self) -> None:
        (result,) = _run("time.Parse(app.metadata.name).Before(time.Now())")
        assert result.triggered is False
        assert result.error is not None and "is not an RFC 3339 time" in result.error
