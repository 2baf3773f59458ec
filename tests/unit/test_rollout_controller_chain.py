"""A pass that would only move the Rollout's status on (a pause ended, a verdict or a
promote completed a step) is not written on its own: the next pass is planned at once
from the status it would write, and both are carried out as one (the later pass's
object writes, the Events of both, one status write against the stored version). A
pass that writes any other object, or changes nothing, ends the planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client as k8s_client

from rollouts.controller import RolloutController, rollout_controller
from rollouts.controller.rollout_controller import MAX_PASSES
from rollouts.core import Plan
from rollouts.kube import KubeClient
from rollouts.kube.watch import WatchEvent
from rollouts.runtime import Timers, WorkQueue
from rollouts.traffic.base import ObjectKey, Write

WEB: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"namespace": "shop", "name": "web", "resourceVersion": "10"},
    "spec": {"replicas": 2, "strategy": {"canary": {}}}, "status": {"currentStepIndex": 1}}
SOON = datetime.now(UTC) + timedelta(hours=1)


class Scripted:
    """Stands in for `_plan`: hands out the scripted plans, records what each was planned
    from."""

    def __init__(self, *plans: Plan) -> None:
        self.plans = list(plans)
        self.planned_from: list[dict[str, Any]] = []

    def __call__(self, raw: dict[str, Any]) -> Plan:
        self.planned_from.append(raw)
        return self.plans.pop(0)


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Plan]]:
    calls: list[tuple[dict[str, Any], Plan]] = []

    def execute(_client: Any, raw: dict[str, Any], plan: Plan, **_: Any) -> dict[str, Any]:
        calls.append((raw, plan))
        return {**raw, "metadata": {**raw["metadata"], "resourceVersion": "11"},
                "status": plan.status}

    monkeypatch.setattr(rollout_controller, "execute", execute)
    return calls


def _controller(script: Scripted) -> tuple[RolloutController, Timers]:
    client = KubeClient(k8s_client.Configuration(host="http://127.0.0.1:9"))  # never called
    controller = RolloutController(client, namespace="shop")
    queue = WorkQueue("rollouts")
    timers = Timers(queue)  # not started: jobs wait in the scheduler
    controller.bind(queue, timers)
    controller._plan = script  # type: ignore[method-assign]
    controller.rollouts._apply(WatchEvent("ADDED", dict(WEB)))
    return controller, timers


def _status_only(step: int, wake: str | None = None) -> Plan:
    plan = Plan(status={"currentStepIndex": step})
    plan.event("RolloutStepCompleted", f"step {step}")
    if wake:
        plan.wake_at[wake] = SOON
    return plan


def test_a_status_only_pass_is_carried_out_with_the_next(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    scaling = Plan(status={"currentStepIndex": 2, "canary": {}}, scale={"web-abc": 2})
    scaling.event("ScalingReplicaSet", "Scaled up web-abc to 2")
    scaling.wake_at["progress"] = SOON
    script = Scripted(_status_only(2, wake="pause"), scaling)
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        first, second = script.planned_from
        assert first["status"] == {"currentStepIndex": 1}
        assert second["status"] == {"currentStepIndex": 2}  # as the first would write it
        assert second["metadata"]["resourceVersion"] == "10"
        ((raw, plan),) = executed  # one execution: one status write
        assert raw["metadata"]["resourceVersion"] == "10" and raw["status"] == WEB["status"]
        assert plan is scaling
        assert [e.reason for e in plan.events] == ["RolloutStepCompleted", "ScalingReplicaSet"]
        # Only the last pass's wake-up times are set (each pass recomputes them all).
        assert set(timers.pending("shop/web")) == {"progress"}
        assert controller._written.cache_is_behind("shop/web", WEB)  # waits for version 11
    finally:
        timers.shutdown()


def test_a_pass_that_writes_another_object_is_carried_out_alone(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    scaling = Plan(status={"currentStepIndex": 2}, scale={"web-abc": 2})
    script = Scripted(scaling, _status_only(3))
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        assert len(script.planned_from) == 1
        assert [plan for _, plan in executed] == [scaling]
    finally:
        timers.shutdown()


def test_a_pass_that_changes_nothing_ends_the_planning(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    script = Scripted(_status_only(1), _status_only(2))
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        assert len(script.planned_from) == 1
        assert len(executed) == 1
    finally:
        timers.shutdown()


def test_the_passes_planned_together_are_bounded(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    script = Scripted(*[_status_only(i) for i in range(2, MAX_PASSES + 4)])
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        assert len(script.planned_from) == MAX_PASSES
        ((_, plan),) = executed
        assert len(plan.events) == MAX_PASSES
    finally:
        timers.shutdown()


def test_chains_names_every_other_write_but_collecting_finished_runs() -> None:
    assert _status_only(1).chains
    assert Plan(status={}, collect_analysis_runs=["web-old-1"]).chains
    assert not Plan(status={}, create_replica_set={"metadata": {}}).chains
    assert not Plan(status={}, scale={"a": 1}).chains
    assert not Plan(status={}, service_selectors={"svc": "abc"}).chains
    assert not Plan(status={}, create_analysis_runs=[{}]).chains
    assert not Plan(status={}, delete_analysis_runs=["web-abc-1"]).chains  # a retry's
    assert not Plan(status={}, delete_replica_sets=["a"]).chains
    assert not Plan(status={}, scale_workload=0).chains
    assert not Plan(status={}, needs_pods=True).chains


def test_finished_runs_collected_on_the_way_are_deleted_once_with_the_last_pass(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    verdict = _status_only(4)  # the analysis step's run finished: the oldest is collected
    verdict.collect_analysis_runs = ["web-old-1"]
    scaling = Plan(status={"currentStepIndex": 5}, scale={"web-abc": 3},
                   collect_analysis_runs=["web-old-1"])  # still in the cache: named again
    script = Scripted(verdict, scaling)
    controller, timers = _controller(script)
    try:
        controller.reconcile("shop/web")
        ((_, plan),) = executed
        assert plan is scaling and plan.collect_analysis_runs == ["web-old-1"]
    finally:
        timers.shutdown()


def test_a_wake_up_the_next_plan_no_longer_wants_is_cancelled(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    progressing = Plan(status={"currentStepIndex": 2}, scale={"web-abc": 2})
    progressing.wake_at["deadline"] = SOON
    healthy = Plan(status={"currentStepIndex": 2, "phase": "Healthy"}, scale={"web-abc": 1})
    controller, timers = _controller(Scripted(progressing, healthy))
    try:
        controller.reconcile("shop/web")
        assert set(timers.pending("shop/web")) == {"deadline"}
        written = executed[-1][0]
        controller.rollouts._apply(WatchEvent("MODIFIED", {
            **written, "metadata": {**written["metadata"], "resourceVersion": "11"},
            "status": progressing.status}))
        controller.reconcile("shop/web")
        assert len(executed) == 2
        assert timers.pending("shop/web") == {}  # no reconcile at the old deadline
    finally:
        timers.shutdown()


def _echo_queued(controller: RolloutController) -> bool:
    """Whether our write (version 11, as `executed` returns it) coming back on the watch
    queues the Rollout again."""
    queue = controller._queue
    assert queue is not None
    while (key := queue.get(timeout=0)) is not None:
        queue.done(key)
    written = {**WEB, "metadata": {**WEB["metadata"], "resourceVersion": "11"}}
    controller.rollouts._apply(WatchEvent("MODIFIED", written))
    return queue.get(timeout=0) is not None


def test_our_write_coming_back_is_not_reconciled_when_the_planning_settled(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    for script in (Scripted(_status_only(2), _status_only(2)),  # the status settled
                   # a pause ends, a setWeight needing no scaling, the next pause: settled
                   Scripted(_status_only(2), _status_only(3), _status_only(4),
                            _status_only(4)),
                   Scripted(Plan(status={"currentStepIndex": 2}, scale={"web-abc": 2}))):
        controller, timers = _controller(script)  # a ReplicaSet's event queues the next
        try:
            controller.reconcile("shop/web")
            assert not _echo_queued(controller)
        finally:
            timers.shutdown()


def test_our_write_coming_back_is_reconciled_when_the_planning_stopped_short(
        executed: list[tuple[dict[str, Any], Plan]]) -> None:
    routed = Plan(status={"currentStepIndex": 2})
    routed.router_writes.append(Write(  # no watch of ours reports it
        ObjectKey("traefik.io", "v1alpha1", "traefikservices", "TraefikService", "shop", "web"),
        patch={"spec": {}}))
    for script in (Scripted(*[_status_only(i) for i in range(2, MAX_PASSES + 4)]),
                   Scripted(routed)):
        controller, timers = _controller(script)
        try:
            controller.reconcile("shop/web")
            assert _echo_queued(controller)
        finally:
            timers.shutdown()
