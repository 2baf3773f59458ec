"""AnalysisRuns a Rollout asks for, for both strategies: create, follow, judge, collect. Pure.

A run's verdict: Successful -> the gate opens; Failed/Error -> the rollout aborts;
Inconclusive -> the rollout pauses (`InconclusiveAnalysisRun`) until promoted.

Garbage collection (`spec.analysis.successfulRunHistoryLimit` /
`unsuccessfulRunHistoryLimit`, 5 each, as Argo): finished runs the status no longer
refers to are deleted beyond the limit, oldest first; Successful counts as successful,
Failed/Error/Inconclusive as unsuccessful; a run still going is never deleted.
"""

from __future__ import annotations

from typing import Any

from rollouts.api.phases import AnalysisPhase
from rollouts.api.rollout import RolloutAnalysis
from rollouts.core import conditions
from rollouts.core.analysis_runs import MissingTemplate, RunRequest, build_analysis_run
from rollouts.core.control import abort, pause_conditions, set_pause
from rollouts.core.work import Pass

PAUSE_INCONCLUSIVE = "InconclusiveAnalysisRun"


def run_name(work: Pass, suffix: str | None) -> str:
    base = f"{work.name}-{work.new_hash}-{work.revision}"
    return base if suffix is None else f"{base}-{suffix}"


def ensure_run(work: Pass, analysis: RolloutAnalysis, name: str, run_type: str,
               step_index: int | None) -> AnalysisPhase | None:
    """The run's phase, creating it first if needed; None while it cannot be made."""
    if name in work.plan.delete_analysis_runs:
        work.plan.requeue = True  # an old run of that name is being deleted (retry)
        return None
    run = work.observed.run(name)
    if run is not None:
        return run.phase
    request = RunRequest(name=name, run_type=run_type, step_index=step_index,
                         latest_hash=work.new_hash, stable_hash=work.stable_hash)
    try:
        manifest = build_analysis_run(
            rollout=work.raw, analysis=analysis, request=request,
            templates=work.observed.templates,
            cluster_templates=work.observed.cluster_templates)
    except MissingTemplate as missing:
        message = f"waiting for {missing}: create it, or fix the Rollout's analysis"
        if work.status.get("message") != message:
            work.plan.event("AnalysisTemplateMissing", str(missing), warning=True)
        work.status["message"] = message
        conditions.set_condition(work.status, "Progressing", True, "AnalysisTemplateMissing",
                                 message, work.now)
        return None
    work.plan.create_analysis_runs.append(manifest)
    work.plan.event("AnalysisRunCreated", f"Created {run_type.lower()} AnalysisRun {name}",
                    created=name)
    return AnalysisPhase.PENDING


def record_run(work: Pass, section: str, key: str, name: str, phase: AnalysisPhase) -> None:
    """`status.<section>.<key> = {name, status, message}` (Argo's run status shape)."""
    status_section = dict(work.status.get(section) or {})
    run = work.observed.run(name)
    entry: dict[str, Any] = {"name": name, "status": phase.value}
    if run is not None and run.message:
        entry["message"] = run.message
    status_section[key] = entry
    work.status[section] = status_section


def verdict(work: Pass, name: str, phase: AnalysisPhase, what: str) -> bool:
    """Act on a finished run's phase; True when the gate may open."""
    if phase == AnalysisPhase.SUCCESSFUL:
        return True
    if phase in (AnalysisPhase.FAILED, AnalysisPhase.ERROR):
        run = work.observed.run(name)
        detail = f": {run.message}" if run is not None and run.message else ""
        work.status["abort"] = True
        abort(work, f"RolloutAborted: {what} AnalysisRun {name} {phase.value}{detail}")
        return False
    if phase == AnalysisPhase.INCONCLUSIVE:
        mine = any(c.get("reason") == PAUSE_INCONCLUSIVE for c in pause_conditions(work))
        if mine:
            return False
        if work.status.get("controllerPause"):
            work.plan.event("RolloutResumed", f"Inconclusive AnalysisRun {name} promoted")
            return True
        set_pause(work, PAUSE_INCONCLUSIVE)
    return False


def referenced_runs(status: dict[str, Any]) -> set[str]:
    """Names of the runs the status points at (never collected)."""
    names: set[str] = set()
    for section in ("canary", "blueGreen"):
        for value in (status.get(section) or {}).values():
            if isinstance(value, dict) and value.get("name"):
                names.add(str(value["name"]))
    return names


def collect_garbage(work: Pass) -> None:
    history = work.rollout.spec.run_history
    keep = referenced_runs(work.status)
    finished = [run for run in work.observed.analysis_runs
                if run.phase.completed and run.name not in keep
                and run.name not in work.plan.delete_analysis_runs
                and run.name not in work.plan.collect_analysis_runs]
    finished.sort(key=lambda run: (run.created, run.name), reverse=True)
    successful = [r for r in finished if r.phase == AnalysisPhase.SUCCESSFUL]
    unsuccessful = [r for r in finished if r.phase != AnalysisPhase.SUCCESSFUL]
    for runs, limit in ((successful, history.successful_or_default),
                        (unsuccessful, history.unsuccessful_or_default)):
        for run in runs[max(0, limit):]:
            work.plan.collect_analysis_runs.append(run.name)
