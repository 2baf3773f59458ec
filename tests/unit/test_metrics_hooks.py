"""Step and rollout durations from Events, and how the metrics are wired into the
controllers (`instrument`): collectors over the informer caches, the event hook, timed
reconciles, and series that leave with their object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from kubernetes import client as k8s_client
from prometheus_client import CollectorRegistry

from rollouts.controller import RolloutController
from rollouts.kube import KubeClient
from rollouts.kube.watch import WatchEvent
from rollouts.metrics.durations import Observation, StepClock
from rollouts.metrics.exposition import render
from rollouts.metrics.wiring import MeasuredController, instrument
from rollouts.runtime import ReconcileResult, Timers, WorkQueue
from rollouts.runtime.interfaces import InformerLike


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _rollout(step: int | None = None, conditions: list[dict[str, Any]] | None = None
             ) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": conditions or []}
    if step is not None:
        status["currentStepIndex"] = step
    return {"metadata": {"namespace": "shop", "name": "web"}, "status": status}


class TestStepDurations:
    def test_given_an_update_each_completed_step_is_timed_from_the_previous_one(self) -> None:
        clock = Clock()
        steps = StepClock(clock)
        assert steps.on_event(_rollout(3), "RolloutUpdated") == Observation()
        clock.now += 5
        assert steps.on_event(_rollout(0), "RolloutStepCompleted") == Observation(0, 5.0)
        clock.now += 20
        assert steps.on_event(_rollout(1), "RolloutStepCompleted") == Observation(1, 20.0)
        clock.now += 1
        assert steps.on_event(_rollout(2), "RolloutCompleted") == Observation(
            rollout_seconds=26.0)

    def test_after_an_abort_no_step_runs_until_the_retry_restarts_step_0(self) -> None:
        clock = Clock()
        steps = StepClock(clock)
        steps.on_event(_rollout(0), "RolloutUpdated")
        clock.now += 5
        steps.on_event(_rollout(1), "RolloutAborted")
        clock.now += 100
        steps.on_event(_rollout(0), "RolloutRetried")
        clock.now += 3
        assert steps.on_event(_rollout(0), "RolloutStepCompleted") == Observation(0, 3.0)
        clock.now += 2
        # The rollout's clock ran on through the abort.
        assert steps.on_event(_rollout(1), "RolloutCompleted").rollout_seconds == 110.0

    def test_after_a_restart_the_unknown_step_is_not_timed_but_the_next_one_is(self) -> None:
        clock = Clock()
        steps = StepClock(clock)
        assert steps.on_event(_rollout(2), "RolloutStepCompleted") == Observation(2, None)
        clock.now += 7
        assert steps.on_event(_rollout(3), "RolloutStepCompleted") == Observation(3, 7.0)

    def test_after_a_restart_the_rollout_start_is_read_from_the_completed_condition(
            self) -> None:
        clock = Clock()
        clock.now = 1_714_564_860.0  # 2024-05-01T12:01:00Z
        steps = StepClock(clock)
        started = _rollout(1, [{"type": "Completed", "status": "False",
                                "lastTransitionTime": "2024-05-01T12:00:00Z"}])
        assert steps.on_event(started, "RolloutCompleted").rollout_seconds == 60.0
        # Unknown start and no condition: nothing is observed.
        assert steps.on_event(_rollout(1), "RolloutCompleted").rollout_seconds is None

    def test_other_events_change_nothing_and_forget_drops_the_state(self) -> None:
        clock = Clock()
        steps = StepClock(clock)
        steps.on_event(_rollout(0), "RolloutUpdated")
        assert steps.on_event(_rollout(0), "ScalingReplicaSet") == Observation()
        steps.forget("shop", "web")
        clock.now += 4
        assert steps.on_event(_rollout(0), "RolloutStepCompleted").step_seconds is None


def _controller() -> RolloutController:
    # No request is sent: informers are fed by hand below, never started.
    client = KubeClient(k8s_client.Configuration(host="http://127.0.0.1:9"))
    return RolloutController(client, namespace="shop")


def _feed(controller: RolloutController, event: str, obj: dict[str, Any]) -> None:
    controller.rollouts._apply(WatchEvent(event, obj))  # type: ignore[arg-type]


def _web() -> dict[str, Any]:
    return {"metadata": {"namespace": "shop", "name": "web", "resourceVersion": "1"},
            "spec": {"replicas": 2, "strategy": {"canary": {}}},
            "status": {"phase": "Healthy"}}


class TestInstrument:
    def test_the_rollout_controller_gets_collectors_a_hook_and_timed_reconciles(
            self) -> None:
        controller = _controller()
        registry = CollectorRegistry()
        [wrapped] = instrument([controller], registry)
        assert isinstance(wrapped, MeasuredController) and wrapped.name == "rollouts"
        assert controller.on_event is not None
        _feed(controller, "ADDED", _web())
        controller.on_event(_web(), "Normal", "RolloutUpdated")
        text = render(registry).decode()
        assert 'rollout_info{name="web",namespace="shop",phase="Completed"' in text
        assert 'rollout_events_total{name="web",namespace="shop",reason="RolloutUpdated"' in text
        assert "analysis_run_info" in text  # served by the rollouts controller alone

    def test_a_deleted_rollout_leaves_no_series(self) -> None:
        controller = _controller()
        registry = CollectorRegistry()
        instrument([controller], registry)
        _feed(controller, "ADDED", _web())
        assert controller.on_event is not None
        controller.on_event(_web(), "Warning", "InvalidSpec")
        _feed(controller, "DELETED", _web())
        text = render(registry).decode()
        assert 'name="web"' not in text

    def test_a_bound_controller_reports_its_queue_under_client_go_names(self) -> None:
        controller = _controller()
        registry = CollectorRegistry()
        [wrapped] = instrument([controller], registry)
        queue = WorkQueue("rollouts")
        wrapped.bind(queue, Timers(queue))
        queue.add("shop/web")
        queue.add("shop/api")
        assert queue.get(timeout=0) == "shop/web"
        text = render(registry).decode()
        assert 'workqueue_depth{name="rollouts"} 1.0' in text
        assert 'workqueue_queue_duration_seconds_count{name="rollouts"} 1.0' in text

    def test_controllers_it_does_not_know_are_returned_as_they_are(self) -> None:
        other = _Fake("other")
        assert instrument([other], CollectorRegistry()) == [other]


class _Fake:
    def __init__(self, name: str, fail: bool = False) -> None:
        self._name, self.fail, self.bound = name, fail, False

    @property
    def name(self) -> str:
        return self._name

    def informers(self) -> Sequence[InformerLike]:
        return ()

    def bind(self, queue: WorkQueue, timers: Timers, /) -> None:
        self.bound = True

    def reconcile(self, key: str, /) -> ReconcileResult:
        if self.fail:
            raise RuntimeError("boom")
        return ReconcileResult(requeue_after=1.0)


class TestMeasuredController:
    def test_each_reconcile_is_reported_with_its_key_duration_and_outcome(self) -> None:
        seen: list[tuple[str, str, float, bool]] = []
        timed = MeasuredController(_Fake("x"), lambda *args: seen.append(args))
        assert timed.reconcile("shop/web") == ReconcileResult(requeue_after=1.0)
        failing = MeasuredController(_Fake("x", fail=True), lambda *args: seen.append(args))
        with pytest.raises(RuntimeError):
            failing.reconcile("shop/api")
        assert [(ns, name, failed) for ns, name, _, failed in seen] == [
            ("shop", "web", False), ("shop", "api", True)]
        assert all(seconds >= 0 for _, _, seconds, _ in seen)

    def test_it_delegates_name_informers_and_bind(self) -> None:
        inner = _Fake("analysis")
        timed = MeasuredController(inner, lambda *args: None)
        assert timed.name == "analysis" and timed.informers() == ()
        queue = WorkQueue("analysis")
        timed.bind(queue, Timers(queue))
        assert inner.bound
