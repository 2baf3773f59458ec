"""What the Rollout planner sees of the cluster: ReplicaSets and AnalysisRuns, parsed.

Plain views of API objects (dicts as the API server sends them), so the planner stays
pure and its tests build them from literals.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollouts.api.phases import AnalysisPhase

if TYPE_CHECKING:
    from rollouts.canary.restart import PodView

HASH_LABEL = "rollouts-pod-template-hash"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
# Letters and digits that never spell words, as Kubernetes' own hashes use.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def pod_template_hash(template: dict[str, Any]) -> str:
    """A stable 10-character name for a pod template (our label removed first)."""
    clean = copy.deepcopy(template)
    labels = clean.get("metadata", {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    digest = hashlib.sha256(
        json.dumps(clean, sort_keys=True, separators=(",", ":")).encode()
    ).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


@dataclass(frozen=True)
class ReplicaSetView:
    """A ReplicaSet owned by a Rollout: the fields the planner decides on."""

    name: str
    pod_hash: str
    replicas: int
    status_replicas: int
    ready: int
    available: int
    revision: int
    created: str
    deleting: bool
    template: dict[str, Any] = field(compare=False, repr=False)

    @staticmethod
    def parse(obj: dict[str, Any]) -> ReplicaSetView:
        meta = obj.get("metadata", {})
        spec = obj.get("spec", {})
        status = obj.get("status", {})
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        try:
            revision = int(annotations.get(REVISION_ANNOTATION, "0"))
        except ValueError:
            revision = 0
        return ReplicaSetView(
            name=str(meta.get("name", "")),
            pod_hash=str(labels.get(HASH_LABEL, "")),
            replicas=int(spec.get("replicas", 0) or 0),
            status_replicas=int(status.get("replicas", 0) or 0),
            ready=int(status.get("readyReplicas", 0) or 0),
            available=int(status.get("availableReplicas", 0) or 0),
            revision=revision,
            created=str(meta.get("creationTimestamp", "")),
            deleting=bool(meta.get("deletionTimestamp")),
            template=spec.get("template") or {},
        )


@dataclass(frozen=True)
class AnalysisRunView:
    """An AnalysisRun owned by a Rollout: its name, phase and message."""

    name: str
    phase: AnalysisPhase
    message: str
    terminated: bool
    labels: dict[str, str]

    @staticmethod
    def parse(obj: dict[str, Any]) -> AnalysisRunView:
        meta = obj.get("metadata", {})
        status = obj.get("status") or {}
        try:
            phase = AnalysisPhase(status.get("phase") or "Pending")
        except ValueError:
            phase = AnalysisPhase.ERROR
        return AnalysisRunView(
            name=str(meta.get("name", "")),
            phase=phase,
            message=str(status.get("message") or ""),
            terminated=bool((obj.get("spec") or {}).get("terminate")),
            labels=dict(meta.get("labels") or {}),
        )


@dataclass(frozen=True)
class Observed:
    """Everything the planner reads besides the Rollout itself."""

    replica_sets: list[ReplicaSetView]
    analysis_runs: list[AnalysisRunView]
    templates: dict[str, dict[str, Any]]
    cluster_templates: dict[str, dict[str, Any]]
    now: datetime
    # The pod template to run: spec.template, or the referenced Deployment's.
    pod_template: dict[str, Any] | None
    # Services in the Rollout's namespace by name -> the pod hash their selector pins
    # (None when it pins none). A name missing here is a Service that does not exist.
    services: dict[str, str | None] = field(default_factory=dict)
    workload_missing: str | None = None
    # The Deployment's matchLabels when a workloadRef Rollout has no selector of its own.
    match_labels: dict[str, str] | None = None
    # The referenced Deployment's spec.replicas (workloadRef), if any.
    workload_replicas: int | None = None
    # The Rollout's pods: listed only while a restart is in progress (`Plan.needs_pods`).
    pods: list[PodView] | None = None

    def by_hash(self, pod_hash: str | None) -> ReplicaSetView | None:
        if not pod_hash:
            return None
        for rs in self.replica_sets:
            if rs.pod_hash == pod_hash and not rs.deleting:
                return rs
        return None

    def run(self, name: str) -> AnalysisRunView | None:
        return next((run for run in self.analysis_runs if run.name == name), None)
