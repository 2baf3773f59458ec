"""`rollouts plan`'s timeline (rollouts.timeline): read off the controller's own planner.

The sizes, weights and times below are hand-computed from the controller's documented
rules (rollouts/canary/replicas.py, routed.py, bluegreen/plan.py, analysis/decide.py);
`test_the_plan_follows_the_controllers_arithmetic` checks that the plan has no
arithmetic of its own, and `test_plan_matches_the_controller_step_by_step` that it
agrees with the controller's planner driven on its own (tests/unit/canary_sim.py).
"""

from __future__ import annotations

import copy
import math
from datetime import timedelta
from typing import Any

import pytest

from rollouts.canary import replicas as controller_replicas
from rollouts.timeline import PlanProblem, plan_timeline
from rollouts.timeline.build import START
from rollouts.timeline.live import mark_live
from rollouts.timeline.model import Timeline
from rollouts.timeline.render import render_timeline
from tests.unit.canary_sim import Sim, blue_green_rollout, rollout


def template(name: str = "success-rate", *, interval: str | None = "1m", count: int | None = 3,
             initial_delay: str | None = None) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": "rate", "successCondition": "result[0] >= 0.95",
        "provider": {"prometheus": {"address": "http://prometheus:9090", "query":
                                    'sum(rate(http_requests_total{service="{{args.service}}",'
                                    'hash="{{args.hash}}"}[1m]))'}}}
    for key, value in (("interval", interval), ("count", count), ("initialDelay", initial_delay)):
        if value is not None:
            metric[key] = value
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": name},
            "spec": {"args": [{"name": "service"}, {"name": "hash", "value": "none"}],
                     "metrics": [metric]}}


ARGS = [{"name": "service", "value": "checkout"}]


def sizes(timeline: Timeline) -> list[tuple[int, int]]:
    return [(s.replicas.new, s.replicas.stable) for s in timeline.stages]


def kinds(timeline: Timeline) -> list[str]:
    return [s.kind for s in timeline.stages]


# -- canary without a router ------------------------------------------------------------


def test_basic_canary_sizes_weights_and_surge_moves() -> None:
    raw = rollout([{"setWeight": 30}, {"pause": {"duration": "1m"}}, {"setWeight": 41}],
                  replicas=10, maxSurge=3, maxUnavailable=0)
    timeline = plan_timeline(raw, {}, {})
    assert kinds(timeline) == ["setWeight", "pause", "setWeight", "complete"]
    assert [s.weight for s in timeline.stages] == [30, 30, 41, 100]
    # 30% of 10: 3 canary pods; surge first (3/10), the stable shrinks once they are up.
    first = timeline.stages[0]
    assert [(m.new, m.stable) for m in first.moves] == [(3, 10), (3, 7)]
    # 41%: 4/10 = 40% is nearer than 5/11 or 5/10 (replicas.py's worked example).
    assert sizes(timeline)[2] == (4, 6)
    assert sizes(timeline)[3] == (10, 0)
    assert (timeline.max_surge, timeline.max_unavailable) == (3, 0)
    assert timeline.routers is None


def test_no_surge_makes_room_before_adding_the_canary() -> None:
    timeline = plan_timeline(rollout([{"setWeight": 30}], replicas=10, maxSurge=0,
                                     maxUnavailable=5), {}, {})
    moves = [(m.new, m.stable) for m in timeline.stages[0].moves]
    assert moves[0] == (0, 7) and moves[-1] == (3, 7)
    assert all(new + stable <= 10 for new, stable in moves), "maxSurge 0: never above N"
    assert all(new + stable >= 5 for new, stable in moves), "maxUnavailable 5"


