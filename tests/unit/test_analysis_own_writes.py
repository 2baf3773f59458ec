"""The analysis controller does not reconcile a run again for its own status write
coming back on the watch (the reconcile that wrote it set the next timer), unless a
reconcile found the cache behind that write and waits for it."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s_client

from analysis.controller import AnalysisRunController
from rollouts.kube import KubeClient
from rollouts.kube.watch import WatchEvent
from rollouts.runtime import Timers, WorkQueue
from rollouts.runtime.written import CATCH_UP_FALLBACK


def _run(version: str) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"namespace": "shop", "name": "run", "resourceVersion": version},
            "spec": {"metrics": []}, "status": {"phase": "Running"}}


@pytest.fixture
def wired() -> tuple[AnalysisRunController, WorkQueue]:
    client = KubeClient(k8s_client.Configuration(host="http://127.0.0.1:9"))  # never called
    controller = AnalysisRunController(client, {}, namespace="shop")
    queue = WorkQueue("analysis")
    controller.bind(queue, Timers(queue))
    return controller, queue


def _queued(queue: WorkQueue) -> list[str]:
    keys = []
    while (key := queue.get(timeout=0)) is not None:
        keys.append(key)
        queue.done(key)
    return keys


def test_our_own_write_coming_back_is_not_queued(
        wired: tuple[AnalysisRunController, WorkQueue]) -> None:
    controller, queue = wired
    controller.runs._apply(WatchEvent("ADDED", _run("8")))
    assert _queued(queue) == ["shop/run"]
    controller._written.record("shop/run", _run("9"))
    controller.runs._apply(WatchEvent("MODIFIED", _run("9")))
    assert _queued(queue) == []
    controller.runs._apply(WatchEvent("MODIFIED", _run("10")))  # someone else's change
    assert _queued(queue) == ["shop/run"]


def test_a_reconcile_waiting_for_our_write_is_queued_again_by_it(
        wired: tuple[AnalysisRunController, WorkQueue]) -> None:
    controller, queue = wired
    controller.runs._apply(WatchEvent("ADDED", _run("8")))
    _queued(queue)
    controller._written.record("shop/run", _run("9"))
    result = controller.reconcile("shop/run")  # the cache still holds version 8
    assert result.requeue_after == CATCH_UP_FALLBACK
    controller.runs._apply(WatchEvent("MODIFIED", _run("9")))
    assert _queued(queue) == ["shop/run"]
    controller._written.record("shop/run", _run("11"))
    controller.runs._apply(WatchEvent("MODIFIED", _run("11")))  # nobody waits for this one
    assert _queued(queue) == []
