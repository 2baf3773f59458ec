"""Carries out a Rollout `Plan` (either strategy) against the API server: the thin,
impure half.

Order matters: the canary ReplicaSet exists before anything points at it (the
arithmetic keeps each pass's scaling within the surge and availability budgets), runs
and services follow, then the single status write (with the
object's resourceVersion as a precondition, so a stale view never overwrites a newer
one), and last the Events, so they describe only what was written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from rollouts.controller.traffic_io import write_router_objects
from rollouts.core import HASH_LABEL, MANAGED_BY_ANNOTATION, MetadataChange, Plan
from rollouts.core.observed import EPHEMERAL_ANNOTATION
from rollouts.kube import (
    ANALYSIS_RUN,
    DEPLOYMENT,
    EXPERIMENT,
    POD,
    REPLICA_SET,
    ROLLOUT,
    SERVICE,
    AlreadyExists,
    KubeClient,
    NotFound,
)
from rollouts.merge_patch import merge_patch
from rollouts.runtime import log_fields

log = logging.getLogger(__name__)

EventHook = Callable[[dict[str, Any], str, str], None]
"""`on_event(rollout, type, reason)`, called after each Event emitted (metrics count them)."""


def execute(client: KubeClient, raw: dict[str, Any], plan: Plan, *,
            on_event: EventHook | None = None) -> dict[str, Any] | None:
    """Apply `plan` for the Rollout `raw`; returns the Rollout as written, if status changed."""
    meta = raw["metadata"]
    namespace, name = meta.get("namespace"), meta["name"]
    context = log_fields(kind="Rollout", namespace=namespace, name=name)
    if plan.create_replica_set is not None:
        try:
            client.create(REPLICA_SET, namespace, plan.create_replica_set)
        except AlreadyExists:
            log.info("ReplicaSet %s already exists",
                     plan.create_replica_set["metadata"]["name"], extra=context)
    for rs_name, replicas in plan.scale.items():
        try:
            client.patch(REPLICA_SET, namespace, rs_name, {"spec": {"replicas": replicas}})
        except NotFound:
            log.info("ReplicaSet %s is gone; not scaling it", rs_name, extra=context)
    for rs_name, changes in plan.annotate_replica_sets.items():
        with contextlib.suppress(NotFound):
            client.patch(REPLICA_SET, namespace, rs_name, {"metadata": {"annotations": changes}})
    for rs_name, change in plan.metadata_changes.items():
        _move_metadata(client, namespace, rs_name, change)
    for manifest in plan.create_analysis_runs:
        with contextlib.suppress(AlreadyExists):
            client.create(ANALYSIS_RUN, namespace, manifest)
    for run in plan.terminate_analysis_runs:
        with contextlib.suppress(NotFound):
            client.patch(ANALYSIS_RUN, namespace, run, {"spec": {"terminate": True}})
    for run in plan.delete_analysis_runs:
        client.delete(ANALYSIS_RUN, namespace, run)
    for manifest in plan.create_experiments:
        with contextlib.suppress(AlreadyExists):
            client.create(EXPERIMENT, namespace, manifest)
    for experiment in plan.terminate_experiments:
        with contextlib.suppress(NotFound):
            client.patch(EXPERIMENT, namespace, experiment, {"spec": {"terminate": True}})
    for service, pod_hash in plan.service_selectors.items():
        client.patch(SERVICE, namespace, service, {
            "metadata": {"annotations": {MANAGED_BY_ANNOTATION: name}},
            "spec": {"selector": {HASH_LABEL: pod_hash}}})
    # After the Services: a weight never moves onto a Service not yet pinned.
    write_router_objects(client, raw, plan.router_writes)
    for rs_name in plan.delete_replica_sets:
        client.delete(REPLICA_SET, namespace, rs_name)
    for pod in plan.delete_pods:
        client.delete(POD, namespace, pod)
    workload = ((raw.get("spec") or {}).get("workloadRef") or {}).get("name")
    if plan.scale_workload is not None and workload:
        client.patch(DEPLOYMENT, namespace, str(workload),
                     {"spec": {"replicas": plan.scale_workload}})

    written: dict[str, Any] | None = None
    diff = merge_patch(raw.get("status") or {}, plan.status)
    if diff:
        body = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": diff}
        written = client.patch_status(ROLLOUT, namespace, name, body)
    for event in plan.events:
        type_: Literal["Normal", "Warning"] = (
            "Warning" if event.type == "Warning" else "Normal")
        client.emit_event(raw, type_, event.reason, event.message)
        if on_event is not None:
            on_event(raw, type_, event.reason)
    return written


def _move_metadata(client: KubeClient, namespace: str | None, rs_name: str,
                   change: MetadataChange) -> None:
    """Ephemeral labels/annotations onto a ReplicaSet's template, then its running pods."""
    pod_meta: dict[str, Any] = {}
    if change.labels:
        pod_meta["labels"] = change.labels
    if change.annotations:
        pod_meta["annotations"] = change.annotations
    body: dict[str, Any] = {
        "metadata": {"annotations": {EPHEMERAL_ANNOTATION: change.record}},
        "spec": {"template": {"metadata": pod_meta}}}
    try:
        client.patch(REPLICA_SET, namespace, rs_name, body)
    except NotFound:
        return
    if not pod_meta or not change.pods:
        return
    pods = client.list(POD, namespace, label_selector=change.pod_selector).items
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        with contextlib.suppress(NotFound):
            client.patch(POD, namespace, str(pod["metadata"]["name"]), {"metadata": pod_meta})
