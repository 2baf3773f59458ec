"""`plan_experiment(raw, experiment, observed, problems) -> ExperimentPlan`: the pure
decision of one Experiment reconcile, Argo Rollouts' semantics.

The pipeline, top to bottom, each rung returning early when it decides:

1. an invalid spec -> phase Error, condition InvalidSpec naming the fields; nothing is
   created or changed;
2. terminating? (Argo's rule, on the status as stored: `spec.terminate`, a finished
   phase, a Failed/Error template, a Failed/Error/Inconclusive analysis, or every
   `requiredForCompletion` analysis Successful);
3. each template (`templates.py`): ReplicaSet created/scaled/scaled down after the
   delay, Service, status Progressing -> Running -> Successful (or Failed past the
   progress deadline);
4. `availableAt` is stamped the first time every template is Running; `duration`
   counts from it;
5. each analysis (`analyses.py`): verified before `availableAt`, started at it,
   followed, terminated while terminating;
6. the phase (kept once completed):
   - templates completed (Successful after the duration or on termination, Failed,
     Error): if Successful and the analyses are done (or some are required), the
     analyses decide; otherwise the templates do;
   - templates still going: a Failed/Error/Inconclusive analysis decides; so does every
     required analysis having succeeded; otherwise the templates do (Pending until
     every template is available, then Running);
   so without a `duration` an experiment runs until terminated, until something fails,
   or until its required analyses succeed (analyses that all succeed without being
   required do not end it: Argo's rule);
7. conditions (Progressing), events on every change, wake-up times (end of the duration,
   progress deadlines, scale-down deadlines). A pass that completes the experiment
   asks to be run again at once: the next one scales down and terminates the runs.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from rollouts.api.experiment import Experiment, TemplateStatusCode
from rollouts.api.phases import AnalysisPhase
from rollouts.core import conditions
from rollouts.experiments.analyses import assess_analyses, reconcile_analysis, required_successful
from rollouts.experiments.templates import reconcile_template
from rollouts.experiments.work import ExperimentPass, ExperimentPlan, ObservedExperiment, parse_time

__all__ = ["is_terminating", "plan_experiment"]

PROGRESSING = "Progressing"
INVALID_SPEC = "InvalidSpec"


def plan_experiment(raw: dict[str, Any], experiment: Experiment | None,
                    observed: ObservedExperiment, problems: Sequence[str] = ()
                    ) -> ExperimentPlan:
    """The plan for `raw` (the Experiment as the API server sent it) and its model;
    `problems` (or no model) make it an invalid spec."""
    old = raw.get("status") or {}
    plan = ExperimentPlan(status=copy.deepcopy(old))
    if problems or experiment is None:
        return _invalid(plan, list(problems) or ["the object cannot be read as an Experiment"],
                        observed)
    work = ExperimentPass(raw=raw, experiment=experiment, observed=observed, plan=plan)
    conditions.remove_condition(work.status, INVALID_SPEC)
    work.terminating = is_terminating(experiment, old)
    previous_phase = _phase(old.get("phase"))
    if previous_phase is None:
        work.status["phase"] = AnalysisPhase.PENDING.value

    previous = {str(e.get("name")): e for e in old.get("templateStatuses") or []}
    duration_passed = _duration_passed(work)
    work.status["templateStatuses"] = [
        reconcile_template(work, template, previous.get(template.name),
                           duration_passed=duration_passed)
        for template in experiment.spec.templates]
    template_phase, template_message = _assess_templates(work)
    if template_phase is AnalysisPhase.RUNNING and not work.status.get("availableAt"):
        work.status["availableAt"] = work.now_text
        plan.event("ExperimentAvailable", "every template has all its pods available")

    previous_runs = {str(e.get("name")): e for e in old.get("analysisRuns") or []}
    runs = [reconcile_analysis(work, analysis, previous_runs.get(analysis.name))
            for analysis in experiment.spec.analysis_list]
    if runs:
        work.status["analysisRuns"] = runs

    if previous_phase is None or not previous_phase.completed:
        phase, message = _decide_phase(work, template_phase, template_message, runs)
        _set_phase(work, previous_phase, phase, message)
    _wake_at_end_of_duration(work)
    _progress_condition(work)
    return plan


def is_terminating(experiment: Experiment, status: dict[str, Any]) -> bool:
    """Argo's `IsTerminating`, on a stored status: nothing new is started, the ReplicaSets
    scale down, running analyses are terminated."""
    if experiment.spec.terminate:
        return True
    phase = _phase(status.get("phase"))
    if phase is not None and phase.completed:
        return True
    if any(entry.get("status") in (TemplateStatusCode.FAILED.value, TemplateStatusCode.ERROR.value)
           for entry in status.get("templateStatuses") or []):
        return True
    bad = (AnalysisPhase.FAILED.value, AnalysisPhase.ERROR.value, AnalysisPhase.INCONCLUSIVE.value)
    if any(entry.get("phase") in bad for entry in status.get("analysisRuns") or []):
        return True
    return required_successful(experiment, list(status.get("analysisRuns") or []))


def _phase(value: object) -> AnalysisPhase | None:
    try:
        return AnalysisPhase(str(value)) if value else None
    except ValueError:
        return None


def _invalid(plan: ExperimentPlan, problems: list[str], observed: ObservedExperiment
             ) -> ExperimentPlan:
    message = "InvalidSpec: " + "; ".join(problems)
    if plan.status.get("message") != message:
        plan.event("InvalidSpec", message, warning=True)
    plan.status["phase"] = AnalysisPhase.ERROR.value
    plan.status["message"] = message
    conditions.set_condition(plan.status, INVALID_SPEC, True, INVALID_SPEC, message,
                             observed.now)
    return plan


def _duration_passed(work: ExperimentPass) -> bool:
    duration = work.experiment.spec.duration
    available_at = parse_time(work.status.get("availableAt"))
    if duration is None or available_at is None:
        return False
    return work.now >= available_at + timedelta(seconds=duration.seconds)


def _assess_templates(work: ExperimentPass) -> tuple[AnalysisPhase, str]:
    """The worst template status as an experiment phase (Progressing -> Pending)."""
    worst, message = TemplateStatusCode.SUCCESSFUL, ""
    for entry in work.status.get("templateStatuses") or []:
        try:
            code = TemplateStatusCode(str(entry.get("status")))
        except ValueError:
            code = TemplateStatusCode.PROGRESSING
        if code.severity > worst.severity:
            worst, message = code, str(entry.get("message") or "")
    return worst.as_phase, message


def _decide_phase(work: ExperimentPass, template_phase: AnalysisPhase, template_message: str,
                  runs: list[dict[str, Any]]) -> tuple[AnalysisPhase, str]:
    analyses_phase, analyses_message = assess_analyses(work, runs)
    if template_phase.completed:
        analyses_done = analyses_phase.completed or work.experiment.spec.has_required_analyses
        if template_phase is AnalysisPhase.SUCCESSFUL and analyses_done:
            return analyses_phase, analyses_message or _success_message(work)
        if template_phase is AnalysisPhase.SUCCESSFUL:
            return template_phase, template_message or _success_message(work)
        return template_phase, template_message
    if analyses_phase.completed and analyses_phase is not AnalysisPhase.SUCCESSFUL:
        return analyses_phase, analyses_message
    if required_successful(work.experiment, runs):
        return analyses_phase, analyses_message
    return template_phase, template_message


def _success_message(work: ExperimentPass) -> str:
    if work.experiment.spec.terminate:
        return "Experiment terminated"
    duration = work.experiment.spec.duration
    return f"Experiment ran for its duration ({duration})" if duration is not None else ""


def _set_phase(work: ExperimentPass, previous: AnalysisPhase | None, phase: AnalysisPhase,
               message: str) -> None:
    work.status["phase"] = phase.value
    if message:
        work.status["message"] = message
    else:
        work.status.pop("message", None)
    if phase is previous:
        return
    if phase.completed:
        warning = phase is not AnalysisPhase.SUCCESSFUL
        detail = f": {message}" if message else ""
        work.plan.event(f"Experiment{phase.value}", f"Experiment {phase.value}{detail}",
                        warning=warning)
        work.plan.requeue = True  # the next pass scales down and terminates the runs
    elif phase is AnalysisPhase.RUNNING:
        work.plan.event("ExperimentRunning", "Experiment Running")


def _wake_at_end_of_duration(work: ExperimentPass) -> None:
    phase = _phase(work.status.get("phase"))
    duration = work.experiment.spec.duration
    available_at = parse_time(work.status.get("availableAt"))
    if phase is None or phase.completed or duration is None or available_at is None:
        return
    end = available_at + timedelta(seconds=duration.seconds)
    if end > work.now:
        work.plan.wake_at["duration"] = end
    else:
        work.plan.requeue = True


def _progress_condition(work: ExperimentPass) -> None:
    phase = _phase(work.status.get("phase"))
    name = work.name
    if phase is not None and phase.completed:
        conditions.set_condition(work.status, PROGRESSING, False, "ExperimentCompleted",
                                 f'Experiment "{name}" has completed.', work.now)
    elif phase is AnalysisPhase.RUNNING:
        conditions.set_condition(work.status, PROGRESSING, True, "NewReplicaSetAvailable",
                                 f'Experiment "{name}" is running.', work.now)
    else:
        conditions.set_condition(work.status, PROGRESSING, True, "ReplicaSetUpdated",
                                 f'Experiment "{name}" is progressing.', work.now)
