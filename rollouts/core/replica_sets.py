"""ReplicaSets of a Rollout, for both strategies: which is new, stable and older; the new
one's manifest; scaling; history pruning; ephemeral metadata. Pure: intents go in the Plan.

Identification: the pod template's hash names the new ReplicaSet. When no ReplicaSet
carries it, one whose template equals the Rollout's (compared as the API server defaults
it, our hash label and ephemeral keys aside) is the new one, keeping its own hash and
revision: that is how a Rollout brought up by Argo Rollouts keeps its pods.

Ephemeral metadata (`canaryMetadata`/`stableMetadata`, `activeMetadata`/`previewMetadata`)
is set on a ReplicaSet's pod template and on its running pods; what was applied is
recorded in the set's `rollout.argoproj.io/ephemeral-metadata` annotation (Argo's), so
moving a set to another role removes the old role's keys.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from rollouts.api.common import PodTemplateMetadata
from rollouts.core import conditions
from rollouts.core.observed import (
    EPHEMERAL_ANNOTATION,
    HASH_LABEL,
    REVISION_ANNOTATION,
    Observed,
    ReplicaSetView,
    pod_template_hash,
    same_template,
)
from rollouts.core.owner import owner_reference
from rollouts.core.work import MetadataChange, Pass, match_labels, selector_string

_HOSTNAME = "kubernetes.io/hostname"


def ephemeral_keys(work: Pass) -> set[str]:
    """Every label/annotation key some role's metadata may have put on a template."""
    keys: set[str] = set()
    for meta in _all_role_metadata(work):
        keys.update((meta.labels or {}).keys())
        keys.update((meta.annotations or {}).keys())
    for rs in work.observed.replica_sets:
        for section in rs.ephemeral.values():
            if isinstance(section, dict):
                keys.update(section.keys())
    return keys


def _all_role_metadata(work: Pass) -> list[PodTemplateMetadata]:
    strategy = work.rollout.spec.strategy
    found: list[PodTemplateMetadata | None] = []
    if strategy is not None and strategy.canary is not None:
        found += [strategy.canary.canary_metadata, strategy.canary.stable_metadata]
    if strategy is not None and strategy.blue_green is not None:
        found += [strategy.blue_green.active_metadata, strategy.blue_green.preview_metadata]
    return [meta for meta in found if meta is not None]


def identify_replica_sets(work: Pass) -> None:
    """Set new/stable/older ReplicaSets and the revision; detect a template change."""
    template = work.observed.pod_template or {}
    work.new_hash = pod_template_hash(template)
    work.new_rs = work.observed.by_hash(work.new_hash)
    if work.new_rs is None:
        adopted = _same_template_set(work)
        if adopted is not None:
            work.new_hash, work.new_rs = adopted.pod_hash, adopted
    status = work.status
    work.stable_hash = status.get("stableRS")
    if work.stable_hash is None:
        # First deployment: nothing to compare against, so the template is stable at once.
        work.stable_hash = work.new_hash
        status["stableRS"] = work.new_hash
    work.template_changed = status.get("currentPodHash") != work.new_hash
    if work.stable_hash != work.new_hash:
        work.stable_rs = work.observed.by_hash(work.stable_hash)
    keep = {work.new_hash, work.stable_hash}
    work.older = [rs for rs in work.observed.replica_sets
                  if rs.pod_hash not in keep and not rs.deleting]
    if work.new_rs is not None:
        work.revision = work.new_rs.revision
    else:
        work.revision = max((rs.revision for rs in work.observed.replica_sets), default=0) + 1


def defaulting_request(raw: dict[str, Any], observed: Observed
                       ) -> tuple[str, dict[str, Any]] | None:
    """(our hash, a ReplicaSet to dry-run create) when the pod template must be defaulted
    by the API server to find a ReplicaSet made by another controller (Argo Rollouts) for
    it: some ReplicaSet exists, none carries our hash. None when no question is needed."""
    template = observed.pod_template
    if template is None or not observed.replica_sets:
        return None
    our_hash = pod_template_hash(template)
    if observed.by_hash(our_hash) is not None:
        return None
    labels = match_labels(raw, observed.match_labels)
    labels[HASH_LABEL] = our_hash
    body_template = copy.deepcopy(template)
    body_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = our_hash
    meta = raw["metadata"]
    return our_hash, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"generateName": f"{meta['name']}-", "namespace": meta.get("namespace")},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": body_template},
    }


def _same_template_set(work: Pass) -> ReplicaSetView | None:
    desired = work.observed.defaulted_template
    if desired is None:
        return None
    ignore = ephemeral_keys(work)
    candidates = sorted((rs for rs in work.observed.replica_sets if not rs.deleting),
                        key=lambda rs: rs.created)
    for rs in candidates:
        if rs.pod_hash and same_template(desired, rs.template, ignore):
            return rs
    return None


def start_new_revision(work: Pass) -> None:
    """The template changed: forget the previous revision's pauses, abort and runs."""
    status = work.status
    previous = status.get("currentPodHash")
    status["currentPodHash"] = work.new_hash
    rollback = work.new_hash == work.stable_hash
    for key in ("pauseConditions", "abortedAt"):
        status.pop(key, None)
    status["controllerPause"] = False
    status["abort"] = False
    status["promoteFull"] = False
    for run in work.observed.analysis_runs:
        stale = run.labels.get(HASH_LABEL) != work.new_hash
        if stale and not run.phase.completed and not run.terminated:
            work.plan.terminate_analysis_runs.append(run.name)
    conditions.set_condition(status, "Completed", rollback, "RolloutCompleted" if rollback
                             else "RolloutProgressing", "", work.now)
    if previous is not None:
        what = ("rolling back to the stable version" if rollback
                else "starting the canary" if work.is_canary else "starting the new version")
        work.plan.event("RolloutUpdated", f"Pod template changed ({work.new_hash}): {what}")
    conditions.set_condition(status, "Progressing", True, "RolloutUpdated",
                             f"Rollout updated to pod template {work.new_hash}", work.now,
                             touch=True)


