"""The analyses a Rollout asks for, as the AnalysisRuns a backtest plays. Pure.

`rollout_subjects(rollout, templates, cluster_templates, overrides, live=...)` lists each
analysis of a Rollout: canary `analysis` steps (`step 2`), the canary background
analysis, blue-green `prePromotionAnalysis` and `postPromotionAnalysis`, each built with
`rollouts.core.analysis_runs.build_analysis_run`, the function the Rollout controller
creates its runs with (templates merged, the Rollout's args taking precedence).

Argument values the controller computes from the Rollout are computed the same way:
`fieldRef` on the Rollout object, `podTemplateHashValue: Latest` (live: the status'
`currentPodHash`; offline: the hash of the file's pod template, which is what the
controller would give it) and `Stable` (the status' `stableRS`, so only when the status
has one). An argument left without a value, and not given with `--arg`, is reported with
where its value would have come from (`MissingArgs`). Secret-backed template arguments
keep their `valueFrom` for `analysis_cmds.resolve_run_args`.

Experiment steps' analyses are not listed (they belong to the Experiment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollouts.api import Rollout, parse_object
from rollouts.api.errors import SpecError
from rollouts.api.rollout import RolloutAnalysis
from rollouts.core.analysis_runs import (
    MissingTemplate,
    RunRequest,
    build_analysis_run,
    resolve_field_path,
)
from rollouts.core.observed import pod_template_hash

__all__ = ["MissingArgs", "NoAnalysis", "Subject", "rollout_subjects"]


class MissingArgs(ValueError):
    """Arguments without a value; the message names each and where it would come from."""


class NoAnalysis(ValueError):
    """The Rollout cannot be backtested (no analysis, a template missing, an invalid spec)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """One analysis of a Rollout, as the run it would create."""

    label: str
    """`step 2`, `background`, `prePromotionAnalysis`, `postPromotionAnalysis`."""
    run: dict[str, Any]


def rollout_subjects(rollout: dict[str, Any], templates: dict[str, dict[str, Any]],
                     cluster_templates: dict[str, dict[str, Any]],
                     overrides: dict[str, str], *, live: bool) -> list[Subject]:
    """Every analysis of `rollout` as a run, `overrides` (from `--arg`) replacing values."""
    try:
        model = parse_object(rollout)
    except SpecError as invalid:
        raise NoAnalysis(f"the Rollout is not valid: {invalid}") from None
    assert isinstance(model, Rollout)
    name = str((rollout.get("metadata") or {}).get("name") or "rollout")
    status = rollout.get("status") or {}
    template = (rollout.get("spec") or {}).get("template") or {}
    latest = str(status.get("currentPodHash") or "") if live else pod_template_hash(template)
    stable = str(status.get("stableRS") or "") or None
    found: list[tuple[str, RolloutAnalysis, str, int | None]] = []
    strategy = model.spec.strategy
    if strategy is not None and strategy.canary is not None:
        for index, step in enumerate(strategy.canary.steps or []):
            if step.analysis is not None:
                found.append((f"step {index}", step.analysis, "Step", index))
        if strategy.canary.analysis is not None:
            found.append(("background", strategy.canary.analysis, "Background", None))
    if strategy is not None and strategy.blue_green is not None:
        blue_green = strategy.blue_green
        for label, analysis, run_type in (
                ("prePromotionAnalysis", blue_green.pre_promotion_analysis, "PrePromotion"),
                ("postPromotionAnalysis", blue_green.post_promotion_analysis, "PostPromotion")):
            if analysis is not None:
                found.append((label, analysis, run_type, None))
    if not found:
        raise NoAnalysis(f"Rollout '{name}' has no analysis (no analysis steps, background "
                         "analysis, or pre/post-promotion analysis) to backtest")
    subjects: list[Subject] = []
    missing: dict[str, str] = {}
    for label, analysis, run_type, step_index in found:
        request = RunRequest(name=f"{name}-backtest", run_type=run_type, step_index=step_index,
                             latest_hash=latest, stable_hash=stable)
        try:
            run = build_analysis_run(rollout=rollout, analysis=analysis, request=request,
                                     templates=templates, cluster_templates=cluster_templates)
        except MissingTemplate as absent:
            where = "in the cluster" if live else "in the -f files"
            raise NoAnalysis(f"{label}: {absent} {where}; add it") from None
        run["metadata"].pop("ownerReferences", None)
        computed = _computed_sources(analysis, rollout, latest, stable)
        args = []
        for arg in run["spec"].get("args") or []:
            arg_name = str(arg.get("name"))
            if arg_name in overrides:
                args.append({"name": arg_name, "value": overrides[arg_name]})
                continue
            if arg_name in computed and computed[arg_name] is not None:
                missing.setdefault(arg_name, computed[arg_name] or "")
            elif arg.get("value") is None and not _secret_backed(arg):
                missing.setdefault(arg_name, "the template declares it without a value and "
                                             "the Rollout gives none")
            args.append(arg)
        run["spec"]["args"] = args
        subjects.append(Subject(label, run))
    if missing:
        listed = "; ".join(f"'{arg}' ({why})" for arg, why in missing.items())
        hint = " ".join(f"--arg {arg}=VALUE" for arg in missing)
        raise MissingArgs(f"no value for {listed}: pass {hint}")
    return subjects


def _computed_sources(analysis: RolloutAnalysis, rollout: dict[str, Any], latest: str,
                      stable: str | None) -> dict[str, str | None]:
    """For each Rollout argument: None when it has a value, else why it has none."""
    reasons: dict[str, str | None] = {}
    for arg in analysis.args or []:
        source = arg.value_from
        if arg.value is not None or source is None:
            reasons[arg.name] = None
        elif source.pod_template_hash_value is not None:
            which = source.pod_template_hash_value.value
            known = stable if which == "Stable" else latest
            reasons[arg.name] = None if known else (
                f"valueFrom.podTemplateHashValue: {which}, which the Rollout's status does "
                "not give here")
        elif source.field_ref is not None:
            path = source.field_ref.field_path
            reasons[arg.name] = None if resolve_field_path(rollout, path) is not None else (
                f"valueFrom.fieldRef {path}, which the Rollout does not have")
        else:
            reasons[arg.name] = None
    return reasons


def _secret_backed(arg: dict[str, Any]) -> bool:
    source = arg.get("valueFrom")
    return isinstance(source, dict) and source.get("secretKeyRef") is not None
