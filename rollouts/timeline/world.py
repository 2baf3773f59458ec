"""A simulated cluster around the controller's own planner, for `rollouts plan`. Pure.

`World` holds what the Rollout controller would observe (ReplicaSets, Services,
AnalysisRuns, Experiments) and carries out each `Plan` that `rollouts.planner.
plan_rollout` returns, the way the executor and the cluster would, only instantly and
always in the rollout's favour:

- a ReplicaSet runs every pod it is scaled to at once, all available;
- a traffic router carries whatever weight and routes it is asked for at once (a
  stand-in with the real router's name and header/mirror capabilities, built from
  `rollouts.traffic.select.make_routers`);
- an AnalysisRun gating a step or a promotion is played by the analysis controller's
  own state machine (`analysis.decide.plan_run` / `record`) on its schedule alone
  (`initialDelay`, `interval`, `count`; every measurement Successful), so it ends when
  the real one would end at the earliest; one that cannot end by itself (a metric
  without `count`), or whose schedule is not known offline, succeeds at once and
  is reported as such (`RunRecord.timing`). Background runs stay Running: they gate
  nothing unless they fail;
- an Experiment succeeds after its step's `duration` (at once, reported, without one);
- an indefinite pause is promoted at once as `rollouts promote` would (its pause
  conditions removed), and reported.

Time only moves when nothing else does: to the earliest wake-up the planner asked for
(`Plan.wake_at`: a timed pause, auto-promotion, a scale-down deadline) or the next due
measurement. So the clock at each step is the earliest time the controller could get
there. Neighbours: `rollouts.timeline.build` drives a `World` and reads the timeline off
its `Pass`es; `rollouts.timeline.gates` describes the analysis the runs come from.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analysis.decide import Outcome, plan_run, record
from analysis.decide_rules import InvalidRun, read_rules
from rollouts.api import check_object
from rollouts.api.duration import Duration
from rollouts.api.rollout import Rollout
from rollouts.core import Plan
from rollouts.core.analysis_runs import STEP_LABEL, TYPE_LABEL
from rollouts.core.observed import (
    EPHEMERAL_ANNOTATION,
    HASH_LABEL,
    AnalysisRunView,
    Observed,
    ReplicaSetView,
)
from rollouts.planner import plan_rollout
from rollouts.traffic.base import Live, TrafficState, Weights, Write
from rollouts.traffic.select import TrafficView, make_routers, uses_router

__all__ = ["MAX_MEASUREMENTS", "Carrier", "PassRecord", "RunRecord", "World", "play_schedule",
           "schedule_of"]

_NOWHERE = "http://rollouts-plan.invalid/"
MAX_MEASUREMENTS = 10_000
_SCHEDULE = ("name", "interval", "initialDelay", "count", "failureLimit", "inconclusiveLimit",
             "consecutiveErrorLimit")


@dataclass(frozen=True)
class Carrier:
    """A traffic router that carries every state at once (the real one's name and
    capabilities): the planner's router writes are what a live cluster would verify."""

    name: str
    supports_header_routes: bool
    supports_mirror_routes: bool

    def reads(self) -> list[Any]:
        return []

    def set_weight(self, live: Live, weights: Weights) -> list[Write]:
        return []

    def verify_weight(self, live: Live, weights: Weights) -> bool:
        return True

    def remove_managed_routes(self, live: Live) -> list[Write]:
        return []

    def sync(self, live: Live, state: TrafficState) -> list[Write]:
        return []


@dataclass
class RunRecord:
    """An AnalysisRun the planner created, and how the world played it."""

    manifest: dict[str, Any]
    created: datetime
    run_type: str
    step_index: int | None
    # Why its length is not a schedule of its own: None (played), "unbounded: ...",
    # "unknown: ...".
    timing: str | None = None
    # When the schedule ends (played at creation); `finished` once the world got there.
    ends: datetime | None = None
    finished: datetime | None = None


@dataclass(frozen=True)
class PassRecord:
    """One planning pass as the world saw it: the time, the plan, and the sizes after."""

    now: datetime
    plan: Plan
    status: dict[str, Any]
    new_replicas: int
    stable_replicas: int
    older_replicas: int
    services: dict[str, str | None]


