"""The timeline of a Rollout, read off the controller's own planner. Pure.

`plan_timeline(rollout, templates, cluster_templates)` runs the Rollout controller's
planner (`rollouts.planner.plan_rollout`, which picks `plan_canary` or
`plan_blue_green`) in a simulated world (`rollouts.timeline.world`): the Rollout's
pod template is first deployed as if a previous revision were stable, then updated
to its own template, and every pass the controller would make is carried out, the
clock moving only to the next time the planner or an analysis schedule asks for.
The timeline is what those passes did (`stages` reads it off them).

Nothing here decides how many pods a step gets, when a step is done or what a pause
waits for: a change to the controller's arithmetic or step semantics shows in the plan
by construction.
Neighbours: `rollouts.cli.plan_cmd` (files, the cluster, output), `live` (a live
Rollout's place on the timeline), `render` (text).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rollouts.api import check_object
from rollouts.api.rollout import Rollout, RolloutAnalysis
from rollouts.core.budgets import surge_and_unavailable
from rollouts.timeline.gates import missing_templates, stand_in, substituted_metrics
from rollouts.timeline.model import Timeline
from rollouts.timeline.stages import blue_green_stages, canary_stages, complete
from rollouts.timeline.world import World
from rollouts.traffic.base import RouterError
from rollouts.traffic.select import make_routers, routing_settings, uses_router

__all__ = ["START", "PlanProblem", "plan_timeline"]

START = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PASSES = 20_000
MAX_STEPS = 1_000
_PREVIOUS = "rollouts.plan/previous-revision"


class PlanProblem(ValueError):
    """The input cannot be planned; the message is one line saying what to fix."""


@dataclass(frozen=True)
class _Spec:
    raw: dict[str, Any]
    model: Rollout


def _checked(doc: Any) -> _Spec:
    if not isinstance(doc, dict) or doc.get("kind") != "Rollout":
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise PlanProblem(f"not a Rollout (kind: {kind}); give a Rollout manifest or name")
    result = check_object(doc)
    name = (doc.get("metadata") or {}).get("name") or "?"
    if result.errors or not isinstance(result.obj, Rollout):
        errors = [str(p) for p in result.errors] or ["not a valid Rollout"]
        more = f" (and {len(errors) - 1} more: `rollouts lint` lists them)" if len(errors) > 1 \
            else ""
        raise PlanProblem(f"Rollout {name}: {errors[0]}{more}")
    strategy = result.obj.spec.strategy
    if strategy is None or strategy.name is None:
        raise PlanProblem(f"Rollout {name}: spec.strategy needs canary or blueGreen")
    steps = len(strategy.canary.step_list) if strategy.canary else 0
    if steps > MAX_STEPS:
        # Each pass reads every step: a hostile spec must not cost minutes.
        raise PlanProblem(f"Rollout {name}: {steps} canary steps; rollouts plan plans up to "
                          f"{MAX_STEPS}")
    return _Spec(doc, result.obj)


def _sim_raw(spec: _Spec) -> tuple[dict[str, Any], list[str]]:
    raw = copy.deepcopy(spec.raw)
    raw.pop("status", None)
    notes: list[str] = []
    meta = raw.setdefault("metadata", {})
    meta["uid"] = "rollouts-plan"
    meta["generation"] = 1
    if raw["spec"].get("paused"):
        raw["spec"]["paused"] = False
        notes.append("spec.paused is set: nothing moves until `rollouts promote`; planned "
                     "as if resumed")
    return raw, notes


def _template_of(raw: dict[str, Any]) -> dict[str, Any]:
    template = raw["spec"].get("template")
    if isinstance(template, dict):
        return template
    labels = ((raw["spec"].get("selector") or {}).get("matchLabels")
              or {"app": raw["metadata"].get("name") or "app"})
    return {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": "app", "image": "workload"}]}}


def _previous(template: dict[str, Any]) -> dict[str, Any]:
    """The template as a previous revision: the same pods, one annotation apart."""
    earlier = copy.deepcopy(template)
    earlier.setdefault("metadata", {}).setdefault("annotations", {})[_PREVIOUS] = "true"
    return earlier


def _set_template(world: World, template: dict[str, Any]) -> None:
    if isinstance(world.raw["spec"].get("template"), dict):
        world.raw["spec"]["template"] = template
    world.pod_template = template


def _services(model: Rollout) -> list[str]:
    strategy = model.spec.strategy
    names: list[str | None] = []
    if strategy and strategy.canary:
        names = [strategy.canary.canary_service, strategy.canary.stable_service]
    elif strategy and strategy.blue_green:
        names = [strategy.blue_green.active_service, strategy.blue_green.preview_service]
    return [n for n in names if n]


def _analyses(model: Rollout) -> list[RolloutAnalysis]:
    strategy = model.spec.strategy
    found: list[RolloutAnalysis] = []
    if strategy and strategy.canary:
        found = [s.analysis for s in strategy.canary.step_list if s.analysis is not None]
        if strategy.canary.analysis is not None:
            found.append(strategy.canary.analysis)
    elif strategy and strategy.blue_green:
        found = [a for a in (strategy.blue_green.pre_promotion_analysis,
                             strategy.blue_green.post_promotion_analysis) if a is not None]
    return found


def _hash_args(analyses: list[RolloutAnalysis], has_template: bool,
               pod_hashes: dict[str, str] | None) -> dict[str, str | None]:
    """Values for the `podTemplateHashValue` arguments, by name (None: not known). The
    previous revision of the plan is ours, so the stable hash is only known from a live
    Rollout (`pod_hashes`, by "Stable"/"Latest"); the new one is the template's as the
    controller hashes it, unless the template is a Deployment's (workloadRef)."""
    fixed: dict[str, str | None] = {}
    for analysis in analyses:
        for arg in analysis.args or []:
            source = arg.value_from
            if source is None or source.pod_template_hash_value is None:
                continue
            which = source.pod_template_hash_value.value
            if pod_hashes is not None:
                fixed[arg.name] = pod_hashes.get(which)
            elif which == "Stable" or not has_template:
                fixed[arg.name] = None
    return fixed


