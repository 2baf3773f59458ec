"""Counters and histograms the Rollout and AnalysisRun controllers update as they work.

    rollout_reconcile{namespace,name}                 histogram, seconds (Argo's buckets)
    rollout_reconcile_error{namespace,name}           counter
    rollout_events_total{namespace,name,type,reason}  counter: every Event on a Rollout
    rollout_step_duration_seconds{namespace,name}     histogram: one per finished step
    rollout_duration_seconds{namespace,name}          histogram: update start -> stable
    analysis_run_reconcile{namespace,name}            histogram, seconds
    analysis_run_reconcile_error{namespace,name}      counter

Every series is keyed by its object and removed when the object is deleted (see
`object_series`). Hooks: `reconciled(namespace, name, seconds, failed)` from the
reconcile wrapper (`wiring.MeasuredController`), `event(obj, type, reason)` from the
controller after each `emit_event`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rollouts.metrics.durations import StepClock
from rollouts.metrics.object_series import Alive, ObjectMetrics

__all__ = ["AnalysisRunMetrics", "RolloutMetrics"]

RECONCILE_BUCKETS = (0.01, 0.15, 0.25, 0.5, 1.0)  # Argo Rollouts' reconcile buckets
# One histogram per Rollout (not per step: with a `step` label, step histograms were a
# third of /metrics at 1,000 Rollouts, see BENCHMARKS.md), with few buckets.
STEP_BUCKETS = (10.0, 60.0, 300.0, 1800.0)
ROLLOUT_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 14400.0)
_KEY = ("namespace", "name")


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class RolloutMetrics(ObjectMetrics):
    """The Rollout controller's counters and histograms (register once per process)."""

    def __init__(self, alive: Alive | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(alive)
        self.reconcile = self.histogram("rollout_reconcile",
                                        "Rollout reconciliation performance.", _KEY,
                                        RECONCILE_BUCKETS)
        self.reconcile_error = self.counter("rollout_reconcile_error",
                                            "Error occurring during the rollout", _KEY)
        self.events = self.counter("rollout_events_total", "Count of rollout events",
                                   (*_KEY, "type", "reason"))
        self.step_duration = self.histogram(
            "rollout_step_duration_seconds", "Time a canary step took, from its start to "
            "the Event that completed it.", _KEY, STEP_BUCKETS)
        self.duration = self.histogram(
            "rollout_duration_seconds", "Time an update took, from the new revision to "
            "it being stable.", _KEY, ROLLOUT_BUCKETS)
        self.steps = StepClock(clock)

    def reconciled(self, namespace: str, name: str, seconds: float, failed: bool) -> None:
        if not self.exists(namespace, name):
            return  # deleted meanwhile: a new series would outlive it
        self.series.observe(self.reconcile, namespace, name, value=seconds)
        if failed:
            self.series.inc(self.reconcile_error, namespace, name)

    def event(self, obj: dict[str, Any], type_: str, reason: str) -> None:
        """Count an Event emitted about the Rollout `obj`, and time steps and updates."""
        namespace, name = _key(obj)
        if not self.exists(namespace, name):
            return
        self.series.inc(self.events, namespace, name, type_, reason)
        seen = self.steps.on_event(obj, reason)
        if seen.step_seconds is not None:
            self.series.observe(self.step_duration, namespace, name,
                                value=max(0.0, seen.step_seconds))
        if seen.rollout_seconds is not None:
            self.series.observe(self.duration, namespace, name,
                                value=max(0.0, seen.rollout_seconds))

    def forget(self, namespace: str, name: str) -> None:
        super().forget(namespace, name)
        self.steps.forget(namespace, name)


class AnalysisRunMetrics(ObjectMetrics):
    """The AnalysisRun controller's reconcile histogram and error counter."""

    def __init__(self, alive: Alive | None = None) -> None:
        super().__init__(alive)
        self.reconcile = self.histogram("analysis_run_reconcile",
                                        "Analysis Run reconciliation performance.", _KEY,
                                        RECONCILE_BUCKETS)
        self.reconcile_error = self.counter("analysis_run_reconcile_error",
                                            "Error occurring during the analysis run", _KEY)

    def reconciled(self, namespace: str, name: str, seconds: float, failed: bool) -> None:
        if not self.exists(namespace, name):
            return
        self.series.observe(self.reconcile, namespace, name, value=seconds)
        if failed:
            self.series.inc(self.reconcile_error, namespace, name)
