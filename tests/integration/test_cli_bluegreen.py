"""The `rollouts` commands on a blue-green Rollout, with the real controller running.

One Rollout (2 replicas, `autoPromotionEnabled: false`, Services `demo-active` and
`demo-preview`) is taken through an update by the CLI as a user would: `set image`, then
`get rollout` while it waits at the BlueGreenPause (the active ReplicaSet is marked
`stable,active`, the new one `preview`), `status` (exit codes as for a canary),
`promote` (the active Service switches), `abort` / `retry`, `promote --full`, `undo`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.bluegreen_support import (
    apply,
    bluegreen_rollout,
    new_revision,
    selectors,
    services_for,
    wait_active,
    wait_status,
)
from tests.integration.support import running_controller

if TYPE_CHECKING:
    from tests.conftest import TestCluster

pytestmark = pytest.mark.integration

ROLLOUTS = Path(sys.executable).parent / "rollouts"
NAME = "demo"


class Cli:
    def __init__(self, cluster: TestCluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROLLOUTS), *args, "-n", self.namespace,
             "--kubeconfig", str(self.cluster.kubeconfig)],
            capture_output=True, text=True, check=False, timeout=60)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (result.stdout, result.stderr)
        return result.stdout

    def status(self, predicate: Any, what: str, timeout: float = 60) -> dict[str, Any]:
        return wait_status(self.cluster, self.namespace, NAME, predicate, what, timeout)


def paused_for_promotion(pod_hash: str) -> Any:
    def check(status: dict[str, Any]) -> bool:
        reasons = [c.get("reason") for c in status.get("pauseConditions") or []]
        return (status.get("phase") == "Paused" and "BlueGreenPause" in reasons
                and status.get("currentPodHash") == pod_hash
                and (status.get("blueGreen") or {}).get("previewSelector") == pod_hash)
    return check


def healthy_on(pod_hash: str) -> Any:
    def check(status: dict[str, Any]) -> bool:
        return (status.get("phase") == "Healthy" and status.get("stableRS") == pod_hash
                and (status.get("blueGreen") or {}).get("activeSelector") == pod_hash)
    return check


def replica_set_row(view: str, pod_hash: str) -> str:
    rows = [line for line in view.splitlines()
            if f"{NAME}-{pod_hash} " in line and "ReplicaSet" in line]
    assert len(rows) == 1, view
    return rows[0]


def set_image(cli: Cli, image: str) -> str:
    """`rollouts set image` and the new pod-template hash once the controller has it."""
    before = cli.status(lambda s: bool(s.get("currentPodHash")), "a pod hash")
    cli.ok("set", "image", NAME, f"app={image}")
    status = cli.status(lambda s: s.get("currentPodHash") not in (None,
                                                                  before["currentPodHash"]),
                        f"a new pod-template hash for {image}")
    return str(status["currentPodHash"])


@pytest.fixture
def cli(cluster: TestCluster, namespace: str, tmp_path: Path) -> Any:
    apply(cluster, namespace, *services_for(NAME),
          bluegreen_rollout(NAME, image="app:1", autoPromotionEnabled=False,
                            scaleDownDelaySeconds=5))
    with running_controller(cluster, namespace, tmp_path):
        yield Cli(cluster, namespace)


def test_get_status_and_promote_through_an_update(cli: Cli) -> None:
    first = str(cli.status(lambda s: s.get("phase") == "Healthy" and s.get("stableRS"),
                           "the first revision Healthy")["stableRS"])
    second = set_image(cli, "app:2")
    cli.status(paused_for_promotion(second), "BlueGreenPause")

    view = cli.ok("get", "rollout", NAME)
    assert "Strategy:        BlueGreen" in view
    assert "Status:          ॥ Paused" in view and "BlueGreenPause" in view
    assert "Images:          app:1 (stable, active)" in view
    assert "app:2 (preview)" in view
    assert "Step:" not in view and "SetWeight:" not in view
    assert "stable,active" in replica_set_row(view, first)
    assert "preview" in replica_set_row(view, second)
    assert "promote (`rollouts promote demo`)" in view

    status = cli.run("status", NAME)
    assert (status.returncode, status.stdout) == (0, "Paused - BlueGreenPause\n")
    assert cli.ok("list", "rollouts").splitlines()[1].split()[:5] == [
        NAME, "BlueGreen", "Paused", "-", "-"]

    assert selectors(cli.cluster, cli.namespace, NAME) == (first, second)
    assert cli.ok("promote", NAME) == "rollout 'demo' promoted\n"
    wait_active(cli.cluster, cli.namespace, f"{NAME}-active", second)
    cli.status(healthy_on(second), "Healthy on the promoted hash")

    view = cli.ok("get", "rollout", NAME)
    assert "stable,active" in replica_set_row(view, second)
    assert "Images:          app:2 (stable, active)" in view
    watched = cli.run("status", NAME, "--watch", "--timeout", "30s")
    assert watched.returncode == 0 and watched.stdout.startswith("Healthy"), watched
    assert cli.ok("promote", NAME, "--full") == (
        "rollout 'demo' is already fully promoted: nothing to promote\n")


def test_abort_retry_full_promotion_and_undo(cli: Cli) -> None:
    first = str(cli.status(lambda s: s.get("phase") == "Healthy" and s.get("stableRS"),
                           "the first revision Healthy")["stableRS"])
    second = set_image(cli, "app:2")
    cli.status(paused_for_promotion(second), "BlueGreenPause")

    assert cli.ok("abort", NAME) == "rollout 'demo' aborted\n"
    aborted = cli.status(lambda s: s.get("phase") == "Degraded" and s.get("abort") is True,
                         "Degraded after abort")
    assert str(aborted.get("message", "")).startswith("RolloutAborted")
    assert selectors(cli.cluster, cli.namespace, NAME)[0] == first, "active stays on stable"
    failed = cli.run("status", NAME)
    assert failed.returncode == 1 and failed.stdout.startswith("Degraded - RolloutAborted")
    assert "rollouts retry rollout demo" in cli.ok("get", "rollout", NAME)

    assert cli.ok("retry", "rollout", NAME) == "rollout 'demo' retried\n"
    cli.status(paused_for_promotion(second), "BlueGreenPause again after retry")

    assert cli.ok("promote", NAME, "--full") == "rollout 'demo' fully promoted\n"
    wait_active(cli.cluster, cli.namespace, f"{NAME}-active", second)
    cli.status(healthy_on(second), "Healthy after promote --full")

    # undo: back to the first revision's template, which the controller recognises
    # (same pod hash). Within the old set's scale-down delay that is a fast rollback (no
    # pause, as in Argo); after it, the set is previewed and waits for promotion.
    assert cli.ok("undo", NAME) == "rollout 'demo' rolled back to revision 1\n"
    paused_first, healthy_first = paused_for_promotion(first), healthy_on(first)
    back = cli.status(lambda s: paused_first(s) or healthy_first(s),
                      "the first revision paused for promotion or Healthy again")
    if back.get("phase") == "Paused":
        cli.ok("promote", NAME)
    wait_active(cli.cluster, cli.namespace, f"{NAME}-active", first)
    cli.status(healthy_on(first), "Healthy on the first revision again")


def test_undo_during_the_preview_returns_to_the_active_revision(cli: Cli) -> None:
    """Undo while paused for promotion puts back the active (stable) template: the
    controller knows its hash, so nothing is previewed and the rollout is Healthy."""
    first = str(cli.status(lambda s: s.get("phase") == "Healthy" and s.get("stableRS"),
                           "the first revision Healthy")["stableRS"])
    second = new_revision(cli.cluster, cli.namespace, NAME, "app:3")
    cli.status(paused_for_promotion(second), "BlueGreenPause")
    assert cli.ok("undo", NAME) == "rollout 'demo' rolled back to revision 1\n"
    cli.status(lambda s: s.get("currentPodHash") == first and s.get("phase") == "Healthy",
               "Healthy on the first revision after undo")
    assert selectors(cli.cluster, cli.namespace, NAME)[0] == first
    assert set_image(cli, "app:3") == second, "the same template gives the same hash"
