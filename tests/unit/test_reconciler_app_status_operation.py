"""When an Application syncs by itself, and the records of its operations (Argo CD's rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.operation import (
    SELF_HEAL_DELAY,
    append_history,
    decide_auto_sync,
    finish_operation,
    operation_id,
    requested_operation,
    retry_at,
    start_operation,
)
from rollouts.api import Application
from rollouts.api.phases import OperationPhase, SyncStatusCode

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SOURCE = {"repoURL": "git://x/apps", "path": "web"}
REV = "a" * 40


def app(automated: dict[str, Any] | None = None, retry: dict[str, Any] | None = None,
        history_limit: int | None = None) -> Application:
    policy: dict[str, Any] = {}
    if automated is not None:
        policy["automated"] = automated
    if retry is not None:
        policy["retry"] = retry
    spec: dict[str, Any] = {"source": SOURCE, "destination": {"namespace": "web"},
                            "syncPolicy": policy}
    if history_limit is not None:
        spec["revisionHistoryLimit"] = history_limit
    return Application.model_validate(
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
         "metadata": {"name": "web"}, "spec": spec}, by_alias=True, by_name=False)


def last(phase: str, *, revision: str = REV, finished: datetime = NOW) -> dict[str, Any]:
    return {"phase": phase, "message": "boom", "finishedAt": finished.isoformat(),
            "syncResult": {"revision": revision, "source": SOURCE}}


def decide(application: Application, state: dict[str, Any] | None = None, *,
           sync: SyncStatusCode = SyncStatusCode.OUT_OF_SYNC, only_pruning: bool = False,
           refused: str | None = None, now: datetime = NOW) -> Any:
    return decide_auto_sync(application, sync_status=sync, revision=REV, source=SOURCE,
                            operation_state=state, only_pruning=only_pruning,
                            refused=refused, now=now)


class TestAutomatedSync:
    def test_without_automation_nothing_starts(self) -> None:
        assert decide(app()).start is None

    def test_a_new_revision_out_of_sync_starts_an_automated_sync(self) -> None:
        decision = decide(app({"prune": True}), last("Succeeded", revision="b" * 40))
        assert decision.start == {"sync": {"revision": REV, "prune": True},
                                  "initiatedBy": {"automated": True}}
        assert not decision.self_heal

    def test_a_synced_app_or_a_running_operation_starts_nothing(self) -> None:
        assert decide(app({}), sync=SyncStatusCode.SYNCED).start is None
        assert decide(app({}), {"phase": "Running"}).start is None

    def test_only_pruning_with_prune_off_starts_nothing(self) -> None:
        assert decide(app({}), only_pruning=True).start is None
        assert decide(app({"prune": True}), only_pruning=True).start is not None

    def test_a_refused_plan_is_a_sync_error_condition(self) -> None:
        decision = decide(app({"prune": True}), refused="empty render: refusing to prune")
        assert decision.start is None
        assert decision.condition == ("SyncError", "empty render: refusing to prune")

    def test_a_failed_attempt_at_this_revision_is_not_repeated(self) -> None:
        decision = decide(app({"selfHeal": True}), last("Failed"))
        assert decision.start is None
        assert decision.condition is not None
        assert decision.condition[0] == "SyncError"
        assert "boom" in decision.condition[1]

    def test_a_succeeded_attempt_without_self_heal_leaves_drift_alone(self) -> None:
        assert decide(app({}), last("Succeeded")).start is None

    def test_a_changed_source_is_a_new_attempt_at_the_same_revision(self) -> None:
        state = last("Failed")
        state["syncResult"]["source"] = {"repoURL": "git://x/apps", "path": "old"}
        assert decide(app({}), state).start is not None


class TestSelfHeal:
    def test_drift_after_a_successful_sync_heals_once_the_delay_passed(self) -> None:
        finished = NOW - SELF_HEAL_DELAY - timedelta(seconds=1)
        decision = decide(app({"selfHeal": True}), last("Succeeded", finished=finished))
        assert decision.start is not None and decision.self_heal

    def test_drift_right_after_a_sync_waits_for_the_delay(self) -> None:
        decision = decide(app({"selfHeal": True}), last("Succeeded"))
        assert decision.start is None
        assert decision.wake_at == NOW + SELF_HEAL_DELAY


class TestOperationRecords:
    def test_a_started_operation_is_running_at_its_revision(self) -> None:
        operation = {"sync": {"revision": REV}, "initiatedBy": {"username": "alice"}}
        state = start_operation(operation, revision=REV, source=SOURCE, now=NOW)
        assert state == {"operation": operation, "phase": "Running", "message": "sync started",
                         "startedAt": "2024-05-01T12:00:00Z",
                         "syncResult": {"revision": REV, "source": SOURCE}}
        assert operation_id(state) == str(int(NOW.timestamp()))
        assert operation_id({**state, "retryCount": 2}).endswith("-2")

    def test_success_ends_the_operation(self) -> None:
        state = start_operation({"sync": {}}, revision=REV, source=None, now=NOW)
        ended = finish_operation(app(), state, OperationPhase.SUCCEEDED, "ok", NOW)
        assert (ended["phase"], ended["message"], ended["finishedAt"]) == (
            "Succeeded", "ok", "2024-05-01T12:00:00Z")
        assert retry_at(app(), ended) is None

    def test_a_failure_with_retries_left_stays_running_until_the_backoff_ends(self) -> None:
        retry = {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"}}
        application = app(retry=retry)
        state = start_operation({"sync": {}}, revision=REV, source=None, now=NOW)
        first = finish_operation(application, state, OperationPhase.FAILED, "boom", NOW)
        assert (first["phase"], first["retryCount"]) == ("Running", 1)
        assert first["message"].startswith("Retrying attempt #1 at 12:00:05: boom")
        assert retry_at(application, first) == NOW + timedelta(seconds=5)
        second = finish_operation(application, first, OperationPhase.FAILED, "boom", NOW)
        assert retry_at(application, second) == NOW + timedelta(seconds=10)
        third = finish_operation(application, second, OperationPhase.FAILED, "boom", NOW)
        assert third["phase"] == "Failed"

    def test_a_negative_limit_retries_forever_and_no_retry_block_never(self) -> None:
        forever = app(retry={"limit": -1})
        state = {"phase": "Running", "retryCount": 50}
        assert finish_operation(forever, state, OperationPhase.ERROR, "x", NOW)["phase"] == \
            "Running"
        assert finish_operation(app(), state, OperationPhase.ERROR, "x", NOW)["phase"] == \
            "Error"

    def test_the_requests_own_retry_wins(self) -> None:
        state = start_operation({"sync": {}, "retry": {"limit": 1}}, revision=REV, source=None,
                                now=NOW)
        assert finish_operation(app(), state, OperationPhase.FAILED, "x", NOW)["phase"] == \
            "Running"

    def test_history_appends_with_growing_ids_and_keeps_the_newest(self) -> None:
        state = {"startedAt": "2024-05-01T11:59:00Z", "syncResult": {"revision": REV},
                 "operation": {"initiatedBy": {"automated": True}}}
        history = None
        for _ in range(3):
            history = append_history(history, state, source=SOURCE, now=NOW, limit=2)
        assert history is not None
        assert [entry["id"] for entry in history] == [1, 2]
        assert history[-1] == {"id": 2, "revision": REV, "deployedAt": "2024-05-01T12:00:00Z",
                               "deployStartedAt": "2024-05-01T11:59:00Z", "source": SOURCE,
                               "initiatedBy": {"automated": True}}

    def test_only_a_sync_request_is_an_operation(self) -> None:
        assert requested_operation({"operation": {"sync": {}}}) == {"sync": {}}
        assert requested_operation({"operation": {"info": []}}) is None
        assert requested_operation({}) is None
