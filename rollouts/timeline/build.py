"""The timeline of a Rollout, read off the controller's own planner. Pure.

`plan_timeline(rollout, templates, cluster_templates)` runs the Rollout controller's
planner (`rollouts.planner.plan_rollout`, which picks `plan_canary` or
`plan_blue_green`) in a simulated world (`rollouts.timeline.world`): the Rollout's
pod template is first deployed as if a previous revision were stable, then updated
to its own template, and every pass the controller would make is carried out, the
clock moving only to the next time the planner or an analysis schedule asks for.
The timeline is what those passes did:

- canary: one stage per step (the passes that evaluated it), then `complete` (the
  canary made stable). Sizes are the ReplicaSets' `spec.replicas` after each pass, as
  `rollouts.canary.replicas` (basic canary: maxSurge/maxUnavailable respected) or
  `rollouts.canary.routed` (with a router: setCanaryScale, dynamicStableScale) decided
  them; the weight is `status.canary.weights` as the planner recorded it;
- blue-green: `preview`, `prePromotionAnalysis`, `pause`, `promote` (the active Service
  switched), `postPromotionAnalysis`, `complete`, told apart by the status the planner
  wrote (`rollouts.bluegreen.plan` documents each stage).

Nothing here decides how many pods a step gets, when a step is done or what a pause
waits for: a change to the controller's arithmetic or step semantics shows in the plan
by construction. `mark_live` places a live Rollout's status on a timeline.
Neighbours: `rollouts.cli.plan_cmd` (files, the cluster, output), `render` (text).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rollouts.api import check_object
from rollouts.api.common import format_time
from rollouts.api.rollout import Rollout, RolloutAnalysis
from rollouts.bluegreen.plan import PAUSE_BLUE_GREEN
from rollouts.canary.steps import PAUSE_STEP
from rollouts.core.budgets import surge_and_unavailable
from rollouts.core.work import parse_time
from rollouts.timeline.gates import (
    describe_gate,
    missing_templates,
    stand_in,
    substituted_metrics,
)
from rollouts.timeline.model import Gate, Sizes, Stage, Timeline, seconds_text
from rollouts.timeline.world import PassRecord, RunRecord, World
from rollouts.traffic.base import RouterError
from rollouts.traffic.select import make_routers, routing_settings, uses_router

__all__ = ["START", "PlanProblem", "blue_green_stage_of", "mark_live", "plan_timeline"]

START = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PASSES = 20_000
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
    return _Spec(doc, result.obj)


def _sim_raw(spec: _Spec) -> tuple[dict[str, Any], list[str]]:
    raw = copy.deepcopy(spec.raw)
    raw.pop("status", None)
    notes: list[str] = []
    meta = raw.setdefault("metadata", {})
    meta.setdefault("namespace", "default")
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


def _unknown_args(analyses: list[RolloutAnalysis]) -> set[str]:
    """Arguments whose values the plan cannot know: the stable pod hash (the previous
    revision is ours, not the cluster's)."""
    unknown: set[str] = set()
    for analysis in analyses:
        for arg in analysis.args or []:
            source = arg.value_from
            if source is not None and source.pod_template_hash_value is not None and (
                    source.pod_template_hash_value.value == "Stable"):
                unknown.add(arg.name)
    return unknown


def _settle(world: World, model: Rollout, *, until_complete: bool) -> list[str]:
    """Reconcile, promote, let time pass, until nothing more happens. Notes on a stop."""
    passes = 0
    promoted: str | None = None
    while passes < MAX_PASSES:
        passes += 1
        before = world.state()
        record = world.reconcile(model, promoted)
        promoted = None
        status = record.status
        if world.state() != before:
            continue
        conditions = [c for c in status.get("pauseConditions") or [] if isinstance(c, dict)]
        timed = {"pause", "auto-promotion"} & set(record.plan.wake_at)
        if conditions and not timed:
            # An indefinite pause: promoted at once, as `rollouts promote` would.
            promoted = str(conditions[0].get("reason") or "")
            world.raw["status"].pop("pauseConditions", None)
            continue
        wake = world.next_wake(record.plan)
        if wake is not None:
            world.now = wake
            world.tick()
            continue
        if until_complete and not _complete(status):
            message = status.get("message") or "no progress"
            return [f"the controller would stop here: {message}"]
        return []
    return [f"the simulation stopped after {MAX_PASSES} passes"]


def _complete(status: dict[str, Any]) -> bool:
    return bool(status.get("stableRS")) and status.get("stableRS") == status.get(
        "currentPodHash")


def plan_timeline(doc: Any, templates: dict[str, dict[str, Any]],
                  cluster_templates: dict[str, dict[str, Any]]) -> Timeline:
    """The timeline the Rollout `doc` follows from an update to its current template.

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
    unknown = _unknown_args(analyses)
    world = World(raw=raw, now=START, templates=all_templates,
                  cluster_templates=all_cluster,
                  describe_run=lambda run: substituted_metrics(run, unknown))
    world.services = dict.fromkeys(_services(spec.model))
    canary = spec.model.spec.strategy.canary if spec.model.spec.strategy else None
    if canary is not None:
        world.experiment_seconds = {
            i: (step.experiment.duration.seconds if step.experiment.duration else None)
            for i, step in enumerate(canary.step_list) if step.experiment is not None}
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
        stages, background = _canary_stages(world, model, missing, unknown)
        strategy = "canary"
        routed: tuple[str, ...] | None = tuple(r.name for r in routers) if routers else None
    else:
        bg = model.spec.strategy.blue_green if model.spec.strategy else None
        assert bg is not None
        surge, unavailable = surge_and_unavailable(
            "100%", bg.max_unavailable_or_default.raw, replicas)
        stages = _blue_green_stages(world, model, missing, unknown)
        background, strategy, routed = None, "blueGreen", None
    _times(stages)
    return Timeline(name=str(raw["metadata"].get("name")),
                    namespace=(spec.raw.get("metadata") or {}).get("namespace"),
                    strategy=strategy, replicas=replicas, routers=routed, max_surge=surge,
                    max_unavailable=unavailable, stages=stages, background=background,
                    notes=notes)


def _times(stages: list[Stage]) -> None:
    elapsed = 0.0
    for stage in stages:
        stage.starts_after = elapsed
        if stage.state != "done":
            elapsed += stage.min_seconds


# -- canary ---------------------------------------------------------------------------


def _groups(passes: list[PassRecord], key: Any) -> list[tuple[Any, list[PassRecord]]]:
    groups: list[tuple[Any, list[PassRecord]]] = []
    for record in passes:
        label = key(record)
        if groups and groups[-1][0] == label:
            groups[-1][1].append(record)
        else:
            groups.append((label, [record]))
    return groups


def _moves(records: list[PassRecord]) -> list[Sizes]:
    moves: list[Sizes] = []
    for record in records:
        sizes = Sizes(record.new_replicas, record.stable_replicas)
        if not moves or moves[-1] != sizes:
            moves.append(sizes)
    return moves


def _gate(kind: str, run: RunRecord, analysis: RolloutAnalysis | None, world: World,
          missing: tuple[set[str], set[str]], unknown: set[str],
          starting_step: int | None = None) -> Gate:
    if run.timing is None and run.finished is not None:
        seconds: float | None = (run.finished - run.created).total_seconds()
    else:
        seconds = None
    return describe_gate(kind, run.manifest, analysis, world.templates,
                         world.cluster_templates, missing, unknown, seconds, run.timing,
                         starting_step)


def _canary_stages(world: World, model: Rollout, missing: tuple[set[str], set[str]],
                   unknown: set[str]) -> tuple[list[Stage], Gate | None]:
    canary = model.spec.strategy.canary if model.spec.strategy else None
    assert canary is not None
    steps = canary.step_list
    passes = world.passes
    # A pass belongs to the step it started from: the step its scaling was for.
    previous = [0] + [int(r.status.get("currentStepIndex") or 0) for r in passes[:-1]]
    indexed = list(zip(previous, passes, strict=True))
    completed_at = next((r.now for r in passes if _complete(r.status)), None)
    stages: list[Stage] = []
    for index in range(len(steps) + 1):
        records = [r for i, r in indexed if i == index and not _after(r, completed_at)]
        if index == len(steps):
            records = [r for i, r in indexed if i >= index and not _after(r, completed_at)]
        if not records:
            continue
        start = records[0].now
        later = [r.now for i, r in indexed if i > index]
        end = min(later) if later and index < len(steps) else (completed_at or records[-1].now)
        last = records[-1]
        weight = ((last.status.get("canary") or {}).get("weights") or {}).get("canary", {}
                                                                             ).get("weight")
        if index == len(steps):
            weight = 100  # the canary is the stable: every request reaches its pods
        stage = Stage(index=index if index < len(steps) else None, kind="complete",
                      title="promote to 100%: the canary becomes stable",
                      replicas=Sizes(last.new_replicas, last.stable_replicas),
                      moves=_moves(records), weight=weight,
                      min_seconds=max(0.0, (end - start).total_seconds()))
        if index < len(steps):
            _describe_step(stage, steps[index], index, records, world, missing, unknown)
        else:
            _describe_completion(stage, passes, completed_at,
                                 canary.scale_down_delay_seconds_or_default,
                                 uses_router(world.raw))
        stages.append(stage)
    background = None
    run = next((r for r in world.runs.values() if r.run_type == "Background"), None)
    if canary.analysis is not None and canary.analysis.templates:
        start_step = canary.analysis.starting_step_or_default
        if run is not None:
            background = _gate("background", run, canary.analysis, world, missing, unknown,
                               start_step)
            background = Gate(background.kind, background.templates, background.args,
                              background.metrics, None,
                              background.waits if background.waits and background.waits.
                              startswith("unknown: template") else None, start_step)
    return stages, background


def _after(record: PassRecord, completed_at: datetime | None) -> bool:
    return completed_at is not None and record.now > completed_at


def _describe_step(stage: Stage, step: Any, index: int, records: list[PassRecord],
                   world: World, missing: tuple[set[str], set[str]], unknown: set[str]
                   ) -> None:
    events = [e for r in records for e in r.plan.events]
    skipped = [e.message for e in events if e.reason == "StepNotSupported"]
    action = step.actions[0] if step.actions else "no action"
    stage.kind = action
    if step.set_weight is not None:
        stage.title = f"setWeight: {step.set_weight}"
    elif step.pause is not None:
        duration = step.pause.duration_seconds
        stage.title = ("pause until promoted" if duration is None
                       else f"pause: {seconds_text(duration)}")
        if duration is None:
            stage.waits = "until promoted"
    elif step.analysis is not None:
        names = ", ".join(t.template_name or "?" for t in step.analysis.templates or [])
        stage.title = f"analysis: {names}"
        run = next((r for r in world.runs.values()
                    if r.run_type == "Step" and r.step_index == index), None)
        if run is not None:
            stage.analysis = _gate("step", run, step.analysis, world, missing, unknown)
            if stage.analysis.waits:
                stage.waits = stage.analysis.waits
    elif step.set_canary_scale is not None:
        scale = step.set_canary_scale
        what = (f"replicas {scale.replicas}" if scale.replicas is not None
                else "matchTrafficWeight" if scale.match_traffic_weight
                else f"weight {scale.weight or 0}")
        stage.title = f"setCanaryScale: {what}"
    elif step.set_header_route is not None:
        route = step.set_header_route
        stage.title = (f"setHeaderRoute: {route.name}" if route.match
                       else f"setHeaderRoute: {route.name} removed")
    elif step.set_mirror_route is not None:
        route = step.set_mirror_route
        stage.title = (f"setMirrorRoute: {route.name} ({route.percentage or 100}%)"
                       if route.match else f"setMirrorRoute: {route.name} removed")
    elif step.experiment is not None:
        experiment = step.experiment
        stage.title = "experiment: " + ", ".join(
            f"{t.name} ({t.spec_ref})" for t in experiment.templates)
        stage.experiment = {
            "duration": experiment.duration.raw if experiment.duration else None,
            "templates": [{"name": t.name, "specRef": t.spec_ref,
                           "replicas": 1 if t.replicas is None else t.replicas,
                           "weight": t.weight} for t in experiment.templates],
            "analyses": [{"name": a.name, "templateName": a.template_name}
                         for a in experiment.analyses or []],
        }
        if experiment.duration is None:
            stage.waits = ("unknown: no duration: it runs until its analyses complete or "
                           "it is terminated")
    if skipped:
        stage.kind = "skipped"
        stage.title = f"{action}: skipped"
        stage.notes.extend(skipped)


def _describe_completion(stage: Stage, passes: list[PassRecord],
                         completed_at: datetime | None, delay: int, routed: bool) -> None:
    if completed_at is None:
        stage.title = "promote to 100%: not reached"
        return
    first = next(i for i, r in enumerate(passes) if _complete(r.status))
    after = passes[first:]
    drained = next((r for r in after if r.older_replicas == 0), None)
    if drained is not None and drained.now > completed_at:
        stage.notes.append(f"the previous stable ReplicaSet keeps its pods "
                           f"{seconds_text((drained.now - completed_at).total_seconds())} "
                           "more (scaleDownDelaySeconds)")
    elif routed and delay == 0:
        stage.notes.append("the previous stable ReplicaSet is scaled down at once")


# -- blue-green -----------------------------------------------------------------------


def blue_green_stage_of(status: dict[str, Any], active: str | None) -> str:
    """Where a blue-green update is, from the status the planner wrote (and the pod hash
    the active Service selects)."""
    section = status.get("blueGreen") or {}
    if _complete(status):
        return "complete"
    if section.get("postPromotionAnalysisRunStatus"):
        return "postPromotionAnalysis"
    new_hash = status.get("currentPodHash")
    if section.get("scaleUpPreviewCheckPoint") or (active and active == new_hash):
        return "promote"
    if any(isinstance(c, dict) and c.get("reason") == PAUSE_BLUE_GREEN
           for c in status.get("pauseConditions") or []):
        return "pause"
    if section.get("prePromotionAnalysisRunStatus"):
        return "prePromotionAnalysis"
    return "preview"


def _blue_green_stages(world: World, model: Rollout, missing: tuple[set[str], set[str]],
                       unknown: set[str]) -> list[Stage]:
    bg = model.spec.strategy.blue_green if model.spec.strategy else None
    assert bg is not None
    active_name = bg.active_service or ""
    groups = _groups(world.passes, lambda r: blue_green_stage_of(
        r.status, r.services.get(active_name)))
    stages: list[Stage] = []
    for position, (label, records) in enumerate(groups):
        if label == "complete" and stages and stages[-1].kind == "complete":
            continue
        start = records[0].now
        end = groups[position + 1][1][0].now if position + 1 < len(groups) else start
        last = records[-1]
        new_hash = last.status.get("currentPodHash")
        services = {role: ("new" if last.services.get(name) == new_hash else "stable")
                    for role, name in (("active", bg.active_service),
                                       ("preview", bg.preview_service)) if name}
        stage = Stage(index=None, kind=label, title=label,
                      replicas=Sizes(last.new_replicas, last.stable_replicas),
                      moves=_moves(records), services=services,
                      min_seconds=0.0 if label == "complete"
                      else max(0.0, (end - start).total_seconds()))
        _describe_blue_green(stage, bg, world, missing, unknown)
        stages.append(stage)
    return stages


def _describe_blue_green(stage: Stage, bg: Any, world: World,
                         missing: tuple[set[str], set[str]], unknown: set[str]) -> None:
    label = stage.kind
    if label == "preview":
        count = bg.preview_replica_count
        stage.title = ("preview: the new ReplicaSet comes up" +
                       (f" with previewReplicaCount {count}" if count is not None else
                        " in full") + ", the preview Service selects it")
        if bg.auto_promotion_enabled_or_default and bg.pre_promotion_analysis is None:
            stage.notes.append("autoPromotionEnabled: promoted as soon as it is available")
    elif label in ("prePromotionAnalysis", "postPromotionAnalysis"):
        kind = "PrePromotion" if label.startswith("pre") else "PostPromotion"
        analysis = bg.pre_promotion_analysis if kind == "PrePromotion" \
            else bg.post_promotion_analysis
        names = ", ".join(t.template_name or "?" for t in (analysis.templates or []))
        stage.title = f"{label}: {names}"
        run = next((r for r in world.runs.values() if r.run_type == kind), None)
        if run is not None:
            stage.analysis = _gate(label[:-len("Analysis")], run, analysis, world, missing,
                                   unknown)
            stage.waits = stage.analysis.waits
    elif label == "pause":
        seconds = bg.auto_promotion_seconds_or_default
        if seconds:
            stage.title = f"pause: auto-promotion after {seconds_text(seconds)}"
        else:
            stage.title = "pause until promoted (autoPromotionEnabled: false)"
            stage.waits = "until promoted"
    elif label == "promote":
        stage.title = "promote: the new ReplicaSet in full, then the active Service switches"
    elif label == "complete":
        stage.title = "complete: the new ReplicaSet is stable"
        delay = bg.scale_down_delay_seconds_or_default
        stage.notes.append(f"the previous active ReplicaSet keeps its pods "
                           f"{seconds_text(delay)} after the switch (scaleDownDelaySeconds)"
                           if delay else "the previous active ReplicaSet is scaled down at once")


# -- a live Rollout -------------------------------------------------------------------


def _pause_started(status: dict[str, Any], reason: str) -> datetime | None:
    for condition in status.get("pauseConditions") or []:
        if isinstance(condition, dict) and condition.get("reason") == reason:
            try:
                return parse_time(str(condition.get("startTime")))
            except ValueError:
                return None
    return None


def mark_live(timeline: Timeline, live: dict[str, Any], now: datetime) -> None:
    """Place the live Rollout's status on `timeline` (planned from its spec): stages
    before the current one are done, the current one is marked, and the time left is
    counted from `now` (a timed pause from when it began)."""
    status = live.get("status") or {}
    spec = live.get("spec") or {}
    current_hash = status.get("currentPodHash")
    if not current_hash:
        timeline.notes.append("the controller has not reported on this Rollout yet: "
                              "the plan of its first update")
        return
    if current_hash == status.get("stableRS"):
        timeline.notes.append("no update in progress (the current pod template is the "
                              "stable one): the plan an update would follow")
        return
    if timeline.strategy == "canary":
        index = int(status.get("currentStepIndex") or 0)
        steps = 1 + max((s.index for s in timeline.stages if s.index is not None), default=-1)
        index = min(index, steps)
        for stage in timeline.stages:
            position = stage.index if stage.index is not None else steps
            stage.state = ("done" if position < index else
                           "current" if position == index else "pending")
        if status.get("promoteFull"):
            timeline.notes.append("promote --full asked: the remaining steps are skipped")
    else:
        label = blue_green_stage_of(status, (status.get("blueGreen") or {}).get(
            "activeSelector"))
        kinds = [stage.kind for stage in timeline.stages]
        at = kinds.index(label) if label in kinds else 0
        for position, stage in enumerate(timeline.stages):
            stage.state = ("done" if position < at else
                           "current" if position == at else "pending")
    current = next((i for i, s in enumerate(timeline.stages) if s.state == "current"), None)
    timeline.current = current
    if current is not None:
        stage = timeline.stages[current]
        reason = PAUSE_STEP if timeline.strategy == "canary" else PAUSE_BLUE_GREEN
        started = _pause_started(status, reason) if stage.kind == "pause" else None
        if started is not None:
            left = max(0.0, stage.min_seconds - (now - started).total_seconds())
            since = format_time(started)
            stage.notes.append(f"paused since {since}" + (
                "" if stage.waits else f": {seconds_text(left)} left"))
            stage.min_seconds = left
    if status.get("abort"):
        timeline.notes.append("the rollout is aborted: `rollouts retry` starts it over")
    if spec.get("paused"):
        timeline.notes.append("paused by spec.paused: `rollouts promote` resumes it")
    _times(timeline.stages)
