"""What the Rollout planners see of the cluster: ReplicaSets, AnalysisRuns, pods, parsed.

Plain views of API objects (dicts as the API server sends them), so the planners stay
pure and their tests build them from literals.

ReplicaSets are found by the `rollouts-pod-template-hash` label. A template we have not
hashed before may still have a ReplicaSet made by Argo Rollouts (whose hash function is
not ours): `same_template` finds it by comparing templates, as Argo itself does, so a
migrated Rollout keeps its ReplicaSets and pods.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollouts.api.phases import AnalysisPhase

if TYPE_CHECKING:  # the traffic package imports the core: types only, no import cycle
    from rollouts.traffic.select import TrafficView

HASH_LABEL = "rollouts-pod-template-hash"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
# Argo's keys: the applied ephemeral metadata (JSON) and an old ReplicaSet's scale-down time.
EPHEMERAL_ANNOTATION = "rollout.argoproj.io/ephemeral-metadata"
SCALE_DOWN_DEADLINE_ANNOTATION = "scale-down-deadline"
MANAGED_BY_ANNOTATION = "argo-rollouts.argoproj.io/managed-by-rollouts"
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
    annotations: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def scale_down_deadline(self) -> datetime | None:
        text = self.annotations.get(SCALE_DOWN_DEADLINE_ANNOTATION)
        if not text:
            return None
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None

    @property
    def ephemeral(self) -> dict[str, dict[str, str]]:
        """The ephemeral metadata last applied to this set: {labels, annotations}."""
        try:
            value = json.loads(self.annotations.get(EPHEMERAL_ANNOTATION) or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

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
            annotations={str(k): str(v) for k, v in annotations.items()},
        )


@dataclass(frozen=True)
class AnalysisRunView:
    """An AnalysisRun owned by a Rollout: its name, phase and message."""

    name: str
    phase: AnalysisPhase
    message: str
    terminated: bool
    labels: dict[str, str]
    created: str = ""

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
            created=str(meta.get("creationTimestamp") or ""),
        )


@dataclass(frozen=True)
class PodView:
    name: str
    created: datetime
    ready: bool
    deleting: bool


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
    # The pod template as the API server defaults it (a dry-run create), asked for only
    # when no ReplicaSet carries our hash: it finds a ReplicaSet made by Argo Rollouts.
    defaulted_template: dict[str, Any] | None = None
    # The canary's traffic routers and their live objects (None: no router we implement).
    traffic: TrafficView | None = None
    # Experiments owned by the Rollout, as the API server sent them (canary steps).
    experiments: list[dict[str, Any]] = field(default_factory=list)

    def by_hash(self, pod_hash: str | None) -> ReplicaSetView | None:
        if not pod_hash:
            return None
        for rs in self.replica_sets:
            if rs.pod_hash == pod_hash and not rs.deleting:
                return rs
        return None

    def run(self, name: str) -> AnalysisRunView | None:
        return next((run for run in self.analysis_runs if run.name == name), None)


def comparable_template(template: dict[str, Any], ignore_keys: set[str]) -> dict[str, Any]:
    """A pod template without what a controller adds: our hash label, ephemeral keys,
    an injected anti-affinity, `creationTimestamp: null`."""
    clean = copy.deepcopy(template)
    meta = clean.setdefault("metadata", {})
    meta.pop("creationTimestamp", None)
    for section in ("labels", "annotations"):
        values = meta.get(section)
        if isinstance(values, dict):
            for key in [HASH_LABEL, *ignore_keys]:
                values.pop(key, None)
            if not values:
                meta.pop(section)
    if not meta:
        clean.pop("metadata")
    spec = clean.get("spec")
    if isinstance(spec, dict):
        affinity = spec.get("affinity")
        if isinstance(affinity, dict) and "podAntiAffinity" in affinity:
            anti = affinity["podAntiAffinity"]
            if isinstance(anti, dict) and _injected_only(anti):
                affinity.pop("podAntiAffinity")
                if not affinity:
                    spec.pop("affinity")
    return clean


def _injected_only(anti: dict[str, Any]) -> bool:
    """True when every anti-affinity term selects pods by our hash label (ours or Argo's)."""
    terms: list[Any] = []
    for value in anti.values():
        if not isinstance(value, list):
            return False
        terms.extend(item.get("podAffinityTerm", item) if isinstance(item, dict) else None
                     for item in value)
    for term in terms:
        expressions = ((term or {}).get("labelSelector") or {}).get("matchExpressions") or []
        if not expressions or any(e.get("key") != HASH_LABEL for e in expressions):
            return False
    return bool(terms)


def same_template(desired: dict[str, Any], live: dict[str, Any], ignore_keys: set[str]) -> bool:
    """Whether a ReplicaSet's (defaulted) template runs the same pods as `desired`."""
    return comparable_template(desired, ignore_keys) == comparable_template(live, ignore_keys)
