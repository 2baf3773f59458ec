"""The blue-green controller on the real control plane: a real controller process, real
ReplicaSets and Services, pods made Ready by kwok, state read back from the API server.

Promotion, pauses, abort/retry, scale-down delays, previewReplicaCount and ephemeral
metadata. Analyses are in test_bluegreen_analysis.py, Argo's files in
test_bluegreen_compat.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.bluegreen_support import (
    HASH,
    MANAGED_BY,
    apply,
    available,
    blue_green,
    bluegreen_rollout,
    new_revision,
    parse_time,
    pods_of,
    promoted,
    reasons,
    replica_sets,
    replicas,
    selectors,
    services_for,
    wait_active,
    wait_scale_down_deadline,
    wait_status,
)
from tests.integration.support import (
    get,
    rollout_status,
    rollouts_cli,
    running_controller,
    wait_for,
    wait_phase,
)


def _paused_for_promotion(status: dict[str, Any]) -> bool:
    conditions = status.get("pauseConditions") or []
    return status.get("phase") == "Paused" and any(
        c.get("reason") == "BlueGreenPause" for c in conditions)


def test_first_deployment_goes_straight_to_active_and_stable(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, *services_for("first"),
              bluegreen_rollout("first", replicas=3, autoPromotionEnabled=False))
        status = wait_phase(cluster, namespace, "first", "Healthy")
        current = status["currentPodHash"]
        assert status["stableRS"] == current
        assert blue_green(status).get("activeSelector") == current
        assert "currentStepIndex" not in status and "canary" not in status
        assert not status.get("pauseConditions")
        assert HASH in str(status.get("selector")) and current in str(status.get("selector"))
        # Argo points the preview Service at the newest RS, which is the active one here.
        wait_for(lambda: selectors(cluster, namespace, "first") == (current, current), 30,
                 "both services on the first RS", lambda: selectors(cluster, namespace, "first"))
        active = get(cluster, namespace, "service", "first-active")
        assert active["metadata"]["annotations"][MANAGED_BY] == "first"
        assert replicas(cluster, namespace) == {current: 3}
        rs = replica_sets(cluster, namespace)[current]
        assert rs["metadata"]["name"] == f"first-{current}"
        assert rs["metadata"]["ownerReferences"][0]["kind"] == "Rollout"
        assert "BlueGreenPause" not in str(status.get("message"))


def test_manual_promotion_switches_active_then_scales_old_down_after_the_delay(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    delay = 4
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, *services_for("man"),
              bluegreen_rollout("man", autoPromotionEnabled=False,
                                scaleDownDelaySeconds=delay))
        old = wait_phase(cluster, namespace, "man", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "man", "app:2")
        paused = wait_status(cluster, namespace, "man", _paused_for_promotion,
                             "the BlueGreenPause")
        assert paused["controllerPause"] is True and paused["message"] == "BlueGreenPause"
        assert paused["stableRS"] == old
        assert "currentStepIndex" not in paused
        wait_for(lambda: selectors(cluster, namespace, "man") == (old, new), 30,
                 "active on blue, preview on green", lambda: selectors(cluster, namespace, "man"))
        status = rollout_status(cluster, namespace, "man")
        assert blue_green(status).get("activeSelector") == old
        assert blue_green(status).get("previewSelector") == new
        assert replicas(cluster, namespace) == {old: 2, new: 2}
        time.sleep(2)  # a manual gate stays shut
        assert selectors(cluster, namespace, "man") == (old, new)
        assert rollout_status(cluster, namespace, "man")["phase"] == "Paused"

        result = rollouts_cli(cluster, "promote", "man", "-n", namespace)
        assert result.returncode == 0, result.stderr
        switched_at = wait_active(cluster, namespace, "man-active", new)
        # The old RS stays up for the delay, marked with its deadline.
        deadline, size = wait_scale_down_deadline(cluster, namespace, old)
        assert size == 2, "scaled down before scaleDownDelaySeconds"
        assert abs(deadline - (switched_at + delay)) < 3, (deadline - switched_at)
        wait_for(lambda: replicas(cluster, namespace).get(old) == 0, delay + 30,
                 "the old RS scaled down", lambda: replicas(cluster, namespace))
        assert time.time() - switched_at >= delay - 1.5
        final = wait_phase(cluster, namespace, "man", "Healthy", timeout=30)
        assert promoted(final, new)
        assert final["currentPodHash"] == new
        assert not final.get("pauseConditions") and not final.get("controllerPause")
        assert replicas(cluster, namespace) == {old: 0, new: 2}
        assert selectors(cluster, namespace, "man") == (new, new)
    seen = reasons(cluster, namespace, "man")
    assert "SwitchService" in seen and "RolloutPaused" in seen


def test_auto_promotion_waits_autopromotionseconds_across_a_controller_kill(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    wait_seconds = 8
    with running_controller(cluster, namespace, tmp_path) as controller:
        apply(cluster, namespace, *services_for("auto"),
              # Argo pauses (and so counts autoPromotionSeconds) only with
              # autoPromotionEnabled: false.
              bluegreen_rollout("auto", autoPromotionEnabled=False,
                                autoPromotionSeconds=wait_seconds, scaleDownDelaySeconds=2))
        old = wait_phase(cluster, namespace, "auto", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "auto", "app:2")
        paused = wait_status(cluster, namespace, "auto", _paused_for_promotion,
                             "the BlueGreenPause")
        condition = paused["pauseConditions"][0]
        started = parse_time(condition["startTime"]).timestamp()
        # The Event follows the status write; kill once both are out (an Event lost to a
        # kill in between is not what this test is about).
        wait_for(lambda: "RolloutPaused" in reasons(cluster, namespace, "auto"), 10,
                 "the RolloutPaused event")
        controller.kill()
        time.sleep(3)
        assert selectors(cluster, namespace, "auto")[0] == old  # nobody promoted meanwhile
        controller.start()
        switched_at = wait_active(cluster, namespace, "auto-active", new, timeout=60)
        # Not before autoPromotionSeconds from the stored startTime, and not counted again
        # from the restart (>= 3 s after startTime), which would switch at >= 11 s.
        assert switched_at >= started + wait_seconds - 1, (switched_at - started)
        assert switched_at <= started + wait_seconds + 6, (switched_at - started)
        final = wait_phase(cluster, namespace, "auto", "Healthy", timeout=60)
        assert promoted(final, new)
        wait_for(lambda: replicas(cluster, namespace).get(old) == 0, 40,
                 "the old RS scaled down", lambda: replicas(cluster, namespace))
    assert reasons(cluster, namespace, "auto").count("RolloutPaused") == 1


def test_abort_keeps_active_on_stable_scales_preview_down_and_retry_starts_over(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, *services_for("ab"),
              bluegreen_rollout("ab", autoPromotionEnabled=False, scaleDownDelaySeconds=2,
                                abortScaleDownDelaySeconds=3))
        stable = wait_phase(cluster, namespace, "ab", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "ab", "app:2")
        wait_status(cluster, namespace, "ab", _paused_for_promotion, "the BlueGreenPause")
        wait_for(lambda: selectors(cluster, namespace, "ab") == (stable, new), 30,
                 "preview on green", lambda: selectors(cluster, namespace, "ab"))

        result = rollouts_cli(cluster, "abort", "ab", "-n", namespace)
        assert result.returncode == 0, result.stderr
        aborted_at = time.time()
        aborted = wait_phase(cluster, namespace, "ab", "Degraded", timeout=30)
        assert aborted["abort"] is True and aborted.get("abortedAt")
        assert str(aborted["message"]).startswith("RolloutAborted")
        assert aborted["stableRS"] == stable
        wait_for(lambda: selectors(cluster, namespace, "ab") == (stable, stable), 30,
                 "both services on stable", lambda: selectors(cluster, namespace, "ab"))
        wait_for(lambda: replicas(cluster, namespace).get(new) == 0, 40,
                 "the aborted RS scaled down", lambda: replicas(cluster, namespace))
        assert time.time() - aborted_at >= 3 - 1.5, "scaled down before the abort delay"
        assert replicas(cluster, namespace)[stable] == 2
        assert rollouts_cli(cluster, "status", "ab", "-n", namespace).returncode == 1

        result = rollouts_cli(cluster, "retry", "rollout", "ab", "-n", namespace)
        assert result.returncode == 0, result.stderr
        retried = wait_status(cluster, namespace, "ab", _paused_for_promotion,
                              "the BlueGreenPause again after retry")
        assert not retried.get("abort")
        wait_for(lambda: replicas(cluster, namespace) == {stable: 2, new: 2}, 30,
                 "green scaled up again", lambda: replicas(cluster, namespace))
        wait_for(lambda: selectors(cluster, namespace, "ab") == (stable, new), 30,
                 "preview on green again", lambda: selectors(cluster, namespace, "ab"))

        # Abort again; retrying by patching status.abort=false (what the CLI sends) works too.
        assert rollouts_cli(cluster, "abort", "ab", "-n", namespace).returncode == 0
        wait_phase(cluster, namespace, "ab", "Degraded", timeout=30)
        cluster.kubectl_run("patch", "rollout", "ab", "-n", namespace, "--subresource=status",
                            "--type=merge", "-p", '{"status": {"abort": false}}')
        wait_status(cluster, namespace, "ab", _paused_for_promotion, "paused after the patch")
        wait_for(lambda: replicas(cluster, namespace) == {stable: 2, new: 2}, 30,
                 "green up again after the patch", lambda: replicas(cluster, namespace))

        assert rollouts_cli(cluster, "promote", "ab", "-n", namespace).returncode == 0
        final = wait_status(cluster, namespace, "ab",
                            lambda s: promoted(s, new) and s.get("phase") == "Healthy",
                            "promoted after the retry", 60)
        assert not final.get("abort")
    seen = reasons(cluster, namespace, "ab")
    assert "RolloutAborted" in seen and "RolloutRetried" in seen


def test_preview_replica_count_then_full_scale_before_the_switch(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    # minReadySeconds makes new pods Ready at once but available only 3 s later, so a
    # switch to pods that are not all available would be seen.
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, *services_for("prc"),
              bluegreen_rollout("prc", replicas=4, previewReplicaCount=1,
                                autoPromotionEnabled=False, scaleDownDelaySeconds=2,
                                spec={"minReadySeconds": 3}))
        old = wait_phase(cluster, namespace, "prc", "Healthy")["stableRS"]
        new = new_revision(cluster, namespace, "prc", "app:2")
        paused = wait_status(cluster, namespace, "prc", _paused_for_promotion,
                             "the BlueGreenPause")
        assert replicas(cluster, namespace) == {old: 4, new: 1}
        wait_for(lambda: selectors(cluster, namespace, "prc") == (old, new), 30,
                 "preview on the single green pod", lambda: selectors(cluster, namespace, "prc"))
        # Argo: the checkpoint ("ready to be scaled up after the rollout is unpaused") is
        # set only once the pause is over.
        paused = rollout_status(cluster, namespace, "prc")
        assert blue_green(paused).get("scaleUpPreviewCheckPoint") is not True

        assert rollouts_cli(cluster, "promote", "prc", "-n", namespace).returncode == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            active = selectors(cluster, namespace, "prc")[0]
            rs = replica_sets(cluster, namespace)[new]
            if active == new:
                assert rs["spec"]["replicas"] == 4 and available(rs) == 4, (
                    "active switched before the new RS was fully available", rs["status"])
                break
            assert rs["spec"]["replicas"] in (1, 4)
            time.sleep(0.2)
        else:
            raise AssertionError("the active service never switched")
        final = wait_phase(cluster, namespace, "prc", "Healthy", timeout=60)
        assert promoted(final, new)
        wait_for(lambda: replicas(cluster, namespace) == {old: 0, new: 4}, 40,
                 "blue scaled down", lambda: replicas(cluster, namespace))


def _role(obj: dict[str, Any], template: bool = False) -> str | None:
    meta = obj["spec"]["template"]["metadata"] if template else obj["metadata"]
    role = (meta.get("labels") or {}).get("role")
    return None if role is None else str(role)


def test_active_and_preview_metadata_move_on_promotion(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, *services_for("meta"),
              bluegreen_rollout("meta", autoPromotionEnabled=False, scaleDownDelaySeconds=4,
                                activeMetadata={"labels": {"role": "active"}},
                                previewMetadata={"labels": {"role": "preview"}}))
        old = wait_phase(cluster, namespace, "meta", "Healthy")["stableRS"]

        def roles(pod_hash: str) -> tuple[str | None, list[str | None]]:
            rs = replica_sets(cluster, namespace)[pod_hash]
            return _role(rs, template=True), sorted(
                (_role(p) for p in pods_of(cluster, namespace, pod_hash)), key=str)

        wait_for(lambda: roles(old) == ("active", ["active", "active"]), 30,
                 "the first RS and its pods labelled active", lambda: roles(old))

        new = new_revision(cluster, namespace, "meta", "app:2")
        wait_status(cluster, namespace, "meta", _paused_for_promotion, "the BlueGreenPause")
        wait_for(lambda: roles(new) == ("preview", ["preview", "preview"]), 30,
                 "green labelled preview", lambda: roles(new))
        assert roles(old) == ("active", ["active", "active"])
        green_pods = {p["metadata"]["name"] for p in pods_of(cluster, namespace, new)}

        assert rollouts_cli(cluster, "promote", "meta", "-n", namespace).returncode == 0
        # Argo gives blue activeMetadata while it is stable, then strips the injected
        # metadata from the template of every RS that is neither new nor stable (recent
        # versions leave its pods alone): blue is never labelled preview.
        history: list[object] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            blue, green = roles(old), roles(new)
            history.append((blue, green))
            assert blue[0] != "preview" and "preview" not in blue[1], (
                "the previous active RS got previewMetadata", history[-3:])
            if green == ("active", ["active", "active"]) and blue[0] is None:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"labels never settled: {history[-3:]}")
        assert promoted(rollout_status(cluster, namespace, "meta"), new)
        assert replicas(cluster, namespace).get(old, 0) in (0, 2)
        # The pods were relabelled, not replaced.
        assert {p["metadata"]["name"] for p in pods_of(cluster, namespace, new)} == green_pods