def test_the_plan_follows_the_controllers_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Change the controller's weight -> pods rule and the plan changes with it: the
    plan has no replica arithmetic of its own."""
    raw = rollout([{"setWeight": 20}], replicas=10, maxSurge=1, maxUnavailable=1)
    assert sizes(plan_timeline(copy.deepcopy(raw), {}, {}))[0] == (2, 8)

    def more_canary(spec_replicas: int, weight: int, max_surge: int) -> tuple[int, int]:
        canary = min(spec_replicas, math.ceil(spec_replicas * weight / 100) + 1)
        return canary, spec_replicas - canary

    monkeypatch.setattr(controller_replicas, "target_counts", more_canary)
    assert sizes(plan_timeline(raw, {}, {}))[0] == (3, 7)


def _controller_sizes(raw: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(step index, canary, stable) each time the controller's planner, driven on its own
    by canary_sim, advances a step (pauses promoted or waited out)."""
    sim = Sim(copy.deepcopy(raw), services={"canary": None, "stable": None})
    sim.settle()
    stable = sim.status["stableRS"]
    sim.set_image("app:2")
    seen: list[tuple[int, int, int]] = []
    for _ in range(200):
        before = int(sim.status.get("currentStepIndex") or 0)
        sim.reconcile()
        new = sim.status["currentPodHash"]
        after = int(sim.status.get("currentStepIndex") or 0)
        counts = sim.counts()
        if after == before + 1:
            seen.append((before, counts.get(new, 0), counts.get(stable, 0)))
        if sim.status.get("stableRS") == new:
            break
        if sim.status.get("pauseConditions"):
            wake = sim.last.wake_at.get("pause") if sim.last else None
            if wake is None:
                sim.raw["status"].pop("pauseConditions")
            else:
                sim.now = wake
    return seen


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "router"), [
    (10, 1, 1, False), (5, 2, 0, False), (7, "30%", "10%", False), (10, 1, 0, True)])
def test_plan_matches_the_controller_step_by_step(replicas: int, surge: Any,
                                                  unavailable: Any, router: bool) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 10}, {"pause": {}}, {"setWeight": 35},
                                   {"pause": {"duration": 30}}, {"setWeight": 80}]
    extra: dict[str, Any] = {"maxSurge": surge, "maxUnavailable": unavailable,
                             "canaryService": "canary", "stableService": "stable"}
    if router:
        extra["trafficRouting"] = {"smi": {}}
    raw = rollout(steps, replicas=replicas, **extra)
    timeline = plan_timeline(copy.deepcopy(raw), {}, {})
    planned = [(s.index, s.replicas.new, s.replicas.stable) for s in timeline.stages
               if s.index is not None]
    assert planned == _controller_sizes(raw)


# -- canary with a router ---------------------------------------------------------------


def test_with_a_router_the_weight_goes_to_the_router_and_the_stable_stays_full() -> None:
    raw = rollout([{"setCanaryScale": {"replicas": 2}}, {"setWeight": 10},
                   {"setCanaryScale": {"matchTrafficWeight": True}}, {"setWeight": 45},
                   {"setCanaryScale": {"weight": 90}}],
                  replicas=10, canaryService="canary", stableService="stable",
                  trafficRouting={"istio": {"virtualService": {"name": "vs"}}})
    timeline = plan_timeline(raw, {}, {})
    assert timeline.routers == ("istio",)
    assert kinds(timeline)[:5] == ["setCanaryScale", "setWeight", "setCanaryScale",
                                   "setWeight", "setCanaryScale"]
    assert [s.weight for s in timeline.stages[:5]] == [0, 10, 10, 45, 45]
    # setCanaryScale replicas 2 holds through setWeight 10; matchTrafficWeight: ceil(10%);
    # 45% -> ceil(4.5) = 5; weight 90 -> 9 pods while traffic stays at 45.
    assert sizes(timeline)[:5] == [(2, 10), (2, 10), (1, 10), (5, 10), (9, 10)]
    assert timeline.stages[-1].kind == "complete" and timeline.stages[-1].weight == 100


