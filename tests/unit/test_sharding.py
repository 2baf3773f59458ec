"""`--instance-id` sharding: the selector each install lists with, and the label the
AnalysisRuns a Rollout creates inherit from it (so the same install follows them)."""

from __future__ import annotations

from typing import Any

from rollouts.api.rollout import RolloutAnalysis
from rollouts.api.sharding import INSTANCE_ID_LABEL, inherited_instance_label, instance_selector
from rollouts.core.analysis_runs import RunRequest, build_analysis_run


def test_an_install_serves_its_label_and_the_default_install_the_unlabelled() -> None:
    assert instance_selector("blue") == f"{INSTANCE_ID_LABEL}=blue"
    assert instance_selector("") == f"!{INSTANCE_ID_LABEL}"


def test_children_inherit_the_label_only_when_the_parent_has_it() -> None:
    assert inherited_instance_label({INSTANCE_ID_LABEL: "blue", "app": "x"}) == {
        INSTANCE_ID_LABEL: "blue"}
    assert inherited_instance_label({"app": "x"}) == {}
    assert inherited_instance_label(None) == {}


def _run_labels(rollout_labels: dict[str, str]) -> dict[str, Any]:
    rollout = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1",
                            "labels": rollout_labels}}
    template = {"spec": {"metrics": [{"name": "m", "provider": {"job": {}}}]}}
    run = build_analysis_run(
        rollout=rollout,
        analysis=RolloutAnalysis.model_validate({"templates": [{"templateName": "t"}]}),
        request=RunRequest(name="web-1", run_type="Step", step_index=1, latest_hash="abc",
                           stable_hash=None),
        templates={"t": template}, cluster_templates={})
    labels: dict[str, Any] = run["metadata"]["labels"]
    return labels


def test_a_rollouts_analysis_run_carries_its_instance_label() -> None:
    assert _run_labels({INSTANCE_ID_LABEL: "blue"})[INSTANCE_ID_LABEL] == "blue"
    assert INSTANCE_ID_LABEL not in _run_labels({"team": "a"})
