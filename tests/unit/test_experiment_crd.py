"""The Experiment CRD's schema accepts the Experiments we and Argo write (no cluster)."""

from __future__ import annotations

from tests.unit.test_crds_static import validate_doc
from tests.unit.test_experiment_plan import T0, experiment, running_status
from tests.unit.test_experiment_step import make


def test_an_experiment_with_services_analyses_and_status_is_accepted() -> None:
    doc = experiment(duration="2s", progressDeadlineSeconds=30, scaleDownDelaySeconds=0,
                     analyses=[{"name": "a", "templateName": "t", "clusterScope": True,
                                "requiredForCompletion": True,
                                "args": [{"name": "x", "value": "1"}]}],
                     dryRun=[{"metricName": ".*"}], status=running_status(T0))
    doc["spec"]["templates"][0]["service"] = {"name": "svc"}
    doc["spec"]["templates"][0]["minReadySeconds"] = 3
    assert validate_doc(doc) == []


def test_the_step_helpers_experiment_is_accepted() -> None:
    assert validate_doc(make()) == []


def test_integer_durations_and_bad_values_are_judged_like_the_api_server() -> None:
    assert validate_doc(experiment(duration=30)) == []
    errors = validate_doc(experiment(duration="soon", templates=[]))
    assert any("spec.duration" in e for e in errors)
    assert any("spec.templates" in e for e in errors)