def schedule_of(run: dict[str, Any], substituted: list[dict[str, Any]] | None
                ) -> tuple[dict[str, Any] | None, str | None]:
    """The run's schedule alone (names, initialDelay, interval, count, limits, dryRun;
    no provider query, no conditions), to be played by `analysis.decide`; or why it
    cannot be: ("unbounded: ..." | "unknown: ...")."""
    if substituted is None:
        return None, "unknown: its arguments have no value offline"
    metrics = []
    for metric in substituted:
        kept: dict[str, Any] = {key: metric[key] for key in _SCHEDULE if key in metric}
        kept["provider"] = {"web": {"url": _NOWHERE}}
        metrics.append(kept)
    spec = {"metrics": metrics}
    for key in ("dryRun", "measurementRetention"):
        if key in (run.get("spec") or {}):
            spec[key] = copy.deepcopy(run["spec"][key])
    skeleton = {"metadata": {"name": (run.get("metadata") or {}).get("name") or "plan"},
                "spec": spec}
    try:
        rules = read_rules(skeleton)
    except InvalidRun as invalid:
        return None, f"unknown: {invalid}"
    endless = [m.name for m in rules.metrics if m.count is None]
    if endless:
        return None, (f"unbounded: metric {', '.join(endless)} has an interval and no "
                      "count, so it measures until the run is stopped")
    return skeleton, None


def play_schedule(skeleton: dict[str, Any], start: datetime, limit: int = MAX_MEASUREMENTS
                  ) -> tuple[datetime | None, str | None, int]:
    """When a run started at `start` ends if every measurement passes at once: the
    analysis controller's state machine played on the run's schedule alone; and the
    plays it took. None (and why) past `limit` plays."""
    status: dict[str, Any] = {}
    now = start
    for played in range(1, limit + 1):
        step = plan_run({**skeleton, "status": status}, now)
        status = step.status
        for metric in step.due:
            status = record(skeleton, status, metric, Outcome(value=1), now)
        settled = plan_run({**skeleton, "status": status}, now)
        status = settled.status
        if settled.done:
            return now, None, played
        if settled.next_wake is None:
            return None, "unknown: the run never ends by itself", played
        now = max(now, settled.next_wake)
    return None, f"unknown: more measurements than the plan plays ({MAX_MEASUREMENTS})", limit


