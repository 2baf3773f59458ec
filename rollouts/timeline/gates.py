"""The analysis gates of a timeline: which templates, which arguments, what each metric
queries, and how long the run lasts at the least. Pure.

A gate is described from the AnalysisRun the controller's planner built for it
(`rollouts.core.analysis_runs.build_analysis_run`: templates merged, the Rollout's
arguments over the templates' defaults, `fieldRef` and `podTemplateHashValue` resolved),
with `{{args.X}}` substituted by `analysis.args.substitute`, the analysis controller's
own substitution, where the value is known offline. A value that is not known offline
(a Secret, the stable pod hash of a Rollout not yet deployed, an argument without a
value) stays a placeholder. The run's length is what `rollouts.timeline.world` measured
when it played the run's schedule with `analysis.decide`.

A template that is not given is named, not an error: a stand-in (`stand_in`) lets the
planner create the run so the timeline goes on, and the gate says it was not found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analysis.args import ArgsError, ResolvedArgs, substitute
from rollouts.api import API_VERSION, AnalysisRun, check_object
from rollouts.api.placeholder import ARG_PLACEHOLDER
from rollouts.api.rollout import RolloutAnalysis
from rollouts.timeline.model import Arg, Gate, MetricQuery, TemplateRef

__all__ = ["MISSING_METRIC", "describe_gate", "missing_templates", "stand_in",
           "substituted_metrics"]

MISSING_METRIC = "rollouts-plan-missing-template"
_PROVIDERS_SHOWN = ("query", "url", "jsonPath")


def missing_templates(analyses: list[RolloutAnalysis], templates: dict[str, Any],
                      cluster_templates: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(namespaced, cluster) template names referenced but not given."""
    missing: set[str] = set()
    missing_cluster: set[str] = set()
    for analysis in analyses:
        for ref in analysis.templates or []:
            name = ref.template_name or ""
            if ref.is_cluster_scoped and name not in cluster_templates:
                missing_cluster.add(name)
            elif not ref.is_cluster_scoped and name not in templates:
                missing.add(name)
    return missing, missing_cluster


def stand_in(name: str) -> dict[str, Any]:
    """A template standing in for one not given: one metric, marked as such."""
    return {"metadata": {"name": name},
            "spec": {"metrics": [{"name": MISSING_METRIC,
                                  "provider": {"web": {"url": "http://rollouts-plan.invalid/"}}}]}}


def _value(arg: dict[str, Any], fixed: dict[str, str | None]) -> str | None:
    """The run argument's value known offline (`fixed` overrides the run's: None is not
    known)."""
    name = str(arg.get("name"))
    value = fixed[name] if name in fixed else arg.get("value")
    return None if value is None else str(value)


def _known_args(run: dict[str, Any], fixed: dict[str, str | None]) -> dict[str, str]:
    """Argument values of the run known offline; the others map to their placeholder, so
    substituting keeps them."""
    values: dict[str, str] = {}
    for arg in (run.get("spec") or {}).get("args") or []:
        name = str(arg.get("name"))
        value = _value(arg, fixed)
        values[name] = value if value is not None else f"{{{{args.{name}}}}}"
    return values


def substituted_metrics(run: dict[str, Any], fixed: dict[str, str | None]
                        ) -> list[dict[str, Any]] | None:
    """The run's metrics as the analysis controller would measure them, or None when a
    stand-in template is among them or a setting cannot be known offline."""
    metrics = [m for m in (run.get("spec") or {}).get("metrics") or [] if isinstance(m, dict)]
    if any(m.get("name") == MISSING_METRIC for m in metrics):
        return None
    args = ResolvedArgs(_known_args(run, fixed))
    try:
        return [substitute(metric, args) for metric in metrics]
    except ArgsError:
        return None


