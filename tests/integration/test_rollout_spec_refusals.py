"""A Rollout whose analysis names a metric provider we do not implement is refused
before anything starts (InvalidSpec, nothing created), on the real control plane."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TestCluster
from tests.integration.bluegreen_support import analysis, apply, bluegreen_rollout, services_for
from tests.integration.support import rollout_status, running_controller, wait_for

pytestmark = pytest.mark.integration


def test_a_template_with_an_unsupported_provider_makes_the_rollout_invalid_spec(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                "metadata": {"name": "errors"},
                "spec": {"metrics": [{"name": "errors", "provider": {
                    "datadog": {"query": "sum:requests.error{*}"}}}]}}
    rollout = bluegreen_rollout("dd", prePromotionAnalysis=analysis("errors"))
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, template, *services_for("dd"), rollout)
        wait_for(lambda: rollout_status(cluster, namespace, "dd").get("phase") == "Degraded",
                 60, "the Rollout to be refused",
                 lambda: rollout_status(cluster, namespace, "dd"))
        status = rollout_status(cluster, namespace, "dd")
        assert status["message"].startswith("InvalidSpec: AnalysisTemplate 'errors': "
                                            "spec.metrics[0].provider.datadog")
        assert "use prometheus, web or job" in status["message"]
        assert _names(cluster, namespace, "replicasets") == [], (
            "nothing is created for an invalid Rollout")


def _names(cluster: TestCluster, namespace: str, kind: str) -> list[str]:
    out = cluster.kubectl_run("get", kind, "-n", namespace, "-o", "name").stdout
    return [line for line in out.splitlines() if line]
