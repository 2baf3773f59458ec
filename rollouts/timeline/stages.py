"""The stages of a timeline, read off the passes of the controller's planner. Pure.

- canary: one stage per step (the passes that started from it: the scaling they did
  was for that step), then `complete` (the canary made stable). Sizes are the
  ReplicaSets' `spec.replicas` after each pass; the weight is `status.canary.weights`
  as the planner recorded it;
- blue-green: `preview`, `prePromotionAnalysis`, `pause`, `promote` (the active Service
  switched), `postPromotionAnalysis`, `complete`, told apart by the status the planner
  wrote (`blue_green_stage_of`).

A stage lasts from its first pass to the next stage's first pass: the clock of the
simulated world, which only moves when the planner or an analysis schedule waits.
Neighbours: `build` (drives the world), `gates` (analysis), `live` (a live Rollout).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from rollouts.api.rollout import Rollout, RolloutAnalysis
from rollouts.bluegreen.plan import PAUSE_BLUE_GREEN
from rollouts.timeline.gates import describe_gate
from rollouts.timeline.model import Gate, Sizes, Stage, seconds_text
from rollouts.timeline.world import PassRecord, RunRecord, World
from rollouts.traffic.select import uses_router

__all__ = ["blue_green_stage_of", "blue_green_stages", "canary_stages", "complete"]


def complete(status: dict[str, Any]) -> bool:
    return bool(status.get("stableRS")) and status.get("stableRS") == status.get(
        "currentPodHash")

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
          missing: tuple[set[str], set[str]], fixed: dict[str, str | None],
          starting_step: int | None = None) -> Gate:
    if run.timing is None and run.finished is not None:
        seconds: float | None = (run.finished - run.created).total_seconds()
    else:
        seconds = None
    return describe_gate(kind, run.manifest, analysis, world.templates,
                         world.cluster_templates, missing, fixed, seconds, run.timing,
                         starting_step)


def canary_stages(world: World, model: Rollout, missing: tuple[set[str], set[str]],
                   fixed: dict[str, str | None]) -> tuple[list[Stage], Gate | None]:
    canary = model.spec.strategy.canary if model.spec.strategy else None
    assert canary is not None
    steps = canary.step_list
    passes = world.passes
    # A pass belongs to the step it started from: the step its scaling was for.
    previous = [0] + [int(r.status.get("currentStepIndex") or 0) for r in passes[:-1]]
    indexed = list(zip(previous, passes, strict=True))
    completed_at = next((r.now for r in passes if complete(r.status)), None)
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
            _describe_step(stage, steps[index], index, records, world, missing, fixed)
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
            gate = _gate("background", run, canary.analysis, world, missing, fixed,
                         start_step)
            # It runs beside the steps: it adds no time, and only a missing template is
            # worth a wait.
            missing_template = gate.waits is not None and gate.waits.startswith(
                "unknown: template")
            background = replace(gate, min_seconds=None,
                                 waits=gate.waits if missing_template else None)
    return stages, background


def _after(record: PassRecord, completed_at: datetime | None) -> bool:
    return completed_at is not None and record.now > completed_at


def _describe_step(stage: Stage, step: Any, index: int, records: list[PassRecord],
                   world: World, missing: tuple[set[str], set[str]], fixed: dict[str, str | None]
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
            stage.analysis = _gate("step", run, step.analysis, world, missing, fixed)
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
    first = next(i for i, r in enumerate(passes) if complete(r.status))
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
    if complete(status):
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


def blue_green_stages(world: World, model: Rollout, missing: tuple[set[str], set[str]],
                       fixed: dict[str, str | None]) -> list[Stage]:
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
        _describe_blue_green(stage, bg, world, missing, fixed)
        stages.append(stage)
    return stages


def _describe_blue_green(stage: Stage, bg: Any, world: World,
                         missing: tuple[set[str], set[str]], fixed: dict[str, str | None]) -> None:
    label = stage.kind
    if label == "preview":
        count = bg.preview_replica_count
        stage.title = ("new ReplicaSet up" + (f" (previewReplicaCount {count})"
                                              if count is not None else "")
                       + ", preview Service on it")
        if bg.auto_promotion_enabled_or_default and bg.pre_promotion_analysis is None:
            stage.notes.append("autoPromotionEnabled: promoted as soon as it is available")
    elif label in ("prePromotionAnalysis", "postPromotionAnalysis"):
        kind = "PrePromotion" if label.startswith("pre") else "PostPromotion"
        analysis = bg.pre_promotion_analysis if kind == "PrePromotion" \
            else bg.post_promotion_analysis
        names = ", ".join(t.template_name or "?" for t in (analysis.templates or []))
        stage.title = f"templates: {names}"
        run = next((r for r in world.runs.values() if r.run_type == kind), None)
        if run is not None:
            stage.analysis = _gate(label[:-len("Analysis")], run, analysis, world, missing,
                                   fixed)
            stage.waits = stage.analysis.waits
    elif label == "pause":
        seconds = bg.auto_promotion_seconds_or_default
        if seconds:
            stage.title = f"auto-promotion after {seconds_text(seconds)}"
        else:
            stage.title = "until promoted (autoPromotionEnabled: false)"
            stage.waits = "until promoted"
    elif label == "promote":
        stage.title = "new ReplicaSet to full size, then the active Service switches"
    elif label == "complete":
        stage.title = "the new ReplicaSet is stable"
        delay = bg.scale_down_delay_seconds_or_default
        stage.notes.append(f"the previous active ReplicaSet keeps its pods "
                           f"{seconds_text(delay)} after the switch (scaleDownDelaySeconds)"
                           if delay else "the previous active ReplicaSet is scaled down at once")
