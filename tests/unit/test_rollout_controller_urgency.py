"""Which events put a Rollout in the work queue's urgent lane: a change that is not our
own write coming back, and an AnalysisRun's verdict; not the status churn of owned
ReplicaSets, nor our own status write arriving on the watch."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s_client

from rollouts.controller import RolloutController
from rollouts.kube import KubeClient
from rollouts.kube.watch import WatchEvent
from rollouts.runtime import Timers, WorkQueue
from rollouts.runtime.written import CATCH_UP_FALLBACK


def _rollout(name: str, version: str) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"namespace": "shop", "name": name, "resourceVersion": version},
            "spec": {"replicas": 1, "strategy": {"canary": {}}}, "status": {}}


def _owned(kind: str, name: str, owner: str, version: str,
           phase: str | None = None) -> dict[str, Any]:
    return {"kind": kind,
            "metadata": {"namespace": "shop", "name": name, "resourceVersion": version,
                         "ownerReferences": [{"kind": "Rollout", "name": owner,
                                              "controller": True}]},
            "status": {"phase": phase} if phase else {}}


@pytest.fixture
def wired() -> tuple[RolloutController, WorkQueue]:
    client = KubeClient(k8s_client.Configuration(host="http://127.0.0.1:9"))  # never called
    controller = RolloutController(client, namespace="shop")
    queue = WorkQueue("rollouts")
    controller.bind(queue, Timers(queue))
    return controller, queue


def _order(queue: WorkQueue) -> list[str]:
    keys = []
    while (key := queue.get(timeout=0)) is not None:
        keys.append(key)
        queue.done(key)
    return keys


def test_our_own_write_coming_back_is_not_queued_a_users_change_is(
        wired: tuple[RolloutController, WorkQueue]) -> None:
    controller, queue = wired
    controller._written.record("shop/ours", _rollout("ours", "7"))
    controller.rollouts._apply(WatchEvent("ADDED", _rollout("ours", "7")))
    controller.rollouts._apply(WatchEvent("ADDED", _rollout("promoted", "8")))
    assert _order(queue) == ["shop/promoted"]
    controller.rollouts._apply(WatchEvent("MODIFIED", _rollout("ours", "9")))  # a user's
    assert _order(queue) == ["shop/ours"]


def test_our_own_write_asked_for_again_waits_behind_a_users_change(
        wired: tuple[RolloutController, WorkQueue]) -> None:
    controller, queue = wired
    controller._written.record("shop/ours", _rollout("ours", "7"), echo=True)
    controller.rollouts._apply(WatchEvent("ADDED", _rollout("ours", "7")))
    controller.rollouts._apply(WatchEvent("ADDED", _rollout("promoted", "8")))
    assert _order(queue) == ["shop/promoted", "shop/ours"]


def test_a_verdict_is_urgent_and_replica_set_churn_is_not(
        wired: tuple[RolloutController, WorkQueue]) -> None:
    controller, queue = wired
    controller.replica_sets._apply(WatchEvent("ADDED", _owned("ReplicaSet", "a-1", "a", "3")))
    controller.analysis_runs._apply(WatchEvent(
        "ADDED", _owned("AnalysisRun", "b-run", "b", "4", "Running")))
    controller.analysis_runs._apply(WatchEvent(
        "MODIFIED", _owned("AnalysisRun", "c-run", "c", "5", "Running")))
    controller.analysis_runs._apply(WatchEvent(
        "MODIFIED", _owned("AnalysisRun", "c-run", "c", "6", "Successful")))
    assert _order(queue) == ["shop/c", "shop/a", "shop/b"]


def test_a_finished_run_seen_again_is_not_a_verdict(
        wired: tuple[RolloutController, WorkQueue]) -> None:
    controller, queue = wired
    controller.replica_sets._apply(WatchEvent("ADDED", _owned("ReplicaSet", "a-1", "a", "3")))
    controller.analysis_runs._apply(WatchEvent(
        "ADDED", _owned("AnalysisRun", "c-run", "c", "5", "Successful")))
    _order(queue)
    controller.replica_sets._apply(WatchEvent("MODIFIED", _ready(
        _owned("ReplicaSet", "a-1", "a", "7"), 1)))
    controller.analysis_runs._apply(WatchEvent(
        "MODIFIED", _owned("AnalysisRun", "c-run", "c", "8", "Successful")))
    assert _order(queue) == ["shop/a", "shop/c"]


def _ready(replica_set: dict[str, Any], ready: int, **status: Any) -> dict[str, Any]:
    replica_set["status"] = {"replicas": 2, "readyReplicas": ready,
                             "availableReplicas": ready, **status}
    return replica_set


def test_replica_set_changes_no_pass_reads_are_not_queued(
        wired: tuple[RolloutController, WorkQueue]) -> None:
    controller, queue = wired
    controller.replica_sets._apply(WatchEvent("ADDED", _ready(
        _owned("ReplicaSet", "a-1", "a", "3"), 1)))
    assert _order(queue) == ["shop/a"]
    controller.replica_sets._apply(WatchEvent("MODIFIED", _ready(
        _owned("ReplicaSet", "a-1", "a", "4"), 1, observedGeneration=2,
        conditions=[{"type": "ReplicaFailure", "status": "False"}])))
    assert _order(queue) == []
    controller.replica_sets._apply(WatchEvent("MODIFIED", _ready(
        _owned("ReplicaSet", "a-1", "a", "5"), 2)))
    assert _order(queue) == ["shop/a"]
    controller.replica_sets._apply(WatchEvent("DELETED", _ready(
        _owned("ReplicaSet", "a-1", "a", "5"), 2)))
    assert _order(queue) == ["shop/a"]


def test_our_own_scale_patch_coming_back_is_not_queued_the_resize_is(
        wired: tuple[RolloutController, WorkQueue]) -> None:
    controller, queue = wired
    controller.replica_sets._apply(WatchEvent("ADDED", _ready(
        _owned("ReplicaSet", "a-1", "a", "3"), 2)))
    _order(queue)
    scaled = _ready(_owned("ReplicaSet", "a-1", "a", "4"), 2)
    scaled["spec"] = {"replicas": 3}
    controller._scaled.record("shop/a-1", scaled)
    controller.replica_sets._apply(WatchEvent("MODIFIED", scaled))
    assert _order(queue) == []
    resized = _ready(_owned("ReplicaSet", "a-1", "a", "5"), 2)
    resized["spec"], resized["status"]["replicas"] = {"replicas": 3}, 3
    controller.replica_sets._apply(WatchEvent("MODIFIED", resized))
    assert _order(queue) == ["shop/a"]


def test_an_urgent_reconcile_that_waits_for_our_write_is_queued_urgently_by_it(
        wired: tuple[RolloutController, WorkQueue]) -> None:
    controller, queue = wired
    controller.rollouts._apply(WatchEvent("ADDED", _rollout("web", "7")))
    _order(queue)
    controller._written.record("shop/web", _rollout("web", "8"))  # our write, not yet seen
    controller.analysis_runs._apply(WatchEvent(
        "ADDED", _owned("AnalysisRun", "web-run", "web", "9", "Successful")))  # a verdict
    assert queue.get(timeout=0) == "shop/web" and queue.handed_out_urgent("shop/web")
    assert controller.reconcile("shop/web").requeue_after == CATCH_UP_FALLBACK
    queue.done("shop/web")
    controller.replica_sets._apply(WatchEvent("ADDED", _owned("ReplicaSet", "a-1", "a", "10")))
    controller.rollouts._apply(WatchEvent("MODIFIED", _rollout("web", "8")))  # it arrives
    assert _order(queue) == ["shop/web", "shop/a"]
