"""A canary Rollout's `experiment` step on the real control plane: the Rollout creates
the Experiment, the Experiment controller runs its templates and analysis (a Job that
kwok completes after ~1 s, failing when annotated), and the verdict drives the Rollout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.bluegreen_support import apply, job_template
from tests.integration.support import (
    events,
    get,
    rollout_status,
    running_controller,
    set_image,
    wait_for,
    wait_phase,
)


def _rollout(name: str, template: str, duration: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"setWeight": 25},
        {"experiment": {"duration": duration,
                        "templates": [{"name": "probe", "specRef": "canary"}],
                        "analyses": [{"name": "smoke", "templateName": template}]}},
        {"pause": {}}]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
                     "strategy": {"canary": {"steps": steps}}}}


def _experiments(cluster: TestCluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl_run("get", "experiments", "-n", namespace, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def test_a_successful_experiment_step_lets_the_canary_go_on(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    apply(cluster, namespace, job_template("exp-ok"), _rollout("exp-good", "exp-ok", "2s"))
    with running_controller(cluster, namespace, tmp_path):
        wait_phase(cluster, namespace, "exp-good", "Healthy", 60)
        set_image(cluster, namespace, "exp-good", "app:2")
        wait_for(lambda: rollout_status(cluster, namespace, "exp-good").get(
            "currentStepIndex") == 2, 90, "the experiment step to complete",
            lambda: (rollout_status(cluster, namespace, "exp-good"),
                     [e.get("status") for e in _experiments(cluster, namespace)]))
        (experiment,) = _experiments(cluster, namespace)
        assert experiment["status"]["phase"] == "Successful"
        owner = experiment["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("Rollout", "exp-good")
        status = rollout_status(cluster, namespace, "exp-good")
        assert status["phase"] == "Paused"
        assert "currentExperiment" not in (status.get("canary") or {})


def test_a_failing_experiment_analysis_fails_it_and_aborts_the_rollout(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    apply(cluster, namespace, job_template("exp-bad", fail=True),
          _rollout("exp-bad", "exp-bad", "30s"))
    with running_controller(cluster, namespace, tmp_path):
        wait_phase(cluster, namespace, "exp-bad", "Healthy", 60)
        stable = rollout_status(cluster, namespace, "exp-bad")["stableRS"]
        set_image(cluster, namespace, "exp-bad", "app:2")
        status = wait_phase(cluster, namespace, "exp-bad", "Degraded", 90)
        (experiment,) = _experiments(cluster, namespace)
        name = experiment["metadata"]["name"]
        assert experiment["status"]["phase"] == "Failed"
        assert status["message"].startswith(f"RolloutAborted: Experiment {name} Failed")
        assert status["stableRS"] == stable
        assert "RolloutAborted" in {reason for reason, _ in events(cluster, namespace,
                                                                   "exp-bad")}
        rs = get(cluster, namespace, "replicaset", f"exp-bad-{status['currentPodHash']}")
        wait_for(lambda: get(cluster, namespace, "replicaset", rs["metadata"]["name"])[
            "spec"]["replicas"] == 0, 30, "the aborted canary to scale down")
