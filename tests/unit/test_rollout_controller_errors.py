"""A permanent API error in a Rollout reconcile is told as a Warning Event, then retried."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s_client

from rollouts.controller import RolloutController
from rollouts.kube import Forbidden, KubeClient, Unavailable
from rollouts.kube.watch import WatchEvent


def _controller(events: list[tuple[str, str]], error: Exception) -> RolloutController:
    # No request is sent: the informer is fed by hand, the reconcile body replaced.
    client = KubeClient(k8s_client.Configuration(host="http://127.0.0.1:9"))
    controller = RolloutController(client, namespace="shop")

    def emit(_obj: dict[str, Any], _type: str, reason: str, message: str, **_: Any) -> bool:
        events.append((reason, message))
        return True

    def fail(_key: str, _raw: dict[str, Any]) -> Any:
        raise error

    client.emit_event = emit  # type: ignore[method-assign,assignment]
    controller._reconcile_rollout = fail  # type: ignore[method-assign,assignment]
    web = {"metadata": {"namespace": "shop", "name": "web", "resourceVersion": "1"},
           "spec": {"replicas": 2, "strategy": {"canary": {}}}}
    controller.rollouts._apply(WatchEvent("ADDED", web))
    return controller


def test_a_forbidden_reconcile_is_an_event_and_is_raised_for_the_slow_retry() -> None:
    events: list[tuple[str, str]] = []
    controller = _controller(events, Forbidden("replicasets is forbidden", 403, "Forbidden"))
    with pytest.raises(Forbidden):
        controller.reconcile("shop/web")
    assert [reason for reason, _ in events] == ["ReconcileError"]
    assert "forbidden" in events[0][1] and "retried" in events[0][1]


def test_a_temporary_error_is_retried_without_an_event() -> None:
    events: list[tuple[str, str]] = []
    controller = _controller(events, Unavailable("connection refused", 503, "Unavailable"))
    with pytest.raises(Unavailable):
        controller.reconcile("shop/web")
    assert events == []