def test_dynamic_stable_scale_shrinks_the_stable_once_traffic_left_it() -> None:
    raw = rollout([{"setWeight": 50}, {"pause": {"duration": 10}}],
                  replicas=4, canaryService="canary", stableService="stable",
                  dynamicStableScale=True, trafficRouting={"smi": {}})
    timeline = plan_timeline(raw, {}, {})
    assert sizes(timeline)[0] == (2, 4), "the stable keeps its pods until traffic moved"
    assert sizes(timeline)[1] == (2, 2)


def test_set_canary_scale_without_a_router_is_refused_as_the_controller_does() -> None:
    with pytest.raises(PlanProblem, match="setCanaryScale: needs trafficRouting"):
        plan_timeline(rollout([{"setWeight": 20}, {"setCanaryScale": {"replicas": 4}}]), {}, {})


# -- pauses, analysis and the total time ------------------------------------------------


def test_indefinite_pause_waits_until_promoted_and_is_not_counted() -> None:
    timeline = plan_timeline(rollout([{"setWeight": 20}, {"pause": {}},
                                      {"pause": {"duration": "1h"}}]), {}, {})
    pause = timeline.stages[1]
    assert pause.title == "pause until promoted" and pause.waits == "until promoted"
    assert pause.min_seconds == 0
    assert timeline.stages[2].min_seconds == 3600
    assert timeline.min_total_seconds == 3600
    assert timeline.unbounded == ["step 2: pause until promoted"]


def test_min_total_time_adds_pauses_and_analysis_schedules() -> None:
    analysis = {"templates": [{"templateName": "success-rate"}], "args": ARGS}
    raw = rollout([{"setWeight": 20}, {"pause": {"duration": "1m"}}, {"analysis": analysis},
                   {"setWeight": 60}, {"pause": {"duration": 30}}])
    templates = {"success-rate": template(interval="1m", count=3, initial_delay="30s")}
    timeline = plan_timeline(raw, templates, {})
    gate = timeline.stages[2].analysis
    assert gate is not None
    # initialDelay 30s, then 3 measurements 1m apart: 30 + 2 * 60.
    assert gate.min_seconds == 150 and timeline.stages[2].min_seconds == 150
    assert timeline.min_total_seconds == 60 + 150 + 30
    assert [s.starts_after for s in timeline.stages] == [0, 0, 60, 210, 210, 240]
    assert timeline.unbounded == []


def test_analysis_gate_shows_templates_args_and_the_query_with_known_args() -> None:
    analysis = {"templates": [{"templateName": "success-rate"}],
                "args": [*ARGS, {"name": "hash",
                                 "valueFrom": {"podTemplateHashValue": "Stable"}}]}
    raw = rollout([{"setWeight": 20}, {"analysis": analysis}])
    gate = plan_timeline(raw, {"success-rate": template()}, {}).stages[1].analysis
    assert gate is not None
    assert [(t.name, t.found) for t in gate.templates] == [("success-rate", True)]
    assert [(a.name, a.value, a.source) for a in gate.args] == [
        ("service", "checkout", "rollout"), ("hash", None, "podTemplateHashValue Stable")]
    (metric,) = gate.metrics
    assert metric.provider == "prometheus"
    # The service is known offline; the stable pod hash is not, so it stays a placeholder.
    assert metric.query == ('sum(rate(http_requests_total{service="checkout",'
                            'hash="{{args.hash}}"}[1m]))')
    assert (metric.interval, metric.count) == ("1m", "3")


def test_a_missing_template_is_named_not_an_error() -> None:
    raw = rollout([{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "gone"}]}},
                   {"pause": {"duration": 10}}])
    timeline = plan_timeline(raw, {}, {})
    stage = timeline.stages[1]
    assert stage.analysis is not None
    assert [(t.name, t.found) for t in stage.analysis.templates] == [("gone", False)]
    assert stage.waits is not None and "gone not given" in stage.waits
    assert kinds(timeline)[-1] == "complete", "the plan goes on past it"
    assert "template not given: gone" in render_timeline(timeline)


