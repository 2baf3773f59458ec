"""The canary `experiment` step: run an Experiment beside the canary and follow its
verdict, as Argo's rollout controller does. Pure.

- Reaching the step creates the Experiment `rollouts.experiments.step` describes
  (`<rollout>-<hash>-<revision>-<step>`, owned by the Rollout), once the canary
  ReplicaSet exists; `status.canary.currentExperiment` names it.
- Successful -> the step is done; Failed or Error -> the Rollout aborts, saying which
  Experiment and why; Running -> wait (the Experiment controller runs its templates
  and analyses).
- While it runs, templates with a `weight` take that share of the traffic through the
  router (`experiment_weights`, Argo's `weights.additional`).
- An abort, a promotion past the step or a new revision terminates the Experiments
  still running (`terminate_experiments`).
"""

from __future__ import annotations

from typing import Any

from rollouts.api.phases import AnalysisPhase
from rollouts.api.rollout import CanaryStep
from rollouts.core.control import abort
from rollouts.core.work import Pass
from rollouts.experiments.step import ExperimentView, step_experiment, step_experiment_name

__all__ = ["experiment_step", "experiment_weights", "terminate_experiments"]

_CURRENT = "currentExperiment"


def _views(work: Pass) -> list[ExperimentView]:
    return [ExperimentView.parse(obj) for obj in work.observed.experiments]


def _name(work: Pass) -> str:
    return step_experiment_name(work.name, work.new_hash, work.revision, work.step_index)


def _section(work: Pass) -> dict[str, Any]:
    section = dict(work.status.get("canary") or {})
    work.status["canary"] = section
    return section


def experiment_step(work: Pass, step: CanaryStep) -> str | None:
    """Plan the step; the detail to advance with once it is done, else None."""
    name = _name(work)
    view = next((v for v in _views(work) if v.name == name), None)
    if view is None:
        if work.new_rs is None or name in {m["metadata"]["name"]
                                           for m in work.plan.create_experiments}:
            return None
        steps = (((work.raw.get("spec") or {}).get("strategy") or {}).get("canary") or {}
                 ).get("steps") or []
        try:
            manifest = step_experiment(
                work.raw, work.step_index, steps[work.step_index], new_hash=work.new_hash,
                new_template=work.new_rs.template, stable_hash=work.stable_hash,
                stable_template=work.stable_rs.template if work.stable_rs else None,
                revision=work.revision)
        except ValueError as error:
            work.plan.event("ExperimentNotCreated", str(error), warning=True)
            return None
        work.plan.create_experiments.append(manifest)
        work.plan.event("ExperimentCreated", f"Created Experiment {name}", created=name)
        _section(work)[_CURRENT] = name
        return None
    _section(work)[_CURRENT] = name
    if view.phase == AnalysisPhase.SUCCESSFUL:
        _section(work).pop(_CURRENT, None)
        return f"experiment {name}: Successful"
    if view.phase in (AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE):
        detail = f": {view.message}" if view.message else ""
        work.status["abort"] = True
        abort(work, f"RolloutAborted: Experiment {name} {view.phase.value}{detail}")
        terminate_experiments(work)
    return None


def experiment_weights(work: Pass) -> tuple[tuple[str, int, str | None], ...]:
    """Traffic shares of the running step's Experiment templates (service, weight, hash)."""
    status = work.status
    if status.get("abort") or work.step_index >= work.step_count:
        return ()
    step = work.canary.step_list[work.step_index]
    if step.experiment is None:
        return ()
    name = _name(work)
    view = next((v for v in _views(work) if v.name == name), None)
    if view is None or view.completed or view.terminated:
        return ()
    return tuple(view.weighted_services())


def terminate_experiments(work: Pass, keep: str | None = None) -> None:
    """Terminate this Rollout's Experiments still running (but `keep`)."""
    for view in _views(work):
        if view.name != keep and not view.completed and not view.terminated and (
                view.name not in work.plan.terminate_experiments):
            work.plan.terminate_experiments.append(view.name)
    if keep is None:
        _section(work).pop(_CURRENT, None)
