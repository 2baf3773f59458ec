"""The canary controller on the real control plane: a real process, real ReplicaSets,
pods made Ready by kwok, state read back from the API server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import TestCluster
from tests.integration.support import (
    COMPAT,
    events,
    get,
    patch_status,
    replica_counts,
    rollout_status,
    rollouts_cli,
    running_controller,
    set_image,
    wait_for,
    wait_phase,
)

ARGO = COMPAT / "argo-rollouts"


def _apply(cluster: TestCluster, namespace: str, manifest: str | Path) -> None:
    if isinstance(manifest, Path):
        cluster.kubectl_run("apply", "-n", namespace, "-f", str(manifest))
    else:
        cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=manifest)


def _rollout(name: str, steps: list[dict[str, object]], replicas: int = 4,
             **canary: object) -> str:
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": {"canary": {"steps": steps, **canary}},
        },
    })


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("e2e-functional-rollout-basic.yaml", "basic"),
        ("e2e-functional-rollout-canary-with-pause.yaml", "rollout-canary-with-pause"),
        ("examples-rollout-canary.yaml", "rollout-canary"),
    ],
)
@pytest.mark.timeout(420)  # its own waits add up to 335 s: let them report, not the timeout
def test_compat_rollouts_reach_healthy_after_an_image_change(
    cluster: TestCluster, namespace: str, tmp_path: Path, file: str, name: str
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, ARGO / file)
        first = wait_phase(cluster, namespace, name, "Healthy", timeout=90)
        set_image(cluster, namespace, name, "registry.local/new:2")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            status = rollout_status(cluster, namespace, name)
            if status.get("phase") == "Healthy" and status.get("stableRS") != first["stableRS"]:
                break
            if status.get("phase") == "Paused" and not any(
                    c.get("reason") == "CanaryPauseStep" and _timed_pause(cluster, namespace,
                                                                         name, status)
                    for c in status.get("pauseConditions") or []):
                result = rollouts_cli(cluster, "promote", name, "-n", namespace)
                assert result.returncode == 0, result.stderr
            time.sleep(0.5)
        final = wait_phase(cluster, namespace, name, "Healthy", timeout=5)
        assert final["stableRS"] == final["currentPodHash"] != first["stableRS"]
        counts = replica_counts(cluster, namespace)
        assert counts[final["stableRS"]] == final["replicas"]
        assert counts[first["stableRS"]] == 0


def _timed_pause(cluster: TestCluster, namespace: str, name: str, status: dict[str, object]
                 ) -> bool:
    spec = get(cluster, namespace, "rollout", name)["spec"]
    steps = spec["strategy"]["canary"]["steps"]
    index = int(str(status.get("currentStepIndex") or 0))
    return index < len(steps) and bool((steps[index].get("pause") or {}).get("duration"))


def test_a_timed_pause_survives_a_controller_kill_without_repeating_steps(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    pause = 20
    steps: list[dict[str, object]] = [
        {"setWeight": 25}, {"pause": {"duration": f"{pause}s"}}, {"setWeight": 50},
        {"pause": {"duration": "2s"}}]
    with running_controller(cluster, namespace, tmp_path) as controller:
        _apply(cluster, namespace, _rollout("survivor", steps))
        wait_phase(cluster, namespace, "survivor", "Healthy")
        set_image(cluster, namespace, "survivor", "app:2")
        wait_phase(cluster, namespace, "survivor", "Paused", step=1)
        controller.kill()
        time.sleep(3)
        restarted = time.time()
        controller.start()

        def step() -> int:
            return int(rollout_status(cluster, namespace, "survivor")
                       .get("currentStepIndex") or 0)

        wait_for(lambda: step() >= 2, 90, "the timed pause to end")
        ended = time.time()
        wait_phase(cluster, namespace, "survivor", "Healthy", timeout=90)
    # The pause counts from its stored start, not from the new controller's start: it
    # began at least 3 s before the restart, so it ends before restart + its duration
    # (a timer restarted by the new process would end it at restart + 20 s or later).
    assert ended < restarted + pause - 1, (ended - restarted)
    reasons = [reason for reason, _ in events(cluster, namespace, "survivor")]
    completed = [msg for reason, msg in events(cluster, namespace, "survivor")
                 if reason == "RolloutStepCompleted"]
    assert [m.split(" completed")[0] for m in completed] == [
        "Step 1/4", "Step 2/4", "Step 3/4", "Step 4/4"], completed
    assert reasons.count("RolloutPaused") == 2
    assert reasons.count("RolloutCompleted") == 1


def test_abort_returns_to_stable_and_retry_restarts(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, _rollout("ab", [{"setWeight": 50}, {"pause": {}}]))
        stable = wait_phase(cluster, namespace, "ab", "Healthy")["stableRS"]
        set_image(cluster, namespace, "ab", "app:2")
        canary = wait_phase(cluster, namespace, "ab", "Paused", step=1)["currentPodHash"]
        assert replica_counts(cluster, namespace) == {stable: 2, canary: 2}

        assert rollouts_cli(cluster, "abort", "ab", "-n", namespace).returncode == 0
        aborted = wait_phase(cluster, namespace, "ab", "Degraded")
        assert aborted["message"].startswith("RolloutAborted")
        wait_for(lambda: replica_counts(cluster, namespace) == {stable: 4, canary: 0}, 60,
                 "all replicas back on stable", lambda: replica_counts(cluster, namespace))
        status = rollouts_cli(cluster, "status", "ab", "-n", namespace)
        assert status.returncode == 1

        assert rollouts_cli(cluster, "retry", "ab", "-n", namespace).returncode == 0
        wait_phase(cluster, namespace, "ab", "Paused", step=1)
        assert replica_counts(cluster, namespace) == {stable: 2, canary: 2}


def test_promote_full_fast_rollback_and_mid_rollout_change(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    steps = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}]
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, _rollout("pf", steps))
        first = wait_phase(cluster, namespace, "pf", "Healthy")["stableRS"]

        set_image(cluster, namespace, "pf", "app:2")
        wait_phase(cluster, namespace, "pf", "Paused", step=1)
        set_image(cluster, namespace, "pf", "app:3")  # replaces the canary
        third = wait_phase(cluster, namespace, "pf", "Paused", step=1)["currentPodHash"]
        counts = replica_counts(cluster, namespace)
        assert counts[third] == 1 and counts[first] == 3 and sum(counts.values()) == 4

        assert rollouts_cli(cluster, "promote", "pf", "--full", "-n", namespace).returncode == 0
        healthy = wait_phase(cluster, namespace, "pf", "Healthy", timeout=90)
        assert healthy["stableRS"] == third

        set_image(cluster, namespace, "pf", "app:4")
        wait_phase(cluster, namespace, "pf", "Paused", step=1)
        set_image(cluster, namespace, "pf", "app:3")  # back to stable: fast rollback
        back = wait_phase(cluster, namespace, "pf", "Healthy", timeout=60)
        assert back["stableRS"] == third and back["currentStepIndex"] == len(steps)
        wait_for(lambda: replica_counts(cluster, namespace).get(third) == 4, 30,
                 "stable at full size")


@pytest.mark.parametrize(("phase", "expected"), [
    ("Successful", "Healthy"), ("Failed", "Degraded"), ("Error", "Degraded"),
    ("Inconclusive", "Paused")])
def test_analysis_step_follows_the_run_phase(
    cluster: TestCluster, namespace: str, tmp_path: Path, phase: str, expected: str
) -> None:
    template = json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "gate"},
        "spec": {"metrics": [{"name": "ok", "provider": {
            "web": {"url": "http://127.0.0.1:1/never-called"}}}]},
    })
    steps = [{"setWeight": 25}, {"analysis": {"templates": [{"templateName": "gate"}]}}]
    with running_controller(cluster, namespace, tmp_path, controllers="rollouts"):
        _apply(cluster, namespace, template)
        _apply(cluster, namespace, _rollout("an", steps))
        wait_phase(cluster, namespace, "an", "Healthy")
        set_image(cluster, namespace, "an", "app:2")

        def run_name() -> str | None:
            status = rollout_status(cluster, namespace, "an")
            run = (status.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
            return run.get("name")

        wait_for(lambda: run_name() is not None, 60, "the step's AnalysisRun")
        name = run_name()
        assert name is not None
        run = get(cluster, namespace, "analysisrun", name)
        assert run["spec"]["metrics"][0]["name"] == "ok"
        # Only the rollout controller runs (`--controllers rollouts`): the test plays
        # the analysis controller's part and sets the verdict.
        patch_status(cluster, namespace, "analysisrun", name, {"phase": phase})
        status = wait_phase(cluster, namespace, "an", expected, timeout=60)
        if expected == "Paused":
            assert status["pauseConditions"][0]["reason"] == "InconclusiveAnalysisRun"
            assert rollouts_cli(cluster, "promote", "an", "-n", namespace).returncode == 0
            wait_phase(cluster, namespace, "an", "Healthy", timeout=60)
        if expected == "Degraded":
            assert status["abort"] is True


def test_invalid_spec_sets_a_condition_and_creates_nothing(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    manifest = _rollout("bad", [{"setWeight": 20}], canaryService="missing-svc")
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, manifest)
        status = wait_phase(cluster, namespace, "bad", "Degraded")
        assert "missing-svc" in status["message"]
        invalid = [c for c in status["conditions"] if c["type"] == "InvalidSpec"]
        assert invalid and invalid[0]["status"] == "True"
        assert replica_counts(cluster, namespace) == {}


def test_services_follow_the_canary_and_stable_hashes(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    services = "\n---\n".join(json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": "svc"}, "ports": [{"port": 80}]}})
        for name in ("svc-canary", "svc-stable"))
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, services)
        _apply(cluster, namespace, _rollout("svc", [{"setWeight": 50}, {"pause": {}}],
                                            canaryService="svc-canary",
                                            stableService="svc-stable"))
        stable = wait_phase(cluster, namespace, "svc", "Healthy")["stableRS"]
        set_image(cluster, namespace, "svc", "app:2")
        canary = wait_phase(cluster, namespace, "svc", "Paused", step=1)["currentPodHash"]

        def selectors() -> dict[str, str]:
            return {name: get(cluster, namespace, "service", name)["spec"]["selector"].get(
                "rollouts-pod-template-hash", "") for name in ("svc-canary", "svc-stable")}

        wait_for(lambda: selectors() == {"svc-canary": canary, "svc-stable": stable}, 30,
                 "services pinned", selectors)


def test_workload_ref_runs_the_deployments_template(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, ARGO / "examples-workload-ref-workload-ref.yaml")
        first = wait_phase(cluster, namespace, "rollout-ref-deployment", "Healthy", timeout=60)
        rs = get(cluster, namespace, "replicaset", f"rollout-ref-deployment-{first['stableRS']}")
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "argoproj/rollouts-demo:blue"
        assert rs["status"].get("availableReplicas") == 5
        patch = json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                             "value": "argoproj/rollouts-demo:green"}])
        cluster.kubectl_run("patch", "deployment", "rollout-ref-deployment", "-n", namespace,
                            "--type=json", "-p", patch)
        paused = wait_phase(cluster, namespace, "rollout-ref-deployment", "Paused", step=1)
        assert paused["currentPodHash"] != first["stableRS"]
        wait_phase(cluster, namespace, "rollout-ref-deployment", "Healthy", timeout=60)


def test_restart_replaces_every_pod_and_records_it(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        _apply(cluster, namespace, _rollout("rs", [{"setWeight": 50}], replicas=3))
        wait_phase(cluster, namespace, "rs", "Healthy")

        def pod_names() -> set[str]:
            out = cluster.kubectl_run("get", "pods", "-n", namespace, "-l", "app=rs", "-o",
                                      "json").stdout
            return {p["metadata"]["name"] for p in json.loads(out)["items"]
                    if not p["metadata"].get("deletionTimestamp")}

        before = pod_names()
        assert len(before) == 3
        result = rollouts_cli(cluster, "restart", "rs", "-n", namespace)
        assert result.returncode == 0, result.stderr
        wait_for(lambda: bool(rollout_status(cluster, namespace, "rs").get("restartedAt")), 90,
                 "restartedAt to be recorded", lambda: pod_names())
        after = pod_names()
        assert len(after) == 3 and not (after & before)
        assert rollout_status(cluster, namespace, "rs")["phase"] == "Healthy"
