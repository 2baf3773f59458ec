"""The executor's Events: recorded before the status write, named after the state their
pass was planned from (so a pass planned again, by a new leader after a crash, records
none twice), and a "Created X" Event dropped when X already existed. A recording fake
client stands in for the API server here; the real one is in the chaos harness and
tests/integration/test_kube_client.py."""

from __future__ import annotations

import threading
from typing import Any

from rollouts.controller.executor import event_key, execute
from rollouts.core import Plan
from rollouts.core.work import Event
from rollouts.kube import AlreadyExists

RAW: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
       "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "41"},
       "status": {"currentStepIndex": 0}}


class Recorder:
    def __init__(self, existing: set[str] | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []  # appended from the event senders too
        self.existing = existing or set()
        self.events: set[str] = set()

    def create(self, kind: Any, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.calls.append(("create", name))
        if name in self.existing:
            raise AlreadyExists(f"{name} exists")
        return body

    def patch_status(self, kind: Any, namespace: str | None, name: str,
                     body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("status", body["metadata"]["resourceVersion"]))
        return {"metadata": {"resourceVersion": "42"}, **body}

    def emit_event(self, regarding: dict[str, Any], type_: str, reason: str, message: str,
                   *, key: str | None = None) -> bool:
        self.calls.append(("event", reason))
        if key in self.events:
            return False
        self.events.add(str(key))
        return True


def _plan() -> Plan:
    plan = Plan(status={"currentStepIndex": 1})
    plan.create_analysis_runs.append({"metadata": {"name": "web-abc-2-1"}})
    plan.event("AnalysisRunCreated", "Created step AnalysisRun web-abc-2-1",
               created="web-abc-2-1")
    plan.event("RolloutStepCompleted", "Step 1/4 completed (setWeight: 25)")
    return plan


def test_events_are_recorded_before_the_status_write() -> None:
    client = Recorder()
    execute(client, RAW, _plan())  # type: ignore[arg-type]
    # Events go out alongside the object writes; a "Created X" one only after X's create;
    # the status write comes last, once every Event is answered.
    assert sorted(client.calls[:3]) == [("create", "web-abc-2-1"),
                                        ("event", "AnalysisRunCreated"),
                                        ("event", "RolloutStepCompleted")]
    assert client.calls.index(("create", "web-abc-2-1")) < client.calls.index(
        ("event", "AnalysisRunCreated"))
    assert client.calls[3:] == [("status", "41")]


def test_a_pass_planned_again_from_the_same_state_records_no_event_twice() -> None:
    client = Recorder()
    counted: list[str] = []
    execute(client, RAW, _plan(), on_event=lambda r, t, reason: counted.append(reason))  # type: ignore[arg-type]
    # The next leader plans the same pass from the same Rollout (the status write was lost)
    client.existing.add("web-abc-2-1")
    execute(client, RAW, _plan(), on_event=lambda r, t, reason: counted.append(reason))  # type: ignore[arg-type]
    assert len(client.events) == 2
    assert counted == ["AnalysisRunCreated", "RolloutStepCompleted"]


def test_a_created_event_is_dropped_when_the_object_already_existed() -> None:
    client = Recorder(existing={"web-abc-2-1"})
    newer = {**RAW, "metadata": {**RAW["metadata"], "resourceVersion": "43"}}
    execute(client, newer, _plan())  # type: ignore[arg-type]
    assert [c for c in client.calls if c[0] == "event"] == [("event", "RolloutStepCompleted")]


def test_event_names_follow_the_state_order_and_differ_by_what_they_say() -> None:
    done = Event("Normal", "RolloutStepCompleted", "Step 1/4 completed")
    other = Event("Normal", "RolloutStepCompleted", "Step 2/4 completed")
    assert event_key("41", done) == event_key("41", done)
    assert event_key("41", done) != event_key("41", other)
    assert event_key("9", done) < event_key("41", done) < event_key("100", other)
    assert len(event_key("opaque-v1", done)) == 32


class SlowEvents(Recorder):
    """An Event is answered only once the pass's ReplicaSet scale has been sent: sent one
    after the other (Events first), the pass would never get there."""

    def __init__(self) -> None:
        super().__init__()
        self.scaled = threading.Event()

    def patch(self, kind: Any, namespace: str | None, name: str, body: dict[str, Any],
              *_: Any, **__: Any) -> dict[str, Any]:
        self.calls.append(("scale", name))
        self.scaled.set()
        return body

    def emit_event(self, regarding: dict[str, Any], type_: str, reason: str, message: str,
                   *, key: str | None = None) -> bool:
        assert self.scaled.wait(5), "the Event was sent before, not beside, the scale"
        return super().emit_event(regarding, type_, reason, message, key=key)


def test_events_are_sent_alongside_the_object_writes() -> None:
    client = SlowEvents()
    plan = Plan(status={"currentStepIndex": 2}, scale={"web-abc": 2})
    plan.event("RolloutStepCompleted", "Step 2/4 completed (pause: 2s)")
    plan.event("ScalingReplicaSet", "Scaled up ReplicaSet web-abc to 2")
    counted: list[str] = []
    execute(client, RAW, plan,  # type: ignore[arg-type]
            on_event=lambda r, t, reason: counted.append(reason))
    assert client.calls[0] == ("scale", "web-abc")
    assert client.calls[-1] == ("status", "41")
    assert counted == ["RolloutStepCompleted", "ScalingReplicaSet"]  # in the plan's order