def _settle(world: World, model: Rollout, *, until_complete: bool) -> list[str]:
    """Reconcile, promote, let time pass, until nothing more happens. Notes on a stop."""
    passes = 0
    while passes < MAX_PASSES:
        passes += 1
        before = world.state()
        record = world.reconcile(model)
        status = record.status
        if world.state() != before:
            continue
        conditions = [c for c in status.get("pauseConditions") or [] if isinstance(c, dict)]
        timed = {"pause", "auto-promotion"} & set(record.plan.wake_at)
        if conditions and not timed:
            # An indefinite pause: promoted at once, as `rollouts promote` would.
            world.raw["status"].pop("pauseConditions", None)
            continue
        wake = world.next_wake(record.plan)
        if wake is not None:
            world.now = wake
            world.tick()
            continue
        if until_complete and not complete(status):
            message = status.get("message") or "no progress"
            return [f"the controller would stop here: {message}"]
        return []
    return [f"the simulation stopped after {MAX_PASSES} passes"]

def plan_timeline(doc: Any, templates: dict[str, dict[str, Any]],
                  cluster_templates: dict[str, dict[str, Any]],
                  pod_hashes: dict[str, str] | None = None) -> Timeline:
    """The timeline the Rollout `doc` follows from an update to its current template.
    `pod_hashes` ({"Stable": ..., "Latest": ...}) are a live Rollout's, for arguments.

    Raises `PlanProblem` for input the controller would not run (not a Rollout, an
    invalid spec, unusable traffic-router settings)."""
    spec = _checked(doc)
    raw, notes = _sim_raw(spec)
    try:
        routers = make_routers(raw)
    except RouterError as problem:
        raise PlanProblem(f"Rollout {raw['metadata'].get('name')}: trafficRouting: "
                          f"{problem}") from None
    settings = routing_settings(raw)
    if settings and not uses_router(raw):
        notes.append(f"trafficRouting ({', '.join(sorted(settings))}) names no router "
                     "rollouts implements: the controller runs it as a basic canary")
    analyses = _analyses(spec.model)
    missing = missing_templates(analyses, templates, cluster_templates)
    all_templates = {**templates, **{name: stand_in(name) for name in missing[0]}}
    all_cluster = {**cluster_templates, **{name: stand_in(name) for name in missing[1]}}
    fixed = _hash_args(analyses, isinstance(raw["spec"].get("template"), dict), pod_hashes)
    world = World(raw=raw, now=START, templates=all_templates,
                  cluster_templates=all_cluster,
                  describe_run=lambda run: substituted_metrics(run, fixed))
    world.services = dict.fromkeys(_services(spec.model))
    canary = spec.model.spec.strategy.canary if spec.model.spec.strategy else None
    template = _template_of(raw)
    if not isinstance(raw["spec"].get("template"), dict):
        notes.append("spec.workloadRef: the Deployment's pod template is not read; the "
                     "plan does not depend on it")
    model = world.model()
    _set_template(world, _previous(template))
    stuck = _settle(world, model, until_complete=True)
    if stuck:
        raise PlanProblem(f"Rollout {raw['metadata'].get('name')}: the first revision "
                          f"does not deploy: {stuck[0]}")
    world.passes.clear()
    world.runs.clear()
    _set_template(world, template)
    notes.extend(_settle(world, model, until_complete=True))
    replicas = model.spec.replicas_or_default
    if canary is not None:
        surge, unavailable = surge_and_unavailable(
            canary.max_surge_or_default.raw, canary.max_unavailable_or_default.raw, replicas)
        stages, background = canary_stages(world, model, missing, fixed)
        strategy = "canary"
        routed: tuple[str, ...] | None = tuple(r.name for r in routers) if routers else None
    else:
        bg = model.spec.strategy.blue_green if model.spec.strategy else None
        assert bg is not None
        surge, unavailable = surge_and_unavailable(
            "100%", bg.max_unavailable_or_default.raw, replicas)
        stages = blue_green_stages(world, model, missing, fixed)
        background, strategy, routed = None, "blueGreen", None
    timeline = Timeline(name=str(raw["metadata"].get("name")),
                        namespace=(spec.raw.get("metadata") or {}).get("namespace"),
                        strategy=strategy, replicas=replicas, routers=routed, max_surge=surge,
                        max_unavailable=unavailable, stages=stages, background=background,
                        notes=notes)
    timeline.retime()
    return timeline
