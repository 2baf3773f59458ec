"""The AnalysisRuns of an Experiment: create, follow, terminate, judge. Pure.

Argo's rules: before every template is available (`status.availableAt`) a run is not
started, but its template must exist (a missing one is an Error that ends the
experiment); then one run per analysis, named `<experiment>-<analysis>`, built from the
(Cluster)AnalysisTemplate by the same code as a Rollout's runs
(`rollouts.core.analysis_runs.build_analysis_run`), with the analysis' arguments; while
the experiment is terminating, runs still going are terminated.

Argument values may name things of the experiment: `{{templates.NAME.podTemplateHash}}`,
`{{templates.NAME.replicaset.name}}`, `{{experiment.availableAt}}`,
`{{experiment.finishedAt}}` (availableAt + duration). A `valueFrom.fieldRef` is resolved
on the Experiment; a `valueFrom.secretKeyRef` is passed to the run, whose controller
reads the Secret at measurement time.

The experiment's verdict from its analyses (`assess_analyses`): the worst phase of them
(Successful < Running < Pending < Inconclusive < Error < Failed, Pending reported as
Running); once every `requiredForCompletion` analysis has succeeded and the others have
too (or were terminated), the message is "Required AnalysisRuns completed".
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any

from rollouts.api.analysis import Argument
from rollouts.api.common import format_time
from rollouts.api.experiment import Experiment, ExperimentAnalysis
from rollouts.api.phases import AnalysisPhase
from rollouts.api.rollout import RolloutAnalysis, RolloutAnalysisTemplateRef
from rollouts.api.sharding import inherited_instance_label
from rollouts.core.analysis_runs import (
    MissingTemplate,
    RunRequest,
    build_analysis_run,
    resolve_field_path,
)
from rollouts.experiments.templates import experiment_owner, replica_set_name
from rollouts.experiments.work import EXPERIMENT_NAME_ANNOTATION, ExperimentPass, parse_time

REQUIRED_COMPLETED = "Required AnalysisRuns completed"
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


def run_name(experiment_name: str, analysis_name: str) -> str:
    return f"{experiment_name}-{analysis_name}"


def _template_kind(analysis: ExperimentAnalysis) -> str:
    return "ClusterAnalysisTemplate" if analysis.is_cluster_scoped else "AnalysisTemplate"


def _template_missing(work: ExperimentPass, analysis: ExperimentAnalysis) -> str | None:
    source = (work.observed.cluster_templates if analysis.is_cluster_scoped
              else work.observed.templates)
    if analysis.template_name in source:
        return None
    return f"{_template_kind(analysis)} '{analysis.template_name}' not found"


def experiment_values(work: ExperimentPass) -> dict[str, str]:
    """What `{{...}}` in an analysis argument may name, as known in this pass."""
    values: dict[str, str] = {}
    available_at = parse_time(work.status.get("availableAt"))
    if available_at is not None:
        values["experiment.availableAt"] = format_time(available_at)
        duration = work.experiment.spec.duration
        if duration is not None:
            finished = available_at + timedelta(seconds=duration.seconds)
            values["experiment.finishedAt"] = format_time(finished)
    for entry in work.status.get("templateStatuses") or []:
        name = str(entry.get("name"))
        if entry.get("podTemplateHash"):
            values[f"templates.{name}.podTemplateHash"] = str(entry["podTemplateHash"])
        values[f"templates.{name}.replicaset.name"] = replica_set_name(work.name, name)
    return values


def resolve_value(text: str, values: dict[str, str]) -> str:
    """`text` with the experiment placeholders it names filled in; others left as they are
    (`{{args.X}}` belongs to the run)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _run_args(work: ExperimentPass, args: list[Argument]) -> list[dict[str, Any]]:
    values = experiment_values(work)
    resolved: list[dict[str, Any]] = []
    for arg in args:
        if arg.value is not None:
            resolved.append({"name": arg.name, "value": resolve_value(arg.value, values)})
        elif arg.value_from is not None and arg.value_from.field_ref is not None:
            value = resolve_field_path(work.raw, arg.value_from.field_ref.field_path)
            resolved.append({"name": arg.name, "value": value or ""})
        elif arg.value_from is not None and arg.value_from.secret_key_ref is not None:
            ref = arg.value_from.secret_key_ref
            resolved.append({"name": arg.name, "valueFrom": {
                "secretKeyRef": {"name": ref.name, "key": ref.key}}})
        else:
            resolved.append({"name": arg.name})
    return resolved


def analysis_run_manifest(work: ExperimentPass, analysis: ExperimentAnalysis) -> dict[str, Any]:
    """The run of `analysis`; raises `MissingTemplate` when its template does not exist."""
    name = run_name(work.name, analysis.name)
    ref = RolloutAnalysisTemplateRef(template_name=analysis.template_name,
                                     cluster_scope=analysis.cluster_scope)
    manifest = build_analysis_run(
        rollout=work.raw, analysis=RolloutAnalysis(templates=[ref]),
        request=RunRequest(name=name, run_type="Experiment", step_index=None,
                           latest_hash="", stable_hash=None),
        templates=work.observed.templates, cluster_templates=work.observed.cluster_templates)
    spec = manifest["spec"]
    args = {str(arg.get("name")): arg for arg in spec.get("args") or []}
    for arg in _run_args(work, analysis.args or []):
        args[str(arg["name"])] = arg
    if args:
        spec["args"] = list(args.values())
    experiment_spec = work.raw.get("spec") or {}
    for key in ("dryRun", "measurementRetention"):
        if experiment_spec.get(key):
            spec[key] = [*(spec.get(key) or []), *copy.deepcopy(experiment_spec[key])]
    manifest["metadata"] = {
        "name": name,
        "namespace": work.namespace,
        "labels": {EXPERIMENT_NAME_ANNOTATION: work.name,
                   **inherited_instance_label((work.raw.get("metadata") or {}).get("labels"))},
        "ownerReferences": [experiment_owner(work.raw)],
    }
    return manifest