def _display(metric: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The metric with known values substituted for display (a setting that would not
    survive `substitute`'s checks still shows what it will be)."""
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return ARG_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value
    shown: dict[str, Any] = walk(metric)
    return shown


def _query(provider: dict[str, Any]) -> tuple[str, str | None]:
    kinds = [k for k, v in provider.items() if isinstance(v, dict)]
    if len(kinds) != 1:
        return ", ".join(sorted(provider)) or "none", None
    kind = kinds[0]
    settings = provider[kind]
    if kind == "job":
        return kind, "(runs a Job)"
    parts = [str(settings[key]) for key in _PROVIDERS_SHOWN if settings.get(key) is not None]
    return kind, " ".join(parts) if parts else None


def _arg_sources(analysis: RolloutAnalysis | None) -> dict[str, str]:
    sources: dict[str, str] = {}
    for arg in (analysis.args if analysis else None) or []:
        source = arg.value_from
        if arg.value is not None:
            sources[arg.name] = "rollout"
        elif source is not None and source.pod_template_hash_value is not None:
            sources[arg.name] = f"podTemplateHashValue {source.pod_template_hash_value.value}"
        elif source is not None and source.field_ref is not None:
            sources[arg.name] = f"fieldRef {source.field_ref.field_path}"
        else:
            sources[arg.name] = "rollout"
    return sources


def describe_gate(kind: str, run: dict[str, Any], analysis: RolloutAnalysis | None,
                  templates: dict[str, Any], cluster_templates: dict[str, Any],
                  missing: tuple[set[str], set[str]], fixed: dict[str, str | None],
                  min_seconds: float | None, waits: str | None,
                  starting_step: int | None = None) -> Gate:
    """The gate of `run` (the AnalysisRun the planner created)."""
    refs = []
    for ref in (analysis.templates if analysis else None) or []:
        name = ref.template_name or ""
        absent = missing[1] if ref.is_cluster_scoped else missing[0]
        refs.append(TemplateRef(name, ref.is_cluster_scoped, name not in absent))
    sources = _arg_sources(analysis)
    args = []
    for arg in (run.get("spec") or {}).get("args") or []:
        name = str(arg.get("name"))
        value = _value(arg, fixed)
        source = sources.get(name)
        if source is None:
            from_secret = isinstance(arg.get("valueFrom"), dict)
            source = "secretKeyRef" if from_secret else (
                "template default" if arg.get("value") is not None else "no value")
        args.append(Arg(name, value, source))
    values = {a.name: a.value for a in args if a.value is not None}
    dry_run = _dry_run_rule(run)
    metrics = []
    for metric in (run.get("spec") or {}).get("metrics") or []:
        if not isinstance(metric, dict) or metric.get("name") == MISSING_METRIC:
            continue
        shown = _display(metric, values)
        provider, query = _query(shown.get("provider") or {})
        metrics.append(MetricQuery(
            name=str(shown.get("name")), provider=provider, query=query,
            interval=_text(shown.get("interval")), count=_text(shown.get("count")),
            initial_delay=_text(shown.get("initialDelay")),
            dry_run=dry_run(str(shown.get("name")))))
    missing_names = [t.name for t in refs if not t.found]
    if missing_names:
        waits = (f"unknown: template {', '.join(missing_names)} not given (the controller "
                 "waits until it exists)")
        min_seconds = None
    return Gate(kind, tuple(refs), tuple(args), tuple(metrics), min_seconds, waits,
                starting_step)


def _dry_run_rule(run: dict[str, Any]) -> Callable[[str], bool]:
    """Whether a metric of the run is dry-run, by the AnalysisRun model's own matching
    (Argo's unanchored regular expressions)."""
    checked = check_object({"apiVersion": API_VERSION, "kind": "AnalysisRun",
                            "metadata": {"name": "plan"}, "spec": run.get("spec") or {}})
    if isinstance(checked.obj, AnalysisRun):
        return checked.obj.spec.is_dry_run
    return lambda _name: False


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
