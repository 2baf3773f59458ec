"""The head and tail every strategy's planner shares. Pure.

    plan = begin(raw, rollout, observed, problems, strategy, services)
      1. a spec we cannot run -> `InvalidSpec`, nothing touched (a finished Plan);
      2. a steered Service that does not exist -> `InvalidSpec`;
      3. the ReplicaSets are identified (new / stable / older, adopting Argo's);
         a new pod template starts a new revision;
    ... the strategy plans its part (scaling, gates, services) ...
    finish(work)
      4. history pruning, restart, AnalysisRun garbage collection;
      5. the status as a whole (replica counts, phase, conditions); the executor writes
         it once, if it changed.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from rollouts.api.rollout import BlueGreenStrategy, CanaryStrategy, Rollout
from rollouts.core import conditions
from rollouts.core.observed import Observed
from rollouts.core.phase import settle_phase
from rollouts.core.replica_sets import identify_replica_sets, prune_history, start_new_revision
from rollouts.core.restart import plan_restart, plan_workload_scale_down
from rollouts.core.runs import collect_garbage
from rollouts.core.services import missing_service
from rollouts.core.work import Pass, Plan, selector_string


def begin(raw: dict[str, Any], rollout: Rollout, observed: Observed, problems: list[str],
          strategy: CanaryStrategy | BlueGreenStrategy | None, *, strategy_path: str,
          services: list[tuple[str, str | None]]) -> Pass | Plan:
    """A Pass ready for the strategy, or the finished Plan of an invalid spec."""
    old: dict[str, Any] = copy.deepcopy(raw.get("status") or {})
    plan = Plan(status=copy.deepcopy(old))
    meta = raw["metadata"]
    generation = meta.get("generation")
    if generation is not None:
        plan.status["observedGeneration"] = str(generation)
    plan.status["selector"] = selector_string(raw, observed.match_labels)
    if observed.pod_template is None:
        problems = [*problems, observed.workload_missing or "spec.template: is required"]
    if strategy is None or problems:
        invalid(plan, observed.now, problems or [f"{strategy_path}: is required"])
        return plan
    conditions.remove_condition(plan.status, "InvalidSpec")
    work = Pass(raw, rollout, strategy, observed, observed.now, old, plan)
    missing = missing_service(work, strategy_path, services)
    if missing:
        # Before the revision is recorded: once the Service exists, the pass that sees
        # the new template starts its revision (step 0, fresh runs) as usual.
        invalid(plan, observed.now, [missing])
        return plan
    identify_replica_sets(work)
    if work.template_changed:
        start_new_revision(work)
    return work


def invalid(plan: Plan, now: datetime, problems: list[str]) -> None:
    message = "; ".join(problems)
    previous = plan.status.get("message")
    conditions.set_condition(plan.status, "InvalidSpec", True, "InvalidSpec", message, now)
    plan.status["phase"] = "Degraded"
    plan.status["message"] = f"InvalidSpec: {message}"
    if previous != plan.status["message"]:
        plan.event("InvalidSpec", message, warning=True)


def finish(work: Pass) -> Plan:
    prune_history(work)
    plan_restart(work)
    collect_garbage(work)
    finish_status(work)
    plan_workload_scale_down(work)
    return work.plan


def finish_status(work: Pass) -> None:
    """Replica counts, phase, message and conditions of the new status."""
    status = work.status
    live = [rs for rs in work.observed.replica_sets if not rs.deleting]
    status["replicas"] = sum(rs.status_replicas for rs in live)
    status["updatedReplicas"] = work.new_rs.status_replicas if work.new_rs else 0
    status["readyReplicas"] = sum(rs.ready for rs in live)
    status["availableReplicas"] = sum(rs.available for rs in live)
    settle_phase(work)
    for section in ("canary", "blueGreen"):
        if section in status and not status[section]:
            status.pop(section)
