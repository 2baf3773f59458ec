"""A reconcile whose pass only wrote the Rollout's status (a pause ended, a verdict or a
promote completed a step) plans the next pass at once from the Rollout as written, instead
of waiting for its watch event to come back through the queue; a pass that wrote any other
object ends the reconcile (the caches of those objects are behind it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client as k8s_client

from rollouts.controller import RolloutController
from rollouts.controller.rollout_controller import MAX_PASSES
from rollouts.core import Plan
from rollouts.kube import KubeClient
from rollouts.kube.watch import WatchEvent
from rollouts.runtime import Timers, WorkQueue

WEB: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
       "metadata": {"namespace": "shop", "name": "web", "resourceVersion": "10",
                    "managedFields": [{"manager": "x"}]},
       "spec": {"replicas": 2, "strategy": {"canary": {}}}, "status": {"currentStepIndex": 1}}
SOON = datetime.now(UTC) + timedelta(hours=1)


def _written(version: int, step: int) -> dict[str, Any]:
    # As the API server answers a status patch: the whole object, managedFields included.
    return {**WEB, "metadata": {**WEB["metadata"], "resourceVersion": str(version)},
            "status": {"currentStepIndex": step}}


class Scripted:
    """Stands in for `_pass`: hands out the scripted (plan, written) and records what each
    pass was planned from."""

    def __init__(self, *outcomes: tuple[Plan, dict[str, Any] | None]) -> None:
        self.outcomes = list(outcomes)
        self.planned_from: list[dict[str, Any]] = []

    def __call__(self, _key: str, raw: dict[str, Any]) -> tuple[Plan, dict[str, Any] | None]:
        self.planned_from.append(raw)
        return self.outcomes.pop(0)


def _controller(script: Scripted) -> tuple[RolloutController, Timers]:
    client = KubeClient(k8s_client.Configuration(host="http://127.0.0.1:9"))  # never called
    controller = RolloutController(client, namespace="shop")
    queue = WorkQueue("rollouts")
    timers = Timers(queue)  # not started: jobs wait in the scheduler
    controller.bind(queue, timers)
    controller._pass = script  # type: ignore[method-assign,assignment]
    controller.rollouts._apply(WatchEvent("ADDED", dict(WEB)))
    return controller, timers


def _status_only(step: int, wake: str | None = None) -> Plan:
    plan = Plan(status={"currentStepIndex": step})
    plan.event("RolloutStepCompleted", f"step {step}")
    if wake:
        plan.wake_at[wake] = SOON
    return plan


def test_a_status_only_pass_is_followed_at_once_by_a_pass_from_the_written_rollout() -> None:
    scaling = Plan(status={"currentStepIndex": 2}, scale={"web-abc": 2})
    scaling.wake_at["progress"] = SOON
    script = Scripted((_status_only(2, wake="pause"), _written(11, 2)),
                      (scaling, _written(12, 2)))
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        assert [r["metadata"]["resourceVersion"] for r in script.planned_from] == ["10", "11"]
        second = script.planned_from[1]
        assert "managedFields" not in second["metadata"]  # made like the cache's copies
        assert second["status"] == {"currentStepIndex": 2}
        # Only the last pass's wake-up times are set (each pass recomputes them all).
        assert set(timers.pending("shop/web")) == {"progress"}
        # The cache still holds version 10: the next reconcile waits for version 12.
        assert controller._written.cache_is_behind("shop/web", WEB)
    finally:
        timers.shutdown()


def test_a_pass_that_writes_another_object_ends_the_reconcile() -> None:
    scaling = Plan(status={"currentStepIndex": 1}, scale={"web-abc": 2})
    script = Scripted((scaling, _written(11, 1)), (_status_only(2), _written(12, 2)))
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        assert len(script.planned_from) == 1
    finally:
        timers.shutdown()


def test_a_pass_that_wrote_nothing_ends_the_reconcile() -> None:
    script = Scripted((_status_only(1), None), (_status_only(2), _written(12, 2)))
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        assert len(script.planned_from) == 1
    finally:
        timers.shutdown()


def test_chained_passes_are_bounded() -> None:
    script = Scripted(*[(_status_only(i), _written(11 + i, i)) for i in range(MAX_PASSES + 2)])
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        assert len(script.planned_from) == MAX_PASSES
    finally:
        timers.shutdown()


def test_writes_only_status_names_every_other_write() -> None:
    assert _status_only(1).writes_only_status
    assert not Plan(status={}, create_replica_set={"metadata": {}}).writes_only_status
    assert not Plan(status={}, scale={"a": 1}).writes_only_status
    assert not Plan(status={}, service_selectors={"svc": "abc"}).writes_only_status
    assert not Plan(status={}, create_analysis_runs=[{}]).writes_only_status
    assert not Plan(status={}, delete_replica_sets=["a"]).writes_only_status
    assert not Plan(status={}, scale_workload=0).writes_only_status
    assert not Plan(status={}, needs_pods=True).writes_only_status
