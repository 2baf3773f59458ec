"""`rollouts app ...` against the real local control plane, with no controller running.

Applications are created by hand and their status is patched in through the status
subresource, as the controller would write it. A sync is a request in `.operation`: the
tests play the controller's part of the contract (record `status.operationState`, remove
`operation`) while the CLI waits. `app diff` needs no controller: it fetches a real Git
repository served by `git daemon` and compares with what the API server holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.integration.gitserver import GitDaemon, GitHttpServer, TestRepo

if TYPE_CHECKING:
    from tests.conftest import TestCluster

pytestmark = pytest.mark.integration

ROLLOUTS = Path(sys.executable).parent / "rollouts"
SHA_1, SHA_2 = "1" * 40, "2" * 40
TRACKING = "argocd.argoproj.io/tracking-id"


def application(name: str = "shop", *, repo: str = "https://robot:s3cr3t@git.example.com/shop",
                destination: str = "shop", automated: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": "default",
        "source": {"repoURL": repo, "path": "web", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": destination},
    }
    if automated:
        spec["syncPolicy"] = {"automated": {"prune": True}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name}, "spec": spec}


class Cli:
    """The cluster, one namespace in it, and the `rollouts` command pointed at both."""

    def __init__(self, cluster: TestCluster, namespace: str, cache: Path) -> None:
        self.cluster, self.namespace = cluster, namespace
        # Git clones of `app diff` go to the test's own cache, not the user's.
        self.env = {**os.environ, "ROLLOUTS_CACHE": str(cache)}

    def argv(self, *args: str) -> list[str]:
        return [str(ROLLOUTS), "app", *args, "-n", self.namespace,
                "--kubeconfig", str(self.cluster.kubeconfig)]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, check=False,
                              timeout=timeout, env=self.env)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (result.stdout, result.stderr)
        return result.stdout

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.cluster.kubectl_run(*args, "-n", self.namespace, input=input).stdout

    def create(self, obj: dict[str, Any]) -> None:
        self.kubectl("create", "-f", "-", input=json.dumps(obj))

    def get(self, name: str = "shop") -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.kubectl("get", "application", name, "-o", "json"))
        return found

    def patch_status(self, status: dict[str, Any], name: str = "shop") -> None:
        self.kubectl("patch", "application", name, "--subresource=status", "--type=merge",
                     "-p", json.dumps({"status": status}))


@pytest.fixture
def cli(cluster: TestCluster, namespace: str, tmp_path: Path) -> Cli:
    return Cli(cluster, namespace, tmp_path / "cache")


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: "), lines
    return lines[0]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_for_operation(cli: Cli, name: str = "shop", timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app = cli.get(name)
        if app.get("operation"):
            return app
        time.sleep(0.2)
    raise AssertionError("the CLI never set .operation")


SYNCED = {"sync": {"status": "Synced", "revision": SHA_2}, "health": {"status": "Healthy"}}
RESOURCES = [
    {"version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "settings",
     "status": "Synced", "health": {"status": "Healthy"}},
    {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop",
     "name": "web", "status": "OutOfSync", "health": {"status": "Progressing"}},
]
HISTORY = [{"id": 1, "revision": SHA_1, "deployedAt": "2026-01-01T09:00:00Z",
            "source": {"repoURL": "https://git.example.com/shop", "path": "web",
                       "targetRevision": "main"}},
           {"id": 2, "revision": SHA_2, "deployedAt": "2026-01-01T10:00:00Z"}]


class TestShow:
    def test_list_get_and_history_render_what_the_controller_recorded(self, cli: Cli) -> None:
        cli.create(application())
        cli.create(application("blog"))
        cli.patch_status({**SYNCED, "resources": RESOURCES, "history": HISTORY,
                          "conditions": [{"type": "SyncError", "message": "boom"}],
                          "operationState": {"phase": "Succeeded", "message": "all done",
                                             "startedAt": "2026-01-01T10:00:00Z",
                                             "finishedAt": "2026-01-01T10:00:03Z"}})

        rows = [line.split() for line in cli.ok("list").splitlines()]
        assert rows[1] == ["blog", "Unknown", "Unknown", "-", "https://git.example.com/shop",
                           "web", "main"]
        assert rows[2] == ["shop", "Synced", "Healthy", "2222222",
                           "https://git.example.com/shop", "web", "main"]
        everywhere = cli.ok("list", "-A")
        assert everywhere.startswith("NAMESPACE") and cli.namespace in everywhere
        assert "s3cr3t" not in everywhere
        listed = json.loads(cli.ok("list", "-o", "json"))
        assert [item["metadata"]["name"] for item in listed["items"]] == ["blog", "shop"]

        shown = cli.ok("get", "shop")
        assert "Sync Status:        Synced to main (2222222)" in shown
        assert "Health Status:      Healthy" in shown
        assert "Last Operation:     Succeeded: all done" in shown
        assert "- SyncError: boom" in shown
        assert "apps   Deployment  shop       web       OutOfSync  Progressing" in shown
        assert "s3cr3t" not in shown

        assert cli.ok("history", "shop").splitlines() == [
            "ID  DATE                  REVISION",
            "1   2026-01-01T09:00:00Z  main (1111111)",
            "2   2026-01-01T10:00:00Z  2222222"]

    def test_an_unknown_application_is_one_line(self, cli: Cli) -> None:
        for command in ("get", "history", "sync", "rollback", "wait"):
            line = one_line_error(cli.run(command, "nope"))
            assert f"application 'nope' not found in namespace '{cli.namespace}'" in line
        assert "not found" in one_line_error(cli.run("diff", "nope"), code=2)
        assert cli.run("list").stderr.startswith("No applications found")


class TestWait:
    def test_synced_and_healthy_returns_at_once(self, cli: Cli) -> None:
        cli.create(application())
        cli.patch_status(SYNCED)
        assert cli.ok("wait", "shop") == "sync Synced to main (2222222), health Healthy\n"

    def test_a_timeout_is_exit_1_with_the_last_status(self, cli: Cli) -> None:
        cli.create(application())
        cli.patch_status({"sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"}})
        line = one_line_error(cli.run("wait", "shop", "--timeout", "2s"))
        assert "timed out after 2s waiting for application 'shop' to be Synced" in line
        assert "(last: sync OutOfSync, health Healthy)" in line
        assert cli.ok("wait", "shop", "--health").endswith("health Healthy\n")

    def test_waits_until_the_status_changes(self, cli: Cli) -> None:
        cli.create(application())
        cli.patch_status({"sync": {"status": "OutOfSync"}, "health": {"status": "Missing"}})
        waiting = cli.start("wait", "shop", "--timeout", "30s")
        assert waiting.stdout is not None
        assert waiting.stdout.readline() == "sync OutOfSync, health Missing\n"
        time.sleep(1.5)
        assert waiting.poll() is None
        cli.patch_status(SYNCED)
        out, err = waiting.communicate(timeout=20)
        assert waiting.returncode == 0, err
        assert out == "sync Synced to main (2222222), health Healthy\n"


class TestSync:
    def test_async_sets_the_operation_and_a_second_sync_is_refused(self, cli: Cli) -> None:
        cli.create(application())
        out = cli.ok("sync", "shop", "--async", "--prune", "--revision", "v2")
        assert out == "sync of application 'shop' requested (revision v2)\n"
        assert cli.get()["operation"] == {
            "sync": {"revision": "v2", "prune": True, "dryRun": False},
            "initiatedBy": {"username": "rollouts-cli"}}
        line = one_line_error(cli.run("sync", "shop", "--async"))
        assert "another operation is already in progress on application 'shop'" in line
        assert "--type=json" in line, "says how to drop a request nobody picks up"

    def test_waits_for_the_controllers_answer_and_prints_it(self, cli: Cli) -> None:
        cli.create(application())
        cli.patch_status({"operationState": {"phase": "Succeeded", "message": "an old sync",
                                             "startedAt": "2026-01-01T10:00:00Z",
                                             "finishedAt": "2026-01-01T10:00:03Z"}})
        syncing = cli.start("sync", "shop", "--timeout", "30s")
        assert syncing.stdout is not None
        assert syncing.stdout.readline() == "sync of application 'shop' requested\n"
        wait_for_operation(cli)
        time.sleep(1.5)
        assert syncing.poll() is None, "the old operationState is not the answer"
        # The controller's part: record that it runs, how it went, then remove the request.
        cli.patch_status({"operationState": {"phase": "Running", "message": "applying",
                                             "startedAt": now()}})
        assert syncing.stdout.readline() == "Running: applying\n"
        cli.patch_status({**SYNCED, "resources": RESOURCES, "operationState": {
            "phase": "Succeeded", "message": "successfully synced (all tasks run)",
            "startedAt": now(), "finishedAt": now(),
            "syncResult": {"revision": SHA_2, "resources": [
                {"version": "v1", "kind": "ConfigMap", "namespace": "shop",
                 "name": "settings", "status": "Synced", "message": "configmap created"}]}}})
        cli.kubectl("patch", "application", "shop", "--type=json",
                    "-p", '[{"op": "remove", "path": "/operation"}]')
        out, err = syncing.communicate(timeout=20)
        assert syncing.returncode == 0, err
        assert "Phase:              Succeeded" in out
        assert "Message:            successfully synced (all tasks run)" in out
        assert "ConfigMap  shop       settings  Synced  Healthy        configmap created" in out

    def test_a_failed_sync_is_exit_1(self, cli: Cli) -> None:
        cli.create(application())
        syncing = cli.start("sync", "shop", "--timeout", "30s")
        wait_for_operation(cli)
        cli.patch_status({"operationState": {"phase": "Failed", "message": "one object failed",
                                             "startedAt": now(), "finishedAt": now()}})
        cli.kubectl("patch", "application", "shop", "--type=json",
                    "-p", '[{"op": "remove", "path": "/operation"}]')
        out, err = syncing.communicate(timeout=20)
        assert syncing.returncode == 1
        assert "Phase:              Failed" in out
        assert err.strip() == "error: sync of application 'shop' Failed: one object failed"

    def test_without_a_controller_the_wait_times_out(self, cli: Cli) -> None:
        cli.create(application())
        line = one_line_error(cli.run("sync", "shop", "--timeout", "2s"))
        assert "timed out after 2s waiting for the sync of application 'shop'" in line
        assert "not picked up by a controller yet" in line
        assert "operation" in cli.get(), "the request stays for a controller to run"


class TestRollback:
    def test_refused_while_automated_sync_is_on(self, cli: Cli) -> None:
        cli.create(application(automated=True))
        cli.patch_status({"history": HISTORY})
        line = one_line_error(cli.run("rollback", "shop", "1", "--async"))
        assert "automated sync enabled" in line and "disable it first" in line
        assert "operation" not in cli.get()

    def test_goes_to_the_previous_history_entry(self, cli: Cli) -> None:
        cli.create(application())
        cli.patch_status({"history": HISTORY})
        out = cli.ok("rollback", "shop", "--async")
        assert out == f"rollback of application 'shop' requested (revision {SHA_1})\n"
        sync = cli.get()["operation"]["sync"]
        assert sync["revision"] == SHA_1
        assert sync["source"]["targetRevision"] == "main"


# --- diff against a real Git repository ------------------------------------------------------

CONFIG_MAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: nginx:1.25
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    with GitDaemon(tmp_path / "git") as server:
        yield server


@pytest.fixture
def repo(daemon: GitDaemon) -> TestRepo:
    return daemon.create_repo("apps", {"web/configmap.yaml": CONFIG_MAP,
                                       "web/deployment.yaml": DEPLOYMENT})


def apply_as_the_sync_does(cli: Cli, manifest: str) -> None:
    """Server-side apply with our field manager, namespace and tracking annotation set."""
    doc = yaml.safe_load(manifest)
    group = doc["apiVersion"].rpartition("/")[0]
    name = doc["metadata"]["name"]
    doc["metadata"]["namespace"] = cli.namespace
    doc["metadata"]["annotations"] = {
        TRACKING: f"shop:{group}/{doc['kind']}:{cli.namespace}/{name}"}
    cli.kubectl("apply", "--server-side", "--field-manager=rollouts-reconciler", "-f", "-",
                input=json.dumps(doc))


class TestDiff:
    def test_new_then_in_sync_then_drift_names_the_image(
        self, cli: Cli, daemon: GitDaemon, repo: TestRepo
    ) -> None:
        cli.create(application(repo=daemon.url("apps"), destination=cli.namespace))
        ns = cli.namespace

        before = cli.run("diff", "shop")
        assert before.returncode == 1, before.stderr
        assert f"===== /ConfigMap {ns}/settings ======" in before.stdout
        assert f"===== apps/Deployment {ns}/web ======" in before.stdout
        assert "+kind: ConfigMap" in before.stdout and "+      - image: nginx:1.25" in before.stdout
        assert f"+    {TRACKING}: shop:/ConfigMap:{ns}/settings" in before.stdout
        assert before.stderr.strip().endswith("2 new, 0 changed, 0 to prune")

        apply_as_the_sync_does(cli, CONFIG_MAP)
        apply_as_the_sync_does(cli, DEPLOYMENT)
        synced = cli.run("diff", "shop")
        assert synced.returncode == 0, (synced.stdout, synced.stderr)
        assert synced.stdout == ""
        assert synced.stderr.strip() == (f"application 'shop' is in sync with {daemon.url('apps')}"
                                         f" at main ({repo.head()[:7]})")

        cli.kubectl("patch", "deployment", "web", "-p", json.dumps(
            {"spec": {"template": {"spec": {"containers": [{"name": "main",
                                                            "image": "nginx:9"}]}}}}))
        drift = cli.run("diff", "shop")
        assert drift.returncode == 1, drift.stderr
        assert f"===== apps/Deployment {ns}/web ======" in drift.stdout
        assert "ConfigMap" not in drift.stdout
        assert "-      - image: nginx:9" in drift.stdout
        assert "+      - image: nginx:1.25" in drift.stdout
        assert drift.stderr.strip().endswith("0 new, 1 changed, 0 to prune")

        cli.kubectl("patch", "application", "shop", "--type=merge", "-p", json.dumps(
            {"spec": {"ignoreDifferences": [{"group": "apps", "kind": "Deployment",
                                             "jqPathExpressions": [
                                                 ".spec.template.spec.containers[].image"]}]}}))
        assert cli.run("diff", "shop").returncode == 0, "the app's ignoreDifferences apply"

    def test_an_object_that_left_git_would_be_pruned_and_revision_picks_the_commit(
        self, cli: Cli, daemon: GitDaemon, repo: TestRepo
    ) -> None:
        cli.create(application(repo=daemon.url("apps"), destination=cli.namespace))
        first = repo.head()
        apply_as_the_sync_does(cli, CONFIG_MAP)
        apply_as_the_sync_does(cli, DEPLOYMENT)
        repo.commit({"web/configmap.yaml": None}, "drop the settings")
        # The controller records what it tracks; the diff looks there for leftovers.
        cli.patch_status({"resources": [{"version": "v1", "kind": "ConfigMap",
                                         "namespace": cli.namespace, "name": "settings"}]})

        gone = cli.run("diff", "shop")
        assert gone.returncode == 1, gone.stderr
        assert f"===== /ConfigMap {cli.namespace}/settings ======" in gone.stdout
        assert "-kind: ConfigMap" in gone.stdout and "-  greeting: hello" in gone.stdout
        assert "Deployment" not in gone.stdout
        assert gone.stderr.strip().endswith("0 new, 0 changed, 1 to prune")

        assert cli.run("diff", "shop", "--revision", first[:10]).returncode == 0

    def test_git_and_render_failures_are_exit_2_in_one_line(
        self, cli: Cli, daemon: GitDaemon, repo: TestRepo
    ) -> None:
        cli.create(application("missing-repo", repo=daemon.url("nothing-here")))
        line = one_line_error(cli.run("diff", "missing-repo"), code=2)
        assert "cannot fetch the source of application 'missing-repo'" in line
        assert f"{daemon.url('nothing-here')}: fatal: remote error: no such repository" in line

        cli.create(application(repo=daemon.url("apps")))
        line = one_line_error(cli.run("diff", "shop", "--revision", "no-such-branch"), code=2)
        assert "revision 'no-such-branch' not found" in line

        broken = application("broken", repo=daemon.url("apps"))
        broken["spec"]["source"]["path"] = "nowhere"
        cli.create(broken)
        line = one_line_error(cli.run("diff", "broken"), code=2)
        assert "cannot render application 'broken'" in line and "'nowhere' does not exist" in line

    def test_a_private_repository_takes_its_credentials_from_the_repository_secret(
        self, cli: Cli, tmp_path: Path
    ) -> None:
        with GitHttpServer(tmp_path / "http", "deploy", "t0ken-xyz") as server:
            server.create_repo("apps", {"web/configmap.yaml": CONFIG_MAP})
            cli.create(application(repo=server.url("apps"), destination=cli.namespace))

            refused = one_line_error(cli.run("diff", "shop"), code=2)
            assert "cannot fetch the source of application 'shop'" in refused
            assert "check the credentials" in refused

            cli.create({"apiVersion": "v1", "kind": "Secret", "metadata": {
                "name": "shop-repo", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
                "stringData": {"url": server.url("apps") + ".git", "username": "deploy",
                               "password": "t0ken-xyz"}})
            found = cli.run("diff", "shop")
            assert found.returncode == 1, found.stderr
            assert f"===== /ConfigMap {cli.namespace}/settings ======" in found.stdout
            assert "t0ken-xyz" not in found.stdout + found.stderr