def reconcile_analysis(work: ExperimentPass, analysis: ExperimentAnalysis,
                       previous: dict[str, Any] | None) -> dict[str, Any]:
    """The analysis' new status entry; fills the plan with what its run needs."""
    entry = copy.deepcopy(previous) if previous else {"name": analysis.name}
    before = _phase(entry.get("phase"))
    _follow(work, analysis, entry)
    after = _phase(entry.get("phase"))
    if after is not None and after != before:
        message = (f"AnalysisRun '{analysis.name}' transitioned from {before or ''} -> "
                   f"{after.value}")
        if entry.get("message"):
            message += f": {entry['message']}"
        warning = after in (AnalysisPhase.FAILED, AnalysisPhase.ERROR,
                            AnalysisPhase.INCONCLUSIVE)
        work.plan.event(f"AnalysisRun{after.value}", message, warning=warning)
    return entry


def _follow(work: ExperimentPass, analysis: ExperimentAnalysis, entry: dict[str, Any]) -> None:
    phase = _phase(entry.get("phase"))
    if work.status.get("availableAt") is None:
        missing = _template_missing(work, analysis)
        if missing is not None and phase is None:
            entry["phase"] = AnalysisPhase.ERROR.value
            entry["message"] = (f"{_template_kind(analysis)} verification failed for analysis "
                                f"'{analysis.name}': {missing}")
        return
    name = entry.get("analysisRun")
    if not name:
        if work.terminating or (phase is not None and phase.completed):
            return
        _create(work, analysis, entry)
        return
    if phase is not None and phase.completed:
        return
    run = work.observed.analysis_runs.get(str(name))
    if run is None:
        # Not in the cache yet (created a moment ago) or deleted: creating again is
        # harmless (an existing run is left as it is).
        if not work.terminating:
            _create(work, analysis, entry)
        return
    if work.terminating and not run.phase.completed and not run.terminated:
        work.plan.terminate_analysis_runs.append(run.name)
        work.plan.event("AnalysisRunTerminating", f"Terminating {analysis.name} ({run.name})")
    # Argo stops following a run once the experiment terminates; we keep recording its
    # phase, so a terminated run shows how it ended.
    entry["phase"] = run.phase.value
    if run.message:
        entry["message"] = run.message
    else:
        entry.pop("message", None)


def _create(work: ExperimentPass, analysis: ExperimentAnalysis, entry: dict[str, Any]) -> None:
    try:
        manifest = analysis_run_manifest(work, analysis)
    except MissingTemplate as missing:
        entry["phase"] = AnalysisPhase.ERROR.value
        entry["message"] = f"Failed to create AnalysisRun for analysis '{analysis.name}': {missing}"
        return
    work.plan.create_analysis_runs.append(manifest)
    entry["analysisRun"] = manifest["metadata"]["name"]
    entry.setdefault("phase", AnalysisPhase.PENDING.value)


def _phase(value: object) -> AnalysisPhase | None:
    try:
        return AnalysisPhase(str(value)) if value else None
    except ValueError:
        return AnalysisPhase.ERROR


def required_successful(experiment: Experiment, entries: list[dict[str, Any]]) -> bool:
    """Argo's rule: there is a `requiredForCompletion` analysis and every one succeeded."""
    by_name = {str(entry.get("name")): entry for entry in entries}
    required = [a for a in experiment.spec.analysis_list if a.is_required]
    return bool(required) and all(
        _phase((by_name.get(a.name) or {}).get("phase")) is AnalysisPhase.SUCCESSFUL
        for a in required)


def assess_analyses(work: ExperimentPass, entries: list[dict[str, Any]]
                    ) -> tuple[AnalysisPhase, str]:
    """The analyses' verdict for the experiment phase, with a message naming the analysis."""
    worst, message = AnalysisPhase.SUCCESSFUL, ""
    for entry in entries:
        # An analysis not started yet has no phase and counts as nothing wrong (Argo).
        phase = _phase(entry.get("phase")) or AnalysisPhase.SUCCESSFUL
        if phase.severity > worst.severity:
            worst = phase
            detail = f": {entry['message']}" if entry.get("message") else ""
            message = f"AnalysisRun '{entry.get('name')}' {phase.value}{detail}"
    if required_successful(work.experiment, entries) and worst is AnalysisPhase.SUCCESSFUL:
        return AnalysisPhase.SUCCESSFUL, REQUIRED_COMPLETED
    if worst is AnalysisPhase.PENDING:
        worst = AnalysisPhase.RUNNING
    return worst, message
