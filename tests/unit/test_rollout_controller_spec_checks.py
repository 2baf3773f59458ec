"""The Rollout controller's pure spec checks: what it warns about and what it refuses
before planning (the planners themselves are tested in test_canary_plan.py and
test_bluegreen_plan.py; the controller on a real cluster in tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rollouts.controller.rollout_controller import (
    _invalid_status,
    _not_implemented_yet,
    _referenced_names,
    _template_problems,
)
from rollouts.core import Observed


def _rollout(strategy: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"strategy": strategy}}


def _observed(templates: dict[str, dict[str, Any]]) -> Observed:
    return Observed(replica_sets=[], analysis_runs=[], templates=templates,
                    cluster_templates={}, now=datetime(2026, 1, 1, tzinfo=UTC),
                    pod_template={})


def test_given_only_a_router_we_do_not_implement_then_the_settings_it_would_shape_warn(
) -> None:
    raw = _rollout({"canary": {"trafficRouting": {"alb": {"ingress": "i"}},
                               "dynamicStableScale": True, "abortScaleDownDelaySeconds": 5}})
    assert [w.split(":")[0] for w in _not_implemented_yet(raw)] == [
        "spec.strategy.canary.dynamicStableScale",
        "spec.strategy.canary.abortScaleDownDelaySeconds"]


def test_given_a_router_we_implement_then_its_settings_do_not_warn() -> None:
    raw = _rollout({"canary": {"trafficRouting": {"smi": {}}, "dynamicStableScale": True,
                               "abortScaleDownDelaySeconds": 5}})
    assert _not_implemented_yet(raw) == []


def test_given_no_router_then_no_warning() -> None:
    assert _not_implemented_yet(_rollout({"canary": {"steps": []}})) == []


def test_blue_green_references_its_services_and_analysis_templates() -> None:
    raw = _rollout({"blueGreen": {
        "activeService": "a", "previewService": "p",
        "prePromotionAnalysis": {"templates": [{"templateName": "pre"}]},
        "postPromotionAnalysis": {"templates": [{"templateName": "post"}]}}})
    assert _referenced_names(raw) == {"a", "p", "pre", "post"}


def test_a_referenced_template_with_an_unsupported_provider_makes_the_rollout_invalid() -> None:
    raw = _rollout({"blueGreen": {
        "activeService": "a",
        "prePromotionAnalysis": {"templates": [{"templateName": "dd"}]}}})
    template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                "metadata": {"name": "dd"},
                "spec": {"metrics": [{"name": "errors", "provider": {"datadog": {}}}]}}
    (problem,) = _template_problems(raw, _observed({"dd": template}))
    assert problem.startswith("AnalysisTemplate 'dd': spec.metrics[0].provider.datadog")
    assert "use prometheus, web or job" in problem
    assert _template_problems(raw, _observed({})) == [], "a missing template is waited for"


def test_an_unreadable_rollout_is_degraded_at_the_generation_read() -> None:
    raw = {"metadata": {"name": "web", "generation": 3},
           "status": {"phase": "Healthy", "observedGeneration": "2", "stableRS": "abc"}}
    assert _invalid_status(raw, "InvalidSpec: spec.replicas: not an integer") == {
        "phase": "Degraded", "message": "InvalidSpec: spec.replicas: not an integer",
        "observedGeneration": "3", "stableRS": "abc"}
