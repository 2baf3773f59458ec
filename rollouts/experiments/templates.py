"""One template of an Experiment: its ReplicaSet, its Service, its status. Pure.

Argo's rules, per template, each pass:

- desired pods: 0 once the experiment is terminating or the template is completed, else
  `replicas` (default 1);
- no ReplicaSet yet: create `<experiment>-<template>` (our pod template hash label on the
  pods and in the selector, Argo's `experiment.argoproj.io/name` / `template-name`
  annotations, owned by the Experiment);
- scaling down waits `scaleDownDelaySeconds` (default 30): the set first gets Argo's
  `scale-down-deadline` annotation (a stored time, so a restart waits the same), then goes
  to 0 once it has passed; its Service is deleted once the set is at 0;
- `service`: a Service named `service.name` or the ReplicaSet's name, selecting the
  template's pods (selector labels + hash), with the containers' ports (none: no Service);
- status: Running when all desired pods are available, Progressing until then, Failed when
  that takes longer than `progressDeadlineSeconds` (600) since `lastTransitionTime` (reset
  whenever the counts change); Successful once the duration has passed or the experiment
  is terminating. A completed status never changes again.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from rollouts.api.common import format_time
from rollouts.api.experiment import ExperimentTemplate, TemplateStatusCode
from rollouts.core.observed import (
    HASH_LABEL,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    ReplicaSetView,
    pod_template_hash,
)
from rollouts.core.owner import owner_reference
from rollouts.experiments.work import (
    EXPERIMENT_NAME_ANNOTATION,
    TEMPLATE_NAME_ANNOTATION,
    ExperimentPass,
    parse_time,
)

_COUNTS = (("replicas", "status_replicas"), ("updatedReplicas", "status_replicas"),
           ("readyReplicas", "ready"), ("availableReplicas", "available"))


def experiment_owner(raw: dict[str, Any]) -> dict[str, Any]:
    """The controller owner reference pointing at the Experiment `raw`."""
    return dict(owner_reference(raw), kind="Experiment")


def replica_set_name(experiment_name: str, template_name: str) -> str:
    return f"{experiment_name}-{template_name}"


def _raw_template(work: ExperimentPass, name: str) -> dict[str, Any]:
    for entry in (work.raw.get("spec") or {}).get("templates") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise KeyError(name)


def replica_set_manifest(work: ExperimentPass, template: ExperimentTemplate,
                         replicas: int) -> dict[str, Any]:
    """The ReplicaSet of `template`: its pods carry our hash label, so does its selector."""
    raw = _raw_template(work, template.name)
    pod_template = copy.deepcopy(raw.get("template") or {})
    labels = pod_template.setdefault("metadata", {}).setdefault("labels", {})
    labels.pop(HASH_LABEL, None)
    pod_hash = pod_template_hash(pod_template)
    labels[HASH_LABEL] = pod_hash
    selector = copy.deepcopy(raw.get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    spec: dict[str, Any] = {"replicas": replicas, "selector": selector,
                            "template": pod_template}
    if template.min_ready_seconds:
        spec["minReadySeconds"] = template.min_ready_seconds
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": replica_set_name(work.name, template.name),
            "namespace": work.namespace,
            "labels": dict(labels),
            "annotations": {EXPERIMENT_NAME_ANNOTATION: work.name,
                            TEMPLATE_NAME_ANNOTATION: template.name},
            "ownerReferences": [experiment_owner(work.raw)],
        },
        "spec": spec,
    }


def service_manifest(work: ExperimentPass, template: ExperimentTemplate, rs: ReplicaSetView,
                     name: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    selector = dict(template.selector.match_labels or {})
    selector[HASH_LABEL] = rs.pod_hash
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": work.namespace,
            "annotations": {EXPERIMENT_NAME_ANNOTATION: work.name,
                            TEMPLATE_NAME_ANNOTATION: template.name},
            "ownerReferences": [experiment_owner(work.raw)],
        },
        "spec": {"selector": selector, "ports": ports},
    }


def container_ports(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    """Service ports for every container port of the pod template (Argo's rule)."""
    ports: list[dict[str, Any]] = []
    for container in (pod_template.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            number = port.get("containerPort")
            if not isinstance(number, int):
                continue
            entry: dict[str, Any] = {"port": number, "targetPort": number,
                                     "protocol": port.get("protocol") or "TCP"}
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
    return ports


def reconcile_template(work: ExperimentPass, template: ExperimentTemplate,
                       previous: dict[str, Any] | None, *, duration_passed: bool
                       ) -> dict[str, Any]:
    """The template's new status entry; fills the plan with what the set needs."""
    entry = copy.deepcopy(previous) if previous else {"name": template.name}
    code = _code(entry.get("status"))
    completed = code is not None and code.completed
    desired = 0 if work.terminating or completed else template.replicas_or_default
    rs = work.observed.replica_sets.get(template.name)
    if rs is None:
        if desired > 0:
            manifest = replica_set_manifest(work, template, desired)
            work.plan.create_replica_sets.append(manifest)
            work.plan.event("NewReplicaSetCreated",
                            f"Created ReplicaSet {manifest['metadata']['name']} with size "
                            f"{desired}")
            entry["podTemplateHash"] = manifest["spec"]["template"]["metadata"]["labels"][
                HASH_LABEL]
            entry["lastTransitionTime"] = work.now_text
    else:
        entry["podTemplateHash"] = rs.pod_hash
        if desired == 0:
            _scale_down(work, template, rs, entry)
        else:
            _ensure_service(work, template, rs, entry)
            if rs.replicas != desired:
                work.plan.scale[rs.name] = desired
                entry["lastTransitionTime"] = work.now_text
    _record_counts(work, entry, rs)
    if not completed:
        _judge(work, template, entry, desired, duration_passed=duration_passed)
    new_code = _code(entry.get("status"))
    if new_code is not None and new_code != code:
        message = f"Template '{template.name}' transitioned from {code or ''} -> {new_code}"
        if entry.get("message"):
            message += f": {entry['message']}"
        warning = new_code in (TemplateStatusCode.FAILED, TemplateStatusCode.ERROR)
        work.plan.event(f"Template{new_code.value}", message, warning=warning)
    return entry


def _code(value: object) -> TemplateStatusCode | None:
    try:
        return TemplateStatusCode(str(value)) if value else None
    except ValueError:
        return None


def _record_counts(work: ExperimentPass, entry: dict[str, Any], rs: ReplicaSetView | None
                   ) -> None:
    changed = False
    for key, attribute in _COUNTS:
        value = 0 if rs is None else int(getattr(rs, attribute))
        if entry.get(key, 0) != value:
            changed = True
        entry[key] = value
    if changed:
        entry["lastTransitionTime"] = work.now_text


def _judge(work: ExperimentPass, template: ExperimentTemplate, entry: dict[str, Any],
           desired: int, *, duration_passed: bool) -> None:
    if entry.get("status") == TemplateStatusCode.ERROR.value:
        return  # a Service we could not make: set by _ensure_service this pass
    if desired == entry.get("availableReplicas", 0):
        if duration_passed or work.terminating:
            entry["status"] = TemplateStatusCode.SUCCESSFUL.value
        else:
            entry["status"] = TemplateStatusCode.RUNNING.value
        return
    deadline_seconds = work.experiment.spec.progress_deadline_seconds_or_default
    since = parse_time(entry.get("lastTransitionTime")) or work.now
    deadline = since + timedelta(seconds=deadline_seconds)
    if work.now >= deadline:
        entry["status"] = TemplateStatusCode.FAILED.value
        entry["message"] = (f"Template '{template.name}' exceeded its progressDeadlineSeconds "
                            f"({deadline_seconds})")
    elif work.terminating:
        entry["status"] = TemplateStatusCode.SUCCESSFUL.value
    else:
        entry["status"] = TemplateStatusCode.PROGRESSING.value
        work.plan.wake_at[f"progress-deadline-{template.name}"] = deadline


def _ensure_service(work: ExperimentPass, template: ExperimentTemplate, rs: ReplicaSetView,
                    entry: dict[str, Any]) -> None:
    if template.service is None:
        return
    existing = work.observed.services.get(template.name)
    if existing is not None:
        entry["serviceName"] = existing
        return
    name = template.service.name or rs.name
    ports = container_ports(rs.template)
    if not ports:
        entry["message"] = ("no Service created: the pod template declares no container "
                            "ports to expose")
        return
    if name in work.observed.other_services:
        entry["status"] = TemplateStatusCode.ERROR.value
        entry["message"] = (f"Failed to create Service {name} for template '{template.name}': "
                            "a Service of that name exists and is not this experiment's; "
                            "rename one of them")
        return
    work.plan.create_services.append(service_manifest(work, template, rs, name, ports))
    entry["serviceName"] = name


def _scale_down(work: ExperimentPass, template: ExperimentTemplate, rs: ReplicaSetView,
                entry: dict[str, Any]) -> None:
    service = work.observed.services.get(template.name)
    if rs.replicas == 0:
        if service is not None:
            work.plan.delete_services.append(service)
            entry.pop("serviceName", None)
        return
    delay = work.experiment.spec.scale_down_delay_seconds_or_default
    deadline = rs.scale_down_deadline
    if delay > 0 and deadline is None:
        deadline = work.now + timedelta(seconds=delay)
        work.plan.annotate_replica_sets[rs.name] = {
            SCALE_DOWN_DEADLINE_ANNOTATION: format_time(deadline)}
    if delay > 0 and deadline is not None and work.now < deadline:
        work.plan.wake_at[f"scale-down-{template.name}"] = deadline
        return
    work.plan.scale[rs.name] = 0
    work.plan.event("ScalingReplicaSet", f"Scaled down ReplicaSet {rs.name} from "
                                         f"{rs.replicas} to 0")
    entry["lastTransitionTime"] = work.now_text