def new_replica_set_manifest(work: Pass, replicas: int,
                             role: PodTemplateMetadata | None) -> dict[str, Any]:
    """The ReplicaSet for the current pod template, carrying its role's metadata."""
    template = copy.deepcopy(work.observed.pod_template or {})
    template_meta = template.setdefault("metadata", {})
    template_meta.setdefault("labels", {})[HASH_LABEL] = work.new_hash
    annotations = {REVISION_ANNOTATION: str(work.revision)}
    if role is not None and (role.labels or role.annotations):
        template_meta["labels"].update(role.labels or {})
        if role.annotations:
            template_meta.setdefault("annotations", {}).update(role.annotations)
        annotations[EPHEMERAL_ANNOTATION] = _record(role)
    _inject_anti_affinity(work, template)
    meta = work.raw["metadata"]
    selector = match_labels(work.raw, work.observed.match_labels)
    selector[HASH_LABEL] = work.new_hash
    labels = {k: v for k, v in template_meta["labels"].items()
              if role is None or k not in (role.labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{work.new_hash}",
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(work.raw)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": work.rollout.spec.min_ready_seconds_or_default,
            "selector": {"matchLabels": selector},
            "template": template,
        },
    }


def _inject_anti_affinity(work: Pass, template: dict[str, Any]) -> None:
    """Argo's `antiAffinity`: the new pods avoid nodes running the stable version's pods."""
    anti = work.strategy.anti_affinity
    if anti is None or not work.stable_hash or work.stable_hash == work.new_hash:
        return
    term = {"labelSelector": {"matchExpressions": [
        {"key": HASH_LABEL, "operator": "In", "values": [work.stable_hash]}]},
        "topologyKey": _HOSTNAME}
    spec = template.setdefault("spec", {})
    pod_anti = spec.setdefault("affinity", {}).setdefault("podAntiAffinity", {})
    if anti.required_during_scheduling_ignored_during_execution is not None:
        pod_anti.setdefault("requiredDuringSchedulingIgnoredDuringExecution", []).append(term)
    elif anti.preferred_during_scheduling_ignored_during_execution is not None:
        weight = anti.preferred_during_scheduling_ignored_during_execution.weight or 1
        pod_anti.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []).append(
            {"weight": weight, "podAffinityTerm": term})


def scale_to(work: Pass, rs: ReplicaSetView | None, replicas: int,
             role: PodTemplateMetadata | None = None) -> None:
    """Ask for `replicas` on `rs`, creating the new ReplicaSet when it is missing."""
    if rs is None:
        if work.plan.create_replica_set is None:
            work.plan.create_replica_set = new_replica_set_manifest(work, replicas, role)
            work.plan.event("NewReplicaSetCreated",
                            f"Created ReplicaSet {work.name}-{work.new_hash} "
                            f"(revision {work.revision}) with {replicas} replicas",
                            created=str(work.plan.create_replica_set["metadata"]["name"]))
        return
    if rs.replicas != replicas:
        work.plan.scale[rs.name] = replicas
        direction = "up" if replicas > rs.replicas else "down"
        work.plan.event("ScalingReplicaSet",
                        f"Scaled {direction} ReplicaSet {rs.name} from {rs.replicas} to {replicas}")


def prune_history(work: Pass) -> None:
    """Delete idle old ReplicaSets beyond `revisionHistoryLimit`, oldest first."""
    limit = work.rollout.spec.revision_history_limit_or_default
    idle = [rs for rs in work.older
            if rs.replicas == 0 and rs.status_replicas == 0 and rs.name not in work.plan.scale]
    idle.sort(key=lambda rs: rs.revision)
    for rs in idle[: max(0, len(idle) - limit)]:
        work.plan.delete_replica_sets.append(rs.name)


def _record(meta: PodTemplateMetadata | None) -> str:
    value: dict[str, dict[str, str]] = {}
    if meta is not None and meta.labels:
        value["labels"] = dict(meta.labels)
    if meta is not None and meta.annotations:
        value["annotations"] = dict(meta.annotations)
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else ""


def sync_role_metadata(work: Pass, rs: ReplicaSetView | None,
                       role: PodTemplateMetadata | None, *, pods: bool = True) -> None:
    """Give `rs` (its template, and its pods unless `pods` is False) exactly `role`'s
    ephemeral metadata."""
    if rs is None or rs.deleting:
        return
    applied = rs.ephemeral
    wanted_record = _record(role)
    if (json.dumps(applied, sort_keys=True, separators=(",", ":")) if applied else "") == (
            wanted_record):
        return
    changes: dict[str, dict[str, str | None]] = {}
    for section in ("labels", "annotations"):
        old = applied.get(section) or {}
        new = (getattr(role, section) if role is not None else None) or {}
        delta: dict[str, str | None] = {key: None for key in old if key not in new}
        delta.update({key: value for key, value in new.items() if old.get(key) != value})
        changes[section] = delta
    work.plan.metadata_changes[rs.name] = MetadataChange(
        pod_hash=rs.pod_hash,
        pod_selector=selector_string(work.raw, work.observed.match_labels, pod_hash=rs.pod_hash),
        labels=changes["labels"], annotations=changes["annotations"],
        record=wanted_record or None, pods=pods)


def retire_role_metadata(work: Pass) -> None:
    """Older sets keep no role: their template loses it; their pods are left as they are
    (they are going away), as Argo does."""
    for rs in work.older:
        sync_role_metadata(work, rs, None, pods=False)
