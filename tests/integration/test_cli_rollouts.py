"""The Rollout commands against the real local control plane (no controller running).

Each control is a patch: the tests run the installed `rollouts` command as a user would
(exit codes and stderr included) and then read the Rollout back from the API server.
Statuses the controller would write are patched in by hand through the status
subresource, as `kubectl patch --subresource=status` does.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from rollouts.core.observed import pod_template_hash

if TYPE_CHECKING:
    from tests.conftest import TestCluster

pytestmark = pytest.mark.integration

ROLLOUTS = Path(sys.executable).parent / "rollouts"
STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}]


def rollout_manifest(name: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "initContainers": [{"name": "setup", "image": "busybox:1"}],
                "containers": [{"name": "app", "image": "demo:blue"},
                               {"name": "proxy", "image": "envoy:1"}]}},
            "strategy": {"canary": {"steps": STEPS}},
        },
    }


class Cli:
    """The cluster, one namespace in it, and the `rollouts` command pointed at both."""

    def __init__(self, cluster: TestCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def run(self, *args: str, kubeconfig: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROLLOUTS), *args, "-n", self.namespace,
             "--kubeconfig", str(kubeconfig or self.cluster.kubeconfig)],
            capture_output=True, text=True, check=False, timeout=timeout)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = self.cluster.kubectl_run("create", "-n", self.namespace, "-o", "json", "-f", "-",
                                       input=json.dumps(obj)).stdout
        created: dict[str, Any] = json.loads(out)
        return created

    def get(self, kind: str = "rollout", name: str = "demo") -> dict[str, Any]:
        out = self.cluster.kubectl_run("get", kind, name, "-n", self.namespace,
                                       "-o", "json").stdout
        found: dict[str, Any] = json.loads(out)
        return found

    def patch_status(self, status: dict[str, Any], kind: str = "rollout",
                     name: str = "demo") -> None:
        self.cluster.kubectl_run("patch", kind, name, "-n", self.namespace,
                                 "--subresource=status", "--type=merge",
                                 "-p", json.dumps({"status": status}))


@pytest.fixture
def cli(cluster: TestCluster, namespace: str) -> Cli:
    return Cli(cluster, namespace)


@pytest.fixture
def demo(cli: Cli) -> dict[str, Any]:
    return cli.create(rollout_manifest())


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


class TestPromote:
    def test_promote_clears_the_controllers_pause(self, cli: Cli, demo: dict[str, Any]) -> None:
        cli.patch_status({"currentStepIndex": 1, "controllerPause": True, "pauseConditions": [
            {"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]})
        assert cli.ok("promote", "demo") == "rollout 'demo' promoted\n"
        status = cli.get()["status"]
        assert "pauseConditions" not in status
        assert status["currentStepIndex"] == 1, "the controller moves the step, not the CLI"

    def test_promote_skips_a_step_that_is_not_a_pause(self, cli: Cli,
                                                      demo: dict[str, Any]) -> None:
        cli.patch_status({"currentStepIndex": 2})
        cli.ok("promote", "demo")
        assert cli.get()["status"]["currentStepIndex"] == 3

    def test_promote_resumes_a_rollout_paused_by_hand(self, cli: Cli,
                                                      demo: dict[str, Any]) -> None:
        assert cli.ok("pause", "demo") == "rollout 'demo' paused\n"
        assert cli.get()["spec"]["paused"] is True
        cli.ok("promote", "demo")
        assert cli.get()["spec"]["paused"] is False

    def test_promote_full(self, cli: Cli, demo: dict[str, Any]) -> None:
        assert cli.ok("promote", "demo", "--full") == "rollout 'demo' fully promoted\n"
        assert cli.get()["status"]["promoteFull"] is True


def test_abort_then_retry_both_spellings(cli: Cli, demo: dict[str, Any]) -> None:
    assert cli.ok("abort", "demo") == "rollout 'demo' aborted\n"
    assert cli.get()["status"]["abort"] is True
    assert cli.ok("retry", "rollout", "demo") == "rollout 'demo' retried\n"
    assert cli.get()["status"]["abort"] is False
    cli.ok("abort", "demo")
    cli.ok("retry", "demo")
    assert cli.get()["status"]["abort"] is False


def test_restart_sets_restart_at_to_now(cli: Cli, demo: dict[str, Any]) -> None:
    cli.ok("restart", "demo")
    restart_at = cli.get()["spec"]["restartAt"]
    assert restart_at.endswith("Z") and len(restart_at) == len("2026-01-01T00:00:00Z")


class TestSetImage:
    def test_one_container(self, cli: Cli, demo: dict[str, Any]) -> None:
        assert cli.ok("set", "image", "demo", "app=demo:green") == (
            "rollout 'demo' image updated\n")
        pod_spec = cli.get()["spec"]["template"]["spec"]
        assert [c["image"] for c in pod_spec["containers"]] == ["demo:green", "envoy:1"]
        assert pod_spec["initContainers"][0]["image"] == "busybox:1"

    def test_star_sets_every_container(self, cli: Cli, demo: dict[str, Any]) -> None:
        cli.ok("set", "image", "demo", "*=all:2")
        pod_spec = cli.get()["spec"]["template"]["spec"]
        images = [c["image"] for c in pod_spec["initContainers"] + pod_spec["containers"]]
        assert images == ["all:2", "all:2", "all:2"]

    def test_an_unknown_container_is_one_line_naming_the_real_ones(
            self, cli: Cli, demo: dict[str, Any]) -> None:
        line = one_line_error(cli.run("set", "image", "demo", "web=x:1"))
        assert line == ("error: rollout 'demo' has no container 'web'; its containers: "
                        "app, proxy (init: setup)")

    def test_bad_syntax(self, cli: Cli, demo: dict[str, Any]) -> None:
        assert "bad CONTAINER=IMAGE 'x'" in one_line_error(cli.run("set", "image", "demo", "x"))


def replica_set(rollout: dict[str, Any], revision: int, pod_hash: str,
                image: str) -> dict[str, Any]:
    name = rollout["metadata"]["name"]
    labels = {"app": name, "rollouts-pod-template-hash": pod_hash}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{pod_hash}", "labels": labels,
            "annotations": {"rollout.argoproj.io/revision": str(revision)},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                 "name": name, "uid": rollout["metadata"]["uid"],
                                 "controller": True}],
        },
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    }


class TestUndo:
    def test_undo_restores_the_previous_revisions_template(self, cli: Cli,
                                                           demo: dict[str, Any]) -> None:
        cli.create(replica_set(demo, 1, "oldhash", "demo:old"))
        cli.create(replica_set(demo, 2, "curhash", "demo:blue"))
        cli.patch_status({"currentPodHash": "curhash"})
        assert cli.ok("undo", "demo") == "rollout 'demo' rolled back to revision 1\n"
        template = cli.get()["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == "demo:old"
        assert template["metadata"]["labels"] == {"app": "demo"}

    def test_undo_recovers_the_template_as_written_so_the_hash_matches_again(
            self, cli: Cli, demo: dict[str, Any]) -> None:
        written = copy.deepcopy(demo["spec"]["template"])
        written["spec"]["containers"][0]["image"] = "demo:old"
        pod_hash = pod_template_hash(written)
        stored = replica_set(demo, 1, pod_hash, "unused")
        stored["spec"]["template"] = copy.deepcopy(written)  # the API server adds defaults
        stored["spec"]["template"]["metadata"]["labels"]["rollouts-pod-template-hash"] = pod_hash
        cli.create(stored)
        cli.create(replica_set(demo, 2, "curhash", "demo:blue"))
        cli.patch_status({"currentPodHash": "curhash"})
        cli.ok("undo", "demo")
        template = cli.get()["spec"]["template"]
        assert template == written
        assert pod_template_hash(template) == pod_hash

    def test_an_unknown_revision_lists_the_existing_ones(self, cli: Cli,
                                                         demo: dict[str, Any]) -> None:
        cli.create(replica_set(demo, 1, "oldhash", "demo:old"))
        cli.create(replica_set(demo, 2, "curhash", "demo:blue"))
        line = one_line_error(cli.run("undo", "demo", "--to-revision", "7"))
        assert line == "error: rollout 'demo' has no revision 7; its revisions: 1, 2"


class TestStatus:
    def observed(self, cli: Cli, **status: Any) -> None:
        generation = cli.get()["metadata"]["generation"]
        cli.patch_status({"observedGeneration": str(generation), **status})

    def test_exit_codes_without_watch(self, cli: Cli, demo: dict[str, Any]) -> None:
        self.observed(cli, phase="Healthy", message="")
        healthy = cli.run("status", "demo")
        assert (healthy.returncode, healthy.stdout) == (0, "Healthy\n")
        self.observed(cli, phase="Paused", message="CanaryPauseStep", currentStepIndex=1)
        paused = cli.run("status", "demo")
        assert (paused.returncode, paused.stdout) == (0, "Paused - CanaryPauseStep (step 1/4)\n")
        self.observed(cli, phase="Degraded", message="RolloutAborted: by hand")
        degraded = cli.run("status", "demo")
        assert (degraded.returncode, degraded.stdout.strip()) == (
            1, "Degraded - RolloutAborted: by hand (step 1/4)")

    def test_watch_ends_at_degraded(self, cli: Cli, demo: dict[str, Any]) -> None:
        self.observed(cli, phase="Degraded", message="ProgressDeadlineExceeded")
        assert cli.run("status", "demo", "--watch").returncode == 1

    def test_watch_times_out_on_a_rollout_the_controller_never_saw(
            self, cli: Cli, demo: dict[str, Any]) -> None:
        result = cli.run("status", "demo", "--watch", "--timeout", "2s")
        assert result.stdout.startswith("Progressing - waiting for the controller")
        assert "timed out after 2s waiting for rollout 'demo'" in one_line_error(result)

    def test_bad_timeout(self, cli: Cli, demo: dict[str, Any]) -> None:
        assert "bad --timeout '2 weeks'" in one_line_error(
            cli.run("status", "demo", "-w", "--timeout", "2 weeks"))


class TestErrors:
    def test_unknown_rollout(self, cli: Cli) -> None:
        for command in (["promote", "nope"], ["status", "nope"], ["get", "rollout", "nope"],
                        ["set", "image", "nope", "a=b"], ["undo", "nope"]):
            assert one_line_error(cli.run(*command)) == (
                f"error: rollout 'nope' not found in namespace '{cli.namespace}'; list them "
                f"with `rollouts list rollouts -n {cli.namespace}`")

    def test_api_server_down(self, cli: Cli, tmp_path: Path) -> None:
        config = yaml.safe_load(cli.cluster.kubeconfig.read_text())
        for entry in config["clusters"]:
            entry["cluster"]["server"] = "https://127.0.0.1:1"
        down = tmp_path / "down.yaml"
        down.write_text(yaml.safe_dump(config))
        line = one_line_error(cli.run("status", "demo", kubeconfig=down))
        assert line == ("error: cannot reach the API server at https://127.0.0.1:1: "
                        "connection refused; is the cluster up? (`rollouts dev up`)")

    def test_rbac_denial(self, cli: Cli, demo: dict[str, Any], tmp_path: Path) -> None:
        cli.cluster.kubectl_run("create", "serviceaccount", "viewer", "-n", cli.namespace)
        cli.cluster.kubectl_run("create", "role", "read-rollouts", "-n", cli.namespace,
                                "--verb=get,list", "--resource=rollouts.argoproj.io")
        cli.cluster.kubectl_run("create", "rolebinding", "viewer", "-n", cli.namespace,
                                "--role=read-rollouts", f"--serviceaccount={cli.namespace}:viewer")
        token = cli.cluster.kubectl_run("create", "token", "viewer", "-n", cli.namespace,
                                        check=False)
        # The dev cluster always signs service account tokens: no token is a failure.
        assert token.returncode == 0, token.stderr
        config = yaml.safe_load(cli.cluster.kubeconfig.read_text())
        for entry in config["users"]:
            entry["user"] = {"token": token.stdout.strip()}
        viewer = tmp_path / "viewer.yaml"
        viewer.write_text(yaml.safe_dump(config))
        assert cli.run("status", "demo", kubeconfig=viewer).returncode == 0
        line = one_line_error(cli.run("abort", "demo", kubeconfig=viewer))
        assert line.startswith(f"error: not allowed to patch the status of rollout 'demo' in "
                               f"namespace '{cli.namespace}': RBAC denied it")


def analysis_run(rollout: dict[str, Any], pod_hash: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": f"demo-{pod_hash}-2-2",
                     "labels": {"rollouts-pod-template-hash": pod_hash},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1",
                                          "kind": "Rollout", "name": "demo",
                                          "uid": rollout["metadata"]["uid"]}]},
        "spec": {"metrics": [{"name": "success-rate",
                              "provider": {"web": {"url": "http://example.invalid"}}}]},
    }


class TestViews:
    def test_get_rollout_renders_the_tree(self, cli: Cli, demo: dict[str, Any]) -> None:
        cli.create(replica_set(demo, 1, "oldhash", "demo:old"))
        cli.create(replica_set(demo, 2, "curhash", "demo:blue"))
        cli.create(analysis_run(demo, "curhash"))
        cli.patch_status({"phase": "Running", "metricResults": [
            {"name": "success-rate", "phase": "Running", "successful": 2, "failed": 1,
             "measurements": [{"phase": "Successful", "value": "0.97"}]}]},
            kind="analysisrun", name="demo-curhash-2-2")
        self_status = {"observedGeneration": str(demo["metadata"]["generation"]),
                       "phase": "Paused", "message": "CanaryPauseStep", "currentStepIndex": 1,
                       "stableRS": "oldhash", "currentPodHash": "curhash",
                       "pauseConditions": [{"reason": "CanaryPauseStep",
                                            "startTime": "2026-01-01T00:00:00Z"}]}
        cli.patch_status(self_status)
        out = cli.ok("get", "rollout", "demo")
        print(out)
        assert "Status:          ॥ Paused   (CanaryPauseStep)" in out
        assert "Waiting for:     promote (`rollouts promote demo`)" in out
        assert "demo:old (stable)" in out and "demo:blue (canary)" in out
        assert "├──# revision:2" in out and "└──# revision:1" in out
        assert "✔ 2 ✖ 1  (last: success-rate=0.97)" in out
        assert json.loads(cli.ok("get", "ro", "demo", "-o", "json"))["metadata"]["name"] == "demo"

    def test_list_rollouts(self, cli: Cli, demo: dict[str, Any]) -> None:
        lines = cli.ok("list", "rollouts").splitlines()
        assert lines[0].split()[:3] == ["NAME", "STRATEGY", "STATUS"]
        assert lines[1].split()[:2] == ["demo", "Canary"]
        everywhere = cli.ok("list", "ro", "-A").splitlines()
        assert everywhere[0].startswith("NAMESPACE")
        assert any(line.split()[:2] == [cli.namespace, "demo"] for line in everywhere)
        listed = yaml.safe_load(cli.ok("list", "rollouts", "-o", "yaml"))
        assert [item["metadata"]["name"] for item in listed["items"]] == ["demo"]