def test_a_metric_without_count_is_unbounded() -> None:
    analysis = {"templates": [{"templateName": "success-rate"}], "args": ARGS}
    timeline = plan_timeline(rollout([{"analysis": analysis}]),
                             {"success-rate": template(count=None)}, {})
    stage = timeline.stages[0]
    assert stage.waits is not None and stage.waits.startswith("unbounded: metric rate")
    assert timeline.unbounded and "unbounded" in timeline.unbounded[0]


def test_background_analysis_is_a_gate_beside_the_steps() -> None:
    raw = rollout([{"setWeight": 20}, {"pause": {"duration": 60}}, {"setWeight": 50}],
                  analysis={"templates": [{"templateName": "success-rate"}], "args": ARGS,
                            "startingStep": 1})
    timeline = plan_timeline(raw, {"success-rate": template()}, {})
    assert timeline.background is not None
    assert timeline.background.starting_step == 1
    assert timeline.background.metrics[0].query is not None
    assert "checkout" in timeline.background.metrics[0].query
    assert timeline.min_total_seconds == 60, "background analysis adds no time"


def test_experiment_step_lasts_its_duration() -> None:
    step = {"experiment": {"duration": "5m", "templates": [
        {"name": "baseline", "specRef": "stable"}, {"name": "canary", "specRef": "canary"}]}}
    timeline = plan_timeline(rollout([{"setWeight": 10}, step]), {}, {})
    stage = timeline.stages[1]
    assert stage.kind == "experiment" and stage.min_seconds == 300
    assert stage.experiment is not None
    assert [t["name"] for t in stage.experiment["templates"]] == ["baseline", "canary"]


# -- blue-green -------------------------------------------------------------------------


def test_blue_green_with_pre_and_post_promotion_analysis() -> None:
    analysis = {"templates": [{"templateName": "success-rate"}], "args": ARGS}
    raw = blue_green_rollout(replicas=4, previewReplicaCount=1, autoPromotionEnabled=False,
                             prePromotionAnalysis=analysis, postPromotionAnalysis=analysis,
                             scaleDownDelaySeconds=120)
    timeline = plan_timeline(raw, {"success-rate": template(interval="30s", count=5)}, {})
    assert kinds(timeline) == ["preview", "prePromotionAnalysis", "pause", "promote",
                               "postPromotionAnalysis", "complete"]
    by_kind = {s.kind: s for s in timeline.stages}
    assert by_kind["preview"].replicas.new == 1, "previewReplicaCount"
    assert by_kind["prePromotionAnalysis"].services == {"active": "stable", "preview": "new"}
    assert by_kind["prePromotionAnalysis"].min_seconds == 120  # 5 measurements 30s apart
    assert by_kind["pause"].waits == "until promoted"
    assert (by_kind["promote"].replicas.new, by_kind["promote"].replicas.stable) == (4, 4)
    assert by_kind["promote"].services == {"active": "new", "preview": "new"}
    assert by_kind["postPromotionAnalysis"].analysis is not None
    assert by_kind["postPromotionAnalysis"].analysis.kind == "postPromotion"
    assert "2m after the switch" in " ".join(by_kind["complete"].notes)
    assert timeline.min_total_seconds == 240
    assert timeline.unbounded == ["pause: until promoted (autoPromotionEnabled: false)"]


def test_blue_green_auto_promotion_seconds_is_a_timed_pause() -> None:
    raw = blue_green_rollout(autoPromotionEnabled=False, autoPromotionSeconds=90)
    timeline = plan_timeline(raw, {}, {})
    pause = next(s for s in timeline.stages if s.kind == "pause")
    assert pause.min_seconds == 90 and pause.waits is None
    assert timeline.min_total_seconds == 90


def test_blue_green_auto_promotion_has_no_pause() -> None:
    timeline = plan_timeline(blue_green_rollout(), {}, {})
    assert kinds(timeline) == ["preview", "promote", "complete"]


