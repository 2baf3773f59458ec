"""The record one planning pass works on, and the `Plan` of intents it produces. Pure.

Both strategy planners (`rollouts.canary`, `rollouts.bluegreen`) fill the same `Plan`;
the executor in `rollouts.controller` carries it out, in the order of its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollouts.api.common import format_time
from rollouts.api.rollout import BlueGreenStrategy, CanaryStrategy, Rollout
from rollouts.core.budgets import surge_and_unavailable
from rollouts.core.observed import HASH_LABEL, Observed, ReplicaSetView

if TYPE_CHECKING:  # the traffic package imports the core: types only, no import cycle
    from rollouts.traffic.base import Write


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str
    # The object whose creation this Event announces: the executor drops the Event when
    # that object already existed (a pass planned from a cache that had not seen it yet),
    # so "Created ..." is said once per object.
    created: str | None = None


@dataclass(frozen=True)
class MetadataChange:
    """Ephemeral labels/annotations to move on one ReplicaSet and its pods.

    `labels`/`annotations` map a key to its new value, or None to remove it;
    `record` is the new value of the ReplicaSet's ephemeral-metadata annotation;
    `pods`: whether running pods change too (a retired set changes its template only).
    """

    pod_hash: str
    pod_selector: str  # the set's pods: the Rollout's selector narrowed by pod_hash
    labels: dict[str, str | None]
    annotations: dict[str, str | None]
    record: str | None
    pods: bool = True


@dataclass
class Plan:
    """Intents of one reconcile pass, carried out in this order by the executor."""

    status: dict[str, Any]
    create_replica_set: dict[str, Any] | None = None
    scale: dict[str, int] = field(default_factory=dict)
    # ReplicaSet name -> annotation changes (value None removes the key), e.g. the
    # `scale-down-deadline` of a previous active ReplicaSet.
    annotate_replica_sets: dict[str, dict[str, str | None]] = field(default_factory=dict)
    metadata_changes: dict[str, MetadataChange] = field(default_factory=dict)
    service_selectors: dict[str, str] = field(default_factory=dict)
    # Traffic router objects to create or patch, after the Services are pinned.
    router_writes: list[Write] = field(default_factory=list)
    create_experiments: list[dict[str, Any]] = field(default_factory=list)
    terminate_experiments: list[str] = field(default_factory=list)
    create_analysis_runs: list[dict[str, Any]] = field(default_factory=list)
    terminate_analysis_runs: list[str] = field(default_factory=list)
    delete_analysis_runs: list[str] = field(default_factory=list)
    # Finished runs past the history limits: deleted like the above, but no later pass
    # reads them, so they do not stop passes from being planned together.
    collect_analysis_runs: list[str] = field(default_factory=list)
    delete_replica_sets: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wake_at: dict[str, datetime] = field(default_factory=dict)
    requeue: bool = False
    delete_pods: list[str] = field(default_factory=list)
    scale_workload: int | None = None
    # The restart needs the Rollout's pods, which the controller lists only on demand.
    needs_pods: bool = False

    def event(self, reason: str, message: str, warning: bool = False, *,
              created: str | None = None) -> None:
        self.events.append(Event("Warning" if warning else "Normal", reason, message,
                                 created))

    @property
    def chains(self) -> bool:
        """True when the next pass may be planned at once from the status as this one
        would write it: it writes the status and Events, and otherwise at most collects
        finished AnalysisRuns past their history limit. The caches the next pass reads
        are then as current after this pass as before (a collected run is still in the
        cache, and the next pass names it for collection again)."""
        return not (self.create_replica_set is not None or self.scale
                    or self.annotate_replica_sets or self.metadata_changes
                    or self.service_selectors or self.router_writes
                    or self.create_experiments or self.terminate_experiments
                    or self.create_analysis_runs or self.terminate_analysis_runs
                    or self.delete_analysis_runs or self.delete_replica_sets
                    or self.delete_pods or self.scale_workload is not None
                    or self.needs_pods)


@dataclass
class Pass:
    """The working state of one planning pass, whichever the strategy."""

    raw: dict[str, Any]
    rollout: Rollout
    strategy: CanaryStrategy | BlueGreenStrategy
    observed: Observed
    now: datetime
    old: dict[str, Any]
    plan: Plan
    new_hash: str = ""
    new_rs: ReplicaSetView | None = None
    stable_hash: str | None = None
    stable_rs: ReplicaSetView | None = None
    older: list[ReplicaSetView] = field(default_factory=list)
    revision: int = 0
    # True when this pass saw the pod template change (a new revision started).
    template_changed: bool = False
    # Older ReplicaSets kept up on purpose (a blue-green scale-down delay): not "pending".
    delayed: set[str] = field(default_factory=set)

    @property
    def status(self) -> dict[str, Any]:
        return self.plan.status

    @property
    def name(self) -> str:
        return str(self.raw["metadata"]["name"])

    @property
    def replicas(self) -> int:
        return self.rollout.spec.replicas_or_default

    @property
    def canary(self) -> CanaryStrategy:
        if not isinstance(self.strategy, CanaryStrategy):
            raise TypeError("not a canary Rollout")
        return self.strategy

    @property
    def blue_green(self) -> BlueGreenStrategy:
        if not isinstance(self.strategy, BlueGreenStrategy):
            raise TypeError("not a blue-green Rollout")
        return self.strategy

    @property
    def is_canary(self) -> bool:
        return isinstance(self.strategy, CanaryStrategy)

    @property
    def step_count(self) -> int:
        return len(self.canary.step_list) if self.is_canary else 0

    @property
    def step_index(self) -> int:
        return int(self.status.get("currentStepIndex") or 0)

    @property
    def budgets(self) -> tuple[int, int]:
        """(maxSurge, maxUnavailable) in pods. Blue-green surges by a whole set."""
        if isinstance(self.strategy, CanaryStrategy):
            return surge_and_unavailable(self.strategy.max_surge_or_default.raw,
                                         self.strategy.max_unavailable_or_default.raw,
                                         self.replicas)
        return surge_and_unavailable("100%", self.strategy.max_unavailable_or_default.raw,
                                     self.replicas)

    @property
    def surge(self) -> int:
        return self.budgets[0]

    @property
    def unavailable(self) -> int:
        return self.budgets[1]


def match_labels(raw: dict[str, Any], fallback: dict[str, str] | None = None) -> dict[str, str]:
    """The Rollout's selector labels (a workloadRef Rollout may borrow its Deployment's)."""
    labels = ((raw.get("spec") or {}).get("selector") or {}).get("matchLabels")
    return dict(labels or fallback or {})


def selector_string(raw: dict[str, Any], fallback: dict[str, str] | None = None,
                    *, pod_hash: str | None = None) -> str:
    """The Rollout's label selector as `k=v,...` (narrowed to one ReplicaSet's pods when
    `pod_hash` is given)."""
    labels = match_labels(raw, fallback)
    if pod_hash:
        labels[HASH_LABEL] = pod_hash
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def now_text(work: Pass) -> str:
    return format_time(work.now)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
