"""Building the AnalysisRun a Rollout step (or its background analysis) asks for: pure.

Templates are merged in order into one run: their metrics, `dryRun` and
`measurementRetention` are concatenated; arguments are the union of the templates'
declarations, with the Rollout's values taking precedence. Values the Rollout computes
(`podTemplateHashValue`, `fieldRef` on the Rollout) are resolved here; `secretKeyRef`
arguments are left for the analysis controller, which reads Secrets at measurement time
so their values are never stored in the run.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from rollouts.api.rollout import RolloutAnalysis, RolloutArgument
from rollouts.api.sharding import inherited_instance_label
from rollouts.core.owner import owner_reference

ROLLOUT_LABEL = "rollouts.argoproj.io/rollout"
TYPE_LABEL = "rollout-type"
STEP_LABEL = "step-index"
HASH_LABEL = "rollouts-pod-template-hash"


class MissingTemplate(Exception):
    """A referenced (Cluster)AnalysisTemplate does not exist (yet)."""


@dataclass(frozen=True)
class RunRequest:
    """Which run to build: its name, kind of run and the pod hashes args may refer to."""

    name: str
    run_type: str  # "Step" or "Background"
    step_index: int | None
    latest_hash: str
    stable_hash: str | None


_FIELD_PATH = re.compile(r"^([A-Za-z]+)\.([A-Za-z]+)(?:\[['\"](.+)['\"]\])?$")


def resolve_field_path(obj: dict[str, Any], field_path: str) -> str | None:
    """`metadata.name`, `metadata.labels['app']` and the like on the Rollout object."""
    match = _FIELD_PATH.match(field_path.strip())
    if not match:
        return None
    section, key, subkey = match.groups()
    value = (obj.get(section) or {}).get(key)
    if subkey is not None:
        value = (value or {}).get(subkey) if isinstance(value, dict) else None
    return None if value is None or isinstance(value, dict | list) else str(value)


def _rollout_arg(arg: RolloutArgument, rollout: dict[str, Any], request: RunRequest
                 ) -> dict[str, Any]:
    if arg.value is not None:
        return {"name": arg.name, "value": arg.value}
    source = arg.value_from
    if source is not None and source.pod_template_hash_value is not None:
        use_stable = source.pod_template_hash_value.value == "Stable"
        value = request.stable_hash if use_stable else request.latest_hash
        return {"name": arg.name, "value": value or ""}
    if source is not None and source.field_ref is not None:
        value = resolve_field_path(rollout, source.field_ref.field_path)
        return {"name": arg.name, "value": value or ""}
    return {"name": arg.name}


def build_analysis_run(
    *,
    rollout: dict[str, Any],
    analysis: RolloutAnalysis,
    request: RunRequest,
    templates: dict[str, dict[str, Any]],
    cluster_templates: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The AnalysisRun manifest; raises `MissingTemplate` naming the first one missing."""
    metrics: list[Any] = []
    dry_run: list[Any] = []
    retention: list[Any] = []
    args: dict[str, dict[str, Any]] = {}
    for ref in analysis.templates or []:
        name = ref.template_name or ""
        source = cluster_templates if ref.is_cluster_scoped else templates
        template = source.get(name)
        if template is None:
            kind = "ClusterAnalysisTemplate" if ref.is_cluster_scoped else "AnalysisTemplate"
            raise MissingTemplate(f"{kind} '{name}' not found")
        template_spec = template.get("spec") or {}
        metrics.extend(copy.deepcopy(template_spec.get("metrics") or []))
        dry_run.extend(copy.deepcopy(template_spec.get("dryRun") or []))
        retention.extend(copy.deepcopy(template_spec.get("measurementRetention") or []))
        for arg in template_spec.get("args") or []:
            args.setdefault(str(arg.get("name")), copy.deepcopy(arg))
    for rollout_arg in analysis.args or []:
        args[rollout_arg.name] = _rollout_arg(rollout_arg, rollout, request)

    meta = rollout.get("metadata", {})
    labels = {ROLLOUT_LABEL: str(meta.get("name")), TYPE_LABEL: request.run_type,
              HASH_LABEL: request.latest_hash, **inherited_instance_label(meta.get("labels"))}
    if request.step_index is not None:
        labels[STEP_LABEL] = str(request.step_index)
    spec: dict[str, Any] = {"metrics": metrics}
    if args:
        spec["args"] = list(args.values())
    if dry_run:
        spec["dryRun"] = dry_run
    if retention:
        spec["measurementRetention"] = retention
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": request.name,
            "namespace": meta.get("namespace"),
            "labels": labels,
            "ownerReferences": [owner_reference(rollout)],
        },
        "spec": spec,
    }