# -- a live Rollout ---------------------------------------------------------------------


def test_live_marks_the_current_step_and_counts_the_pause_left() -> None:
    raw = rollout([{"setWeight": 20}, {"pause": {"duration": "10m"}}, {"setWeight": 60},
                   {"pause": {"duration": "5m"}}])
    timeline = plan_timeline(copy.deepcopy(raw), {}, {})
    started = START + timedelta(hours=1)
    raw["status"] = {"currentPodHash": "new", "stableRS": "old", "currentStepIndex": 1,
                     "pauseConditions": [{"reason": "CanaryPauseStep",
                                          "startTime": "2000-01-01T01:00:00Z"}]}
    mark_live(timeline, raw, started + timedelta(minutes=4))
    assert [s.state for s in timeline.stages] == ["done", "current", "pending", "pending",
                                                  "pending"]
    assert timeline.current == 1
    assert timeline.stages[1].min_seconds == 360
    assert timeline.min_total_seconds == 360 + 300
    rows = [line for line in render_timeline(timeline).splitlines() if "pause: 10m" in line]
    assert rows[0].startswith(">")


def test_live_blue_green_paused_is_at_its_pause() -> None:
    raw = blue_green_rollout(autoPromotionEnabled=False)
    timeline = plan_timeline(copy.deepcopy(raw), {}, {})
    raw["status"] = {"currentPodHash": "new", "stableRS": "old",
                     "blueGreen": {"activeSelector": "old", "previewSelector": "new"},
                     "pauseConditions": [{"reason": "BlueGreenPause",
                                          "startTime": "2000-01-01T00:00:00Z"}]}
    mark_live(timeline, raw, START)
    assert [s.state for s in timeline.stages] == ["done", "current", "pending", "pending"]


def test_live_paused_by_spec_says_so_once() -> None:
    raw = rollout([{"setWeight": 20}, {"pause": {}}])
    raw["spec"]["paused"] = True
    timeline = plan_timeline(copy.deepcopy(raw), {}, {})
    raw["status"] = {"currentPodHash": "new", "stableRS": "old", "currentStepIndex": 1}
    mark_live(timeline, raw, START)
    said = [note for note in timeline.notes if "spec.paused" in note]
    assert said == ["spec.paused is set: nothing moves until `rollouts promote`; planned "
                    "as if resumed"]


def test_live_without_an_update_in_progress_says_so() -> None:
    raw = rollout([{"setWeight": 20}])
    timeline = plan_timeline(copy.deepcopy(raw), {}, {})
    raw["status"] = {"currentPodHash": "same", "stableRS": "same", "currentStepIndex": 1}
    mark_live(timeline, raw, START)
    assert timeline.current is None
    assert "no update in progress" in timeline.notes[0]


# -- input the controller would not run -------------------------------------------------


@pytest.mark.parametrize(("doc", "words"), [
    ({"kind": "Deployment", "metadata": {"name": "x"}}, "not a Rollout"),
    ("just text", "not a Rollout"),
    (rollout([{"setWeight": 10}, {"fly": {}}]), "steps[1]"),
    (rollout([{"setWeight": 10, "pause": {}}]), "does exactly one thing"),
    (rollout([{"setWeight": 10}] * 1001), "1001 canary steps; rollouts plan plans up to 1000"),
])
def test_bad_input_is_one_line(doc: Any, words: str) -> None:
    with pytest.raises(PlanProblem) as problem:
        plan_timeline(doc, {}, {})
    assert words in str(problem.value) and "\n" not in str(problem.value)


