"""A Rollout's `experiment` canary step, as Argo's rollout controller does it: pure.

- `step_experiment(...)` gives the Experiment to create for `steps[i].experiment`;
- `ExperimentView.parse(obj)` reads an Experiment back: its phase, and the Services of
  its weighted templates for the traffic routers (`weighted_services()`).

The Experiment (Argo's `GetExperimentFromTemplate`):

- name `<rollout>-<new hash>-<revision>-<step index>`, owned by the Rollout (controller
  reference), labels: the Rollout's, `rollouts-pod-template-hash: <new hash>`,
  `rollout-type: Step`, `step-index: <i>`; annotation `rollout.argoproj.io/revision`;
- `spec.duration` from the step, `progressDeadlineSeconds` from the Rollout, the step's
  `dryRun`;
- one template per step template: the canary's pod template (`specRef: canary`) or the
  stable's (`specRef: stable`) with the step's `metadata` labels/annotations added,
  `replicas` (default 1), the step's `selector` or the Rollout's (plus the metadata
  labels), the Rollout's `minReadySeconds`, and a `service` when the step template has a
  `weight` or a `service`;
- one analysis per step analysis, its arguments resolved as for a Rollout's runs:
  `valueFrom.podTemplateHashValue: Latest|Stable` -> the new or stable hash,
  `valueFrom.fieldRef` -> the field of the Rollout.

Argo keeps the weights in the Rollout's step; we also record them on the Experiment
(annotation `rollouts.argoproj.io/template-weights`, JSON `{template: weight}`) so the
Experiment alone says what share each template's Service takes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from rollouts.api.phases import AnalysisPhase
from rollouts.core.analysis_runs import resolve_field_path
from rollouts.core.observed import HASH_LABEL, REVISION_ANNOTATION
from rollouts.core.owner import owner_reference

__all__ = [
    "STEP_INDEX_LABEL",
    "TEMPLATE_WEIGHTS_ANNOTATION",
    "TYPE_LABEL",
    "ExperimentView",
    "step_experiment",
    "step_experiment_name",
]

TYPE_LABEL = "rollout-type"
STEP_INDEX_LABEL = "step-index"
TEMPLATE_WEIGHTS_ANNOTATION = "rollouts.argoproj.io/template-weights"


def step_experiment_name(rollout_name: str, new_hash: str, revision: int, step_index: int
                         ) -> str:
    return f"{rollout_name}-{new_hash}-{revision}-{step_index}"


def step_experiment(rollout_raw: dict[str, Any], step_index: int, step_raw: dict[str, Any], *,
                    new_hash: str, new_template: dict[str, Any], stable_hash: str | None,
                    stable_template: dict[str, Any] | None, revision: int) -> dict[str, Any]:
    """The Experiment manifest for `step_raw` (a canary step `{experiment: {...}}`, or the
    `experiment` mapping itself) at `step_index` of the Rollout `rollout_raw`.

    Raises `ValueError` (with a message naming the step's field) when a template's
    `specRef` is neither `canary` nor `stable`, or is `stable` while there is no stable
    template yet (Argo creates no experiment before a stable ReplicaSet exists).
    """
    step = step_raw.get("experiment", step_raw) if isinstance(step_raw, dict) else {}
    meta = rollout_raw.get("metadata") or {}
    spec = rollout_raw.get("spec") or {}
    name = step_experiment_name(str(meta.get("name")), new_hash, revision, step_index)
    labels = dict(meta.get("labels") or {})
    labels.update({HASH_LABEL: new_hash, TYPE_LABEL: "Step", STEP_INDEX_LABEL: str(step_index)})
    annotations = {REVISION_ANNOTATION: str(revision)}
    templates: list[dict[str, Any]] = []
    weights: dict[str, int] = {}
    for index, template_ref in enumerate(step.get("templates") or []):
        path = f"spec.strategy.canary.steps[{step_index}].experiment.templates[{index}]"
        templates.append(_template(spec, template_ref, path, new_template=new_template,
                                   stable_template=stable_template))
        if isinstance(template_ref.get("weight"), int):
            weights[str(template_ref["name"])] = int(template_ref["weight"])
    if weights:
        annotations[TEMPLATE_WEIGHTS_ANNOTATION] = json.dumps(weights, sort_keys=True)
    experiment_spec: dict[str, Any] = {"templates": templates}
    if step.get("duration") is not None:
        experiment_spec["duration"] = step["duration"]
    if spec.get("progressDeadlineSeconds") is not None:
        experiment_spec["progressDeadlineSeconds"] = spec["progressDeadlineSeconds"]
    if step.get("dryRun"):
        experiment_spec["dryRun"] = copy.deepcopy(step["dryRun"])
    analyses = [_analysis(rollout_raw, analysis, new_hash=new_hash, stable_hash=stable_hash)
                for analysis in step.get("analyses") or []]
    if analyses:
        experiment_spec["analyses"] = analyses
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(rollout_raw)],
        },
        "spec": experiment_spec,
    }


def _template(rollout_spec: dict[str, Any], ref: dict[str, Any], path: str, *,
              new_template: dict[str, Any], stable_template: dict[str, Any] | None
              ) -> dict[str, Any]:
    spec_ref = ref.get("specRef")
    if spec_ref == "canary":
        source = new_template
    elif spec_ref == "stable":
        if stable_template is None:
            raise ValueError(f"{path}.specRef: stable, but the rollout has no stable "
                             "ReplicaSet yet")
        source = stable_template
    else:
        raise ValueError(f"{path}.specRef: must be canary or stable, not {spec_ref!r}")
    pod_template = _without_hash(copy.deepcopy(source))
    pod_meta = pod_template.setdefault("metadata", {})
    extra = ref.get("metadata") or {}
    extra_labels = dict(extra.get("labels") or {})
    if extra_labels:
        pod_meta.setdefault("labels", {}).update(extra_labels)
    if extra.get("annotations"):
        pod_meta.setdefault("annotations", {}).update(extra["annotations"])
    if ref.get("selector") is not None:
        selector = copy.deepcopy(ref["selector"])
    elif rollout_spec.get("selector") is not None:
        selector = _without_hash(copy.deepcopy(rollout_spec["selector"]))
    else:  # a workloadRef Rollout: the template's own labels select its pods
        selector = {"matchLabels": dict(pod_meta.get("labels") or {})}
    if extra_labels:
        selector.setdefault("matchLabels", {}).update(extra_labels)
    template: dict[str, Any] = {
        "name": ref.get("name"),
        "replicas": ref["replicas"] if isinstance(ref.get("replicas"), int) else 1,
        "selector": selector,
        "template": pod_template,
    }
    if rollout_spec.get("minReadySeconds"):
        template["minReadySeconds"] = rollout_spec["minReadySeconds"]
    if ref.get("weight") is not None or ref.get("service") is not None:
        service_name = (ref.get("service") or {}).get("name")
        template["service"] = {"name": service_name} if service_name else {}
    return template


def _without_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """A pod template (`metadata.labels`) or a selector (`matchLabels`) without our hash
    label: the Experiment's ReplicaSet adds its own."""
    for labels in ((obj.get("metadata") or {}).get("labels"), obj.get("matchLabels")):
        if isinstance(labels, dict):
            labels.pop(HASH_LABEL, None)
    return obj


def _analysis(rollout_raw: dict[str, Any], ref: dict[str, Any], *, new_hash: str,
              stable_hash: str | None) -> dict[str, Any]:
    analysis: dict[str, Any] = {"name": ref.get("name"), "templateName": ref.get("templateName")}
    if ref.get("clusterScope"):
        analysis["clusterScope"] = True
    args = [_argument(rollout_raw, arg, new_hash=new_hash, stable_hash=stable_hash)
            for arg in ref.get("args") or []]
    if args:
        analysis["args"] = args
    if ref.get("requiredForCompletion"):
        analysis["requiredForCompletion"] = True
    return analysis


def _argument(rollout_raw: dict[str, Any], arg: dict[str, Any], *, new_hash: str,
              stable_hash: str | None) -> dict[str, Any]:
    name = arg.get("name")
    if arg.get("value") is not None:
        return {"name": name, "value": str(arg["value"])}
    source = arg.get("valueFrom") or {}
    hash_value = source.get("podTemplateHashValue")
    if hash_value is not None:
        value = stable_hash if hash_value == "Stable" else new_hash
        return {"name": name, "value": value or ""}
    field_ref = source.get("fieldRef") or {}
    if field_ref.get("fieldPath"):
        return {"name": name,
                "value": resolve_field_path(rollout_raw, str(field_ref["fieldPath"])) or ""}
    return {"name": name}


@dataclass(frozen=True)
class ExperimentView:
    """An Experiment as a Rollout reads it: who it is, how it is doing, what it serves."""

    name: str
    phase: AnalysisPhase | None
    message: str
    labels: dict[str, str]
    terminated: bool = False
    # Template name -> weight (the Rollout step's, recorded on the Experiment).
    weights: dict[str, int] = field(default_factory=dict)
    # Template name -> (Service name, pod hash) as the experiment's status reports them.
    services: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @staticmethod
    def parse(obj: dict[str, Any]) -> ExperimentView:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        try:
            phase: AnalysisPhase | None = (AnalysisPhase(status["phase"])
                                           if status.get("phase") else None)
        except ValueError:
            phase = AnalysisPhase.ERROR
        weights: dict[str, int] = {}
        try:
            recorded = json.loads((meta.get("annotations") or {}).get(
                TEMPLATE_WEIGHTS_ANNOTATION) or "{}")
        except ValueError:
            recorded = {}
        if isinstance(recorded, dict):
            weights = {str(k): v for k, v in recorded.items()
                       if isinstance(v, int) and not isinstance(v, bool)}
        services: dict[str, tuple[str, str | None]] = {}
        for entry in status.get("templateStatuses") or []:
            if isinstance(entry, dict) and entry.get("serviceName"):
                pod_hash = entry.get("podTemplateHash")
                services[str(entry.get("name"))] = (str(entry["serviceName"]),
                                                    str(pod_hash) if pod_hash else None)
        return ExperimentView(
            name=str(meta.get("name") or ""),
            phase=phase,
            message=str(status.get("message") or ""),
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            terminated=bool((obj.get("spec") or {}).get("terminate")),
            weights=weights,
            services=services,
        )

    @property
    def completed(self) -> bool:
        return self.phase is not None and self.phase.completed

    def weighted_services(self) -> list[tuple[str, int, str | None]]:
        """(Service name, weight, pod hash) of each template with a weight whose Service
        the status reports, in template-name order: Argo's `weights.additional`."""
        return [(service, self.weights[template], pod_hash)
                for template, (service, pod_hash) in sorted(self.services.items())
                if template in self.weights]
