"""How long canary steps and whole rollouts took, read from the Events the controller emits.

Only the replica that acts emits Events, so a standby never observes a duration twice.
The Events that matter, for one Rollout:

    RolloutUpdated        a new revision starts: the rollout's clock and step 0's start
    RolloutStepCompleted  the current step ends -> one step duration; the next starts
    RolloutRetried        the canary starts over at step 0 (the rollout's clock runs on)
    RolloutAborted        no step is running until a retry
    RolloutCompleted      the new revision is stable -> one rollout duration

A blue-green update has no steps and emits no RolloutStepCompleted: it gets one rollout
duration (RolloutUpdated -> RolloutCompleted, i.e. until the new revision is stable after
promotion and post-promotion analysis) and no step durations.

`StepClock.on_event(rollout, reason)` returns what to observe. After a restart the
current step's start is unknown, so that one step is not observed; the rollout's start
falls back to the `Completed` condition's `lastTransitionTime` (it turned False when the
update began), a stored timestamp that survives restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Observation", "StepClock"]


@dataclass
class _Progress:
    step: int
    step_started: float | None
    rollout_started: float | None


@dataclass(frozen=True)
class Observation:
    """Durations to record for one Event: a step's (with its index) and/or the rollout's."""

    step: int | None = None
    step_seconds: float | None = None
    rollout_seconds: float | None = None


def _update_started(rollout: dict[str, Any]) -> float | None:
    for condition in (rollout.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Completed" and condition.get("status") == "False":
            try:
                stamp = str(condition.get("lastTransitionTime")).replace("Z", "+00:00")
                return datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                return None
    return None


@dataclass
class StepClock:
    """Per-Rollout step and rollout start times (wall clock seconds from `now`)."""

    now: Callable[[], float]
    _progress: dict[tuple[str, str], _Progress] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_event(self, rollout: dict[str, Any], reason: str) -> Observation:
        meta = rollout.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        now = self.now()
        with self._lock:
            progress = self._progress.get(key)
            if reason == "RolloutUpdated":
                self._progress[key] = _Progress(0, now, now)
                return Observation()
            if progress is None:
                index = int((rollout.get("status") or {}).get("currentStepIndex") or 0)
                progress = _Progress(index, None, _update_started(rollout))
                self._progress[key] = progress
            if reason == "RolloutStepCompleted":
                done = progress.step
                seconds = None if progress.step_started is None else now - progress.step_started
                progress.step, progress.step_started = done + 1, now
                return Observation(step=done, step_seconds=seconds)
            if reason == "RolloutRetried":
                progress.step, progress.step_started = 0, now
            elif reason == "RolloutAborted":
                progress.step, progress.step_started = 0, None
            elif reason == "RolloutCompleted":
                started = progress.rollout_started
                del self._progress[key]
                return Observation(rollout_seconds=None if started is None else now - started)
            return Observation()

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._progress.pop((namespace, name), None)
