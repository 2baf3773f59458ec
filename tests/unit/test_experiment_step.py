"""A Rollout's `experiment` step: the Experiment it creates, and how it is read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollouts.api import Experiment, check_object
from rollouts.core.observed import HASH_LABEL
from rollouts.experiments.step import (
    TEMPLATE_WEIGHTS_ANNOTATION,
    ExperimentView,
    step_experiment,
)

CANARY = {"metadata": {"labels": {"app": "web", HASH_LABEL: "newhash"}},
          "spec": {"containers": [{"name": "app", "image": "app:2"}]}}
STABLE = {"metadata": {"labels": {"app": "web", HASH_LABEL: "oldhash"}},
          "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "ns", "uid": "ro-uid",
                 "labels": {"team": "a"}},
    "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
             "progressDeadlineSeconds": 120, "minReadySeconds": 5,
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "app", "image": "app:2"}]}}},
}
STEP = {"experiment": {
    "duration": "5m",
    "templates": [
        {"name": "baseline", "specRef": "stable", "replicas": 2,
         "metadata": {"labels": {"role": "baseline"}, "annotations": {"a": "b"}}},
        {"name": "canary", "specRef": "canary", "weight": 10},
    ],
    "analyses": [{
        "name": "compare", "templateName": "kayenta-like", "requiredForCompletion": True,
        "args": [
            {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
            {"name": "latest-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
            {"name": "team", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
            {"name": "plain", "value": "x"},
        ]}],
}}


def make(step: dict[str, Any] = STEP, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"new_hash": "newhash", "new_template": CANARY,
                               "stable_hash": "oldhash", "stable_template": STABLE,
                               "revision": 3}
    options.update(overrides)
    return step_experiment(ROLLOUT, 2, step, **options)


class TestGivenAnExperimentStep:
    def test_then_the_name_labels_owner_and_revision_are_argos(self) -> None:
        manifest = make()
        meta = manifest["metadata"]
        assert meta["name"] == "web-newhash-3-2"
        assert meta["namespace"] == "ns"
        assert meta["labels"] == {"team": "a", HASH_LABEL: "newhash", "rollout-type": "Step",
                                  "step-index": "2"}
        assert meta["annotations"]["rollout.argoproj.io/revision"] == "3"
        owner = meta["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "Rollout", "web", "ro-uid", True)

    def test_then_the_spec_takes_duration_and_the_rollouts_deadline(self) -> None:
        spec = make()["spec"]
        assert spec["duration"] == "5m"
        assert spec["progressDeadlineSeconds"] == 120

    def test_then_templates_come_from_the_stable_and_canary_pod_templates(self) -> None:
        baseline, canary = make()["spec"]["templates"]
        assert baseline["template"]["spec"]["containers"][0]["image"] == "app:1"
        assert canary["template"]["spec"]["containers"][0]["image"] == "app:2"
        assert baseline["template"]["metadata"]["labels"] == {"app": "web", "role": "baseline"}
        assert baseline["template"]["metadata"]["annotations"] == {"a": "b"}
        assert baseline["selector"] == {"matchLabels": {"app": "web", "role": "baseline"}}
        assert canary["selector"] == {"matchLabels": {"app": "web"}}
        assert (baseline["replicas"], canary["replicas"]) == (2, 1)
        assert baseline["minReadySeconds"] == 5
        assert "service" not in baseline and canary["service"] == {}

    def test_then_pod_template_hash_args_are_resolved(self) -> None:
        (analysis,) = make()["spec"]["analyses"]
        assert analysis["templateName"] == "kayenta-like"
        assert analysis["requiredForCompletion"] is True
        assert analysis["args"] == [
            {"name": "stable-hash", "value": "oldhash"},
            {"name": "latest-hash", "value": "newhash"},
            {"name": "team", "value": "a"},
            {"name": "plain", "value": "x"},
        ]

    def test_then_weights_are_recorded_on_the_experiment(self) -> None:
        annotations = make()["metadata"]["annotations"]
        assert json.loads(annotations[TEMPLATE_WEIGHTS_ANNOTATION]) == {"canary": 10}

    def test_then_the_manifest_is_a_valid_experiment(self) -> None:
        result = check_object(make())
        assert result.ok, result.problems
        assert isinstance(result.obj, Experiment)
        assert result.warnings == []

    def test_the_experiment_mapping_itself_is_accepted(self) -> None:
        assert make(STEP["experiment"]) == make()

    def test_when_stable_is_asked_without_a_stable_template_then_value_error(self) -> None:
        with pytest.raises(ValueError, match=r"templates\[0\]\.specRef: stable"):
            make(stable_template=None, stable_hash=None)

    def test_when_spec_ref_is_unknown_then_value_error(self) -> None:
        step = {"experiment": {"templates": [{"name": "x", "specRef": "preview"}]}}
        with pytest.raises(ValueError, match="must be canary or stable"):
            make(step)


class TestGivenAnExperimentReadBack:
    def test_weighted_services_are_the_weighted_templates_with_a_service(self) -> None:
        manifest = make()
        manifest["status"] = {
            "phase": "Running", "message": "",
            "templateStatuses": [
                {"name": "baseline", "serviceName": "web-newhash-3-2-baseline",
                 "podTemplateHash": "b1"},
                {"name": "canary", "serviceName": "web-newhash-3-2-canary",
                 "podTemplateHash": "c1"},
            ]}
        view = ExperimentView.parse(manifest)
        assert view.name == "web-newhash-3-2"
        assert view.phase is not None and view.phase.value == "Running"
        assert view.labels["step-index"] == "2"
        assert not view.completed
        assert view.weighted_services() == [("web-newhash-3-2-canary", 10, "c1")]

    def test_without_a_service_in_status_yet_then_no_share(self) -> None:
        view = ExperimentView.parse(make())
        assert view.phase is None
        assert view.weighted_services() == []

    def test_a_failed_experiment_is_completed_with_its_message(self) -> None:
        view = ExperimentView.parse({"metadata": {"name": "e"}, "spec": {"terminate": True},
                                     "status": {"phase": "Failed", "message": "boom"}})
        assert view.completed and view.message == "boom" and view.terminated
