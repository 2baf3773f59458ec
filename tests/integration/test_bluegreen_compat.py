"""Argo's own blue-green files (../shared/compat/argo-rollouts, never edited) on the local
cluster: each reaches Healthy, rolls out an image change (promoted by hand when the file
asks for a manual gate) and scales the old ReplicaSet down after its scaleDownDelaySeconds
(default 30 s: for those the deadline annotation is checked instead of waiting)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TestCluster
from tests.integration.bluegreen_support import (
    apply,
    blue_green,
    compat_docs,
    new_revision,
    promoted,
    reasons,
    replicas,
    selector_of,
    wait_active,
    wait_scale_down_deadline,
)
from tests.integration.support import (
    rollout_status,
    rollouts_cli,
    running_controller,
    wait_for,
    wait_phase,
)


def _strategy(docs: list[dict[str, Any]]) -> dict[str, Any]:
    rollout = next(d for d in docs if d["kind"] == "Rollout")
    return dict(rollout["spec"]["strategy"]["blueGreen"])


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("examples-rollout-bluegreen.yaml", "rollout-bluegreen"),
        ("e2e-functional-rollout-bluegreen.yaml", "bluegreen"),
        ("e2e-functional-bluegreen-duration-template.yaml", "bg-duration"),
    ],
)
def test_compat_bluegreen_rollouts_reach_healthy_and_roll_out_an_image_change(
    cluster: TestCluster, namespace: str, tmp_path: Path, file: str, name: str
) -> None:
    docs = compat_docs(file, rollout_name=name)
    strategy = _strategy(docs)
    active_svc, preview_svc = strategy["activeService"], strategy.get("previewService")
    manual = strategy.get("autoPromotionEnabled") is False
    delay = int(strategy.get("scaleDownDelaySeconds", 30))
    replicas_wanted = int(next(d for d in docs if d["kind"] == "Rollout")["spec"]["replicas"])
    with running_controller(cluster, namespace, tmp_path):
        apply(cluster, namespace, *docs)
        first = wait_phase(cluster, namespace, name, "Healthy", timeout=90)
        old = first["stableRS"]
        assert blue_green(first).get("activeSelector") == old
        wait_for(lambda: selector_of(cluster, namespace, active_svc) == old, 30,
                 "the active service on the first RS")
        assert replicas(cluster, namespace) == {old: replicas_wanted}

        new = new_revision(cluster, namespace, name, "registry.local/new:2")
        if preview_svc:
            wait_for(lambda: selector_of(cluster, namespace, preview_svc) == new, 60,
                     "the preview service on the new RS")
        if manual:
            paused = wait_phase(cluster, namespace, name, "Paused", timeout=60)
            assert paused["pauseConditions"][0]["reason"] == "BlueGreenPause"
            assert selector_of(cluster, namespace, active_svc) == old
            result = rollouts_cli(cluster, "promote", name, "-n", namespace)
            assert result.returncode == 0, result.stderr
        switched_at = wait_active(cluster, namespace, active_svc, new, timeout=60)
        if delay > 0:
            deadline, size = wait_scale_down_deadline(cluster, namespace, old)
            assert size == replicas_wanted
            assert abs(deadline - (switched_at + delay)) < 3, (deadline - switched_at)
        done = wait_phase(cluster, namespace, name, "Healthy", timeout=delay + 30)
        assert promoted(done, new) and done["currentPodHash"] == new
        assert replicas(cluster, namespace)[new] == replicas_wanted
        if delay <= 10:
            wait_for(lambda: replicas(cluster, namespace).get(old) == 0, delay + 30,
                     "the old RS scaled down", lambda: replicas(cluster, namespace))
            assert time.time() - switched_at >= delay - 1.5
        else:
            assert replicas(cluster, namespace)[old] in (0, replicas_wanted)
        assert rollout_status(cluster, namespace, name)["stableRS"] == new
    seen = reasons(cluster, namespace, name)
    assert ("RolloutPaused" in seen) == manual
    assert "SwitchService" in seen