@dataclass
class World:
    """The objects around one Rollout, and the clock."""

    raw: dict[str, Any]
    now: datetime
    templates: dict[str, dict[str, Any]]
    cluster_templates: dict[str, dict[str, Any]]
    # A created run -> its metrics substituted as the analysis controller would (None: not
    # known offline); given by the caller, so the world plays the schedule the gate shows.
    describe_run: Callable[[dict[str, Any]], list[dict[str, Any]] | None] | None = None
    replica_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, str | None] = field(default_factory=dict)
    runs: dict[str, RunRecord] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiment_ends: dict[str, datetime | None] = field(default_factory=dict)
    passes: list[PassRecord] = field(default_factory=list)
    pod_template: dict[str, Any] | None = None
    # Schedule plays left for all runs together: bounds the time a hostile spec costs.
    budget: int = MAX_MEASUREMENTS

    def model(self) -> Rollout:
        result = check_object(self.raw)
        if not isinstance(result.obj, Rollout):
            raise ValueError("; ".join(str(p) for p in result.errors) or "not a Rollout")
        return result.obj

    def observed(self) -> Observed:
        traffic = None
        if uses_router(self.raw):
            routers = tuple(Carrier(r.name, r.supports_header_routes, r.supports_mirror_routes)
                            for r in make_routers(self.raw))
            traffic = TrafficView(routers, {})
        return Observed(
            replica_sets=[ReplicaSetView.parse(rs) for rs in self.replica_sets.values()],
            analysis_runs=[AnalysisRunView.parse(r.manifest) for r in self.runs.values()],
            templates=self.templates, cluster_templates=self.cluster_templates, now=self.now,
            pod_template=self.pod_template or self.raw["spec"].get("template"),
            services=dict(self.services), traffic=traffic,
            experiments=[copy.deepcopy(e) for e in self.experiments.values()])

    def reconcile(self, model: Rollout) -> PassRecord:
        """One pass of the controller's planner, carried out."""
        plan = plan_rollout(self.raw, model, self.observed(), [])
        self._apply(plan)
        status = copy.deepcopy(plan.status)
        new_hash = str(status.get("currentPodHash") or "")
        stable_hash = str(status.get("stableRS") or "")
        counts = self.counts()
        older = sum(n for h, n in counts.items() if h not in (new_hash, stable_hash))
        # Once the new set is stable, "stable" is the previous one still running.
        stable = counts.get(stable_hash, 0) if stable_hash != new_hash else older
        record_ = PassRecord(self.now, plan, status, counts.get(new_hash, 0), stable, older,
                             dict(self.services))
        self.passes.append(record_)
        return record_

    def counts(self) -> dict[str, int]:
        return {rs["metadata"]["labels"][HASH_LABEL]: int(rs["spec"]["replicas"])
                for rs in self.replica_sets.values()}

    def state(self) -> Any:
        """What a pass can change, to tell a pass that changed nothing."""
        return copy.deepcopy((self.raw.get("status"), self.counts(), self.services,
                              sorted(self.runs), sorted(self.experiments),
                              {k: rs["metadata"].get("annotations")
                               for k, rs in self.replica_sets.items()}))

    # -- the cluster's side ------------------------------------------------------------

    def _apply(self, plan: Plan) -> None:
        # tests/unit/canary_sim.py carries out a Plan the same way on purpose: the test
        # comparing the timeline with the planner driven there must not share this code.
        if plan.create_replica_set:
            rs = copy.deepcopy(plan.create_replica_set)
            n = rs["spec"]["replicas"]
            rs["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}
            self.replica_sets[rs["metadata"]["name"]] = rs
        for name, n in plan.scale.items():
            rs = self.replica_sets[name]
            rs["spec"]["replicas"] = n
            rs["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}
        for name, changes in plan.annotate_replica_sets.items():
            annotations = self.replica_sets[name]["metadata"].setdefault("annotations", {})
            for key, value in changes.items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
        for name, change in plan.metadata_changes.items():
            annotations = self.replica_sets[name]["metadata"].setdefault("annotations", {})
            if change.record is None:
                annotations.pop(EPHEMERAL_ANNOTATION, None)
            else:
                annotations[EPHEMERAL_ANNOTATION] = change.record
        for name in plan.delete_replica_sets:
            self.replica_sets.pop(name, None)
        for manifest in plan.create_experiments:
            self._create_experiment(manifest)
        for name in plan.terminate_experiments:
            if name in self.experiments:
                self.experiments[name].setdefault("spec", {})["terminate"] = True
        for service, pod_hash in plan.service_selectors.items():
            self.services[service] = pod_hash
        for manifest in plan.create_analysis_runs:
            self._create_run(manifest)
        for name in plan.terminate_analysis_runs:
            if name in self.runs:
                self.runs[name].manifest.setdefault("spec", {})["terminate"] = True
        for name in [*plan.delete_analysis_runs, *plan.collect_analysis_runs]:
            self.runs.pop(name, None)
        self.raw["status"] = copy.deepcopy(plan.status)

    def _create_run(self, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        labels = manifest["metadata"].get("labels") or {}
        step = labels.get(STEP_LABEL)
        created = copy.deepcopy(manifest)
        created["metadata"]["creationTimestamp"] = self.now.isoformat()
        run = RunRecord(created, self.now, str(labels.get(TYPE_LABEL) or ""),
                        int(step) if step is not None else None)
        self.runs[name] = run
        if run.run_type == "Background":
            created["status"] = {"phase": "Running"}
            return
        substituted = self.describe_run(created) if self.describe_run else None
        skeleton, run.timing = schedule_of(created, substituted)
        if skeleton is not None:
            run.ends, problem, played = play_schedule(skeleton, self.now, self.budget)
            self.budget -= played
            if run.ends is None:
                run.timing = problem
        if run.ends is None:
            created["status"] = {"phase": "Successful"}
            run.finished = self.now
        else:
            created["status"] = {"phase": "Running"}
            self._tick_runs()

    def _create_experiment(self, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        if name in self.experiments:
            return
        created = copy.deepcopy(manifest)
        # The step's duration, as the planner copied it (checked with the Rollout).
        duration = (created.get("spec") or {}).get("duration")
        seconds = Duration.parse(duration).seconds if duration is not None else None
        self.experiments[name] = created
        if seconds is None:
            created["status"] = {"phase": "Successful"}
            self.experiment_ends[name] = None
        else:
            created["status"] = {"phase": "Running"}
            self.experiment_ends[name] = self.now + timedelta(seconds=seconds)
            self._tick_experiments()

    # -- the clock ---------------------------------------------------------------------

    def _tick_experiments(self) -> None:
        for name, end in self.experiment_ends.items():
            if end is not None and self.now >= end:
                self.experiments[name]["status"] = {"phase": "Successful"}

    def _tick_runs(self) -> None:
        for run in self.runs.values():
            if run.finished is None and run.ends is not None and self.now >= run.ends:
                run.manifest["status"] = {"phase": "Successful"}
                run.finished = self.now

    def tick(self) -> None:
        """Let runs and experiments catch up with `now`."""
        self._tick_runs()
        self._tick_experiments()

    def next_wake(self, plan: Plan) -> datetime | None:
        """The earliest later time anything happens by itself."""
        # The progress deadline is not progress: it only reports that none was made.
        times = [t for key, t in plan.wake_at.items() if t > self.now and key != "deadline"]
        times.extend(run.ends for run in self.runs.values()
                     if run.finished is None and run.ends is not None and run.ends > self.now)
        times.extend(end for end in self.experiment_ends.values()
                     if end is not None and end > self.now)
        return min(times) if times else None