def test_json_shape() -> None:
    analysis = {"templates": [{"templateName": "success-rate"}], "args": ARGS}
    doc = plan_timeline(rollout([{"setWeight": 20}, {"analysis": analysis}, {"pause": {}}]),
                        {"success-rate": template()}, {}).to_json()
    assert doc["version"] == 1 and doc["strategy"] == "canary"
    assert set(doc) == {"version", "rollout", "strategy", "replicas", "trafficRouting",
                        "maxSurge", "maxUnavailable", "stages", "background",
                        "minTotalSeconds", "unbounded", "current", "notes"}
    stage = doc["stages"][1]
    assert set(stage) == {"index", "kind", "title", "state", "weight", "replicas", "moves",
                          "services", "startsAfterSeconds", "minSeconds", "waits",
                          "analysis", "experiment", "notes"}
    assert stage["replicas"] == {"new": 1, "stable": 4}
    assert stage["analysis"]["metrics"][0]["query"].startswith("sum(rate(")
    assert doc["minTotalSeconds"] == 120


def test_a_schedule_too_long_to_play_is_bounded_and_said() -> None:
    analysis = {"templates": [{"templateName": "success-rate"}], "args": ARGS}
    raw = rollout([{"analysis": analysis}, {"analysis": analysis}])
    timeline = plan_timeline(raw, {"success-rate": template(count=10**9, interval="1s")}, {})
    assert kinds(timeline) == ["analysis", "analysis", "complete"]
    for stage in timeline.stages[:2]:
        assert stage.waits is not None and "more measurements than the plan plays" in stage.waits


def test_dry_run_metrics_are_marked_by_argos_regular_expression() -> None:
    dry = template()
    dry["spec"]["dryRun"] = [{"metricName": "ra.*"}]
    analysis = {"templates": [{"templateName": "success-rate"}], "args": ARGS}
    gate = plan_timeline(rollout([{"analysis": analysis}]), {"success-rate": dry},
                         {}).stages[0].analysis
    assert gate is not None and gate.metrics[0].dry_run
    plain = plan_timeline(rollout([{"analysis": analysis}]), {"success-rate": template()},
                          {}).stages[0].analysis
    assert plain is not None and not plain.metrics[0].dry_run


def test_a_live_rollouts_pod_hashes_fill_in_the_hash_arguments() -> None:
    analysis = {"templates": [{"templateName": "success-rate"}],
                "args": [*ARGS, {"name": "hash",
                                 "valueFrom": {"podTemplateHashValue": "Stable"}}]}
    raw = rollout([{"setWeight": 20}, {"analysis": analysis}])
    live = plan_timeline(raw, {"success-rate": template()}, {},
                         {"Stable": "6d4cf56f8b", "Latest": "7c9b6d5f4d"})
    gate = live.stages[1].analysis
    assert gate is not None
    assert [(a.name, a.value) for a in gate.args] == [("service", "checkout"),
                                                      ("hash", "6d4cf56f8b")]
    assert gate.metrics[0].query is not None and 'hash="6d4cf56f8b"' in gate.metrics[0].query


def test_steps_the_controller_skips_are_shown_skipped_with_its_reason() -> None:
    header = {"setHeaderRoute": {"name": "h", "match": [
        {"headerName": "x-canary", "headerValue": {"exact": "1"}}]}}
    raw = rollout([{"setWeight": 20}, {"plugin": {"name": "argoproj-labs/x"}}, header],
                  canaryService="canary", stableService="stable",
                  trafficRouting={"managedRoutes": [{"name": "h"}],
                                  "nginx": {"stableIngress": "web"}})
    timeline = plan_timeline(raw, {}, {})
    assert kinds(timeline) == ["setWeight", "skipped", "skipped", "complete"]
    assert timeline.stages[1].notes == ["Step 2 (plugin) is not supported; skipped"]
    assert "no router of this Rollout carries it (routers: nginx)" in timeline.stages[2].notes[0]
    # With a router that carries header routes the same step is a real one.
    raw["spec"]["strategy"]["canary"]["trafficRouting"] = {
        "managedRoutes": [{"name": "h"}], "istio": {"virtualService": {"name": "vs"}}}
    assert kinds(plan_timeline(raw, {}, {}))[2] == "setHeaderRoute"
