"""What the Application controller never does, and how it fails: pruning only what left
Git, never on an empty render, a render or Git error, failed hooks (with SyncFail hooks and
retries); plus requested syncs and rollbacks, and private repositories.

Same real parts as `test_reconciler_apps.py`: the control plane, `git daemon` (or smart
HTTP with basic auth), and the controller as a process.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon, GitHttpServer
from tests.integration.reconciler_support import (
    APPS,
    GUESTBOOK_IMAGE,
    app_status,
    application,
    apply,
    compat_repo,
    conditions_of,
    daemon,
    guestbook_with,
    image_of,
    running_reconciler,
    wait_app,
)
from tests.integration.support import get, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest


# -- pruning and safety -------------------------------------------------------------------

EXTRA = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: '1'\n"


def test_pruning_and_what_never_changes_the_cluster(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    repo.commit({"guestbook/extra.yaml": EXTRA}, "an extra object")
    apply(cluster, namespace, application("guestbook", daemon.url("apps"), "guestbook",
                                          namespace))

    def uids() -> dict[str, str]:
        return {kind: get(cluster, namespace, kind, "guestbook-ui")["metadata"]["uid"]
                for kind in ("deployment", "service")}

    def versions() -> list[str]:
        return [get(cluster, namespace, kind, "guestbook-ui")["metadata"]["resourceVersion"]
                for kind in ("deployment", "service")]

    elsewhere = application("elsewhere", daemon.url("apps"), "guestbook", namespace)
    elsewhere["spec"]["destination"]["server"] = "https://other-cluster.example.com"
    apply(cluster, namespace, elsewhere)
    with running_reconciler(cluster, namespace, tmp_path, resync=2):
        wait_app(cluster, namespace, "guestbook", revision=repo.head())
        before = uids()
        # Another cluster is not ours to deploy to: a condition, and nothing else.
        status = wait_app(cluster, namespace, "elsewhere", sync="Unknown", health=None,
                          check=lambda s: "InvalidSpecError" in conditions_of(s))
        assert "has not been configured" in conditions_of(status)["InvalidSpecError"]
        assert "operationState" not in status

        # Removing a file prunes exactly that object.
        sha = repo.commit({"guestbook/extra.yaml": None}, "drop the extra object")
        status = wait_app(cluster, namespace, "guestbook", revision=sha, timeout=20,
                          check=lambda s: len(s["resources"]) == 2)
        assert cluster.kubectl_run("get", "configmap", "extra", "-n", namespace,
                                   check=False).returncode != 0
        assert uids() == before
        pruned = [(r["kind"], r["name"], r["status"]) for r in
                  status["operationState"]["syncResult"]["resources"] if r["status"] == "Pruned"]
        assert pruned == [("ConfigMap", "extra", "Pruned")]

        # An empty render prunes nothing (no allowEmpty), and the status says why.
        sha = repo.commit({"guestbook/guestbook-ui-deployment.yaml": None,
                           "guestbook/guestbook-ui-svc.yaml": None,
                           "guestbook/README.md": "nothing to deploy"}, "empty")
        status = wait_app(cluster, namespace, "guestbook", revision=sha, sync="OutOfSync",
                          health=None, timeout=20,
                          check=lambda s: "empty render" in conditions_of(s).get("SyncError", ""))
        assert all(r.get("requiresPruning") for r in status["resources"])
        time.sleep(2)
        assert uids() == before
        stable = versions()

        # Broken YAML: nothing is applied or pruned, and the condition says which file.
        text = (APPS / "guestbook" / "guestbook-ui-deployment.yaml").read_text()
        sha = repo.commit({"guestbook/guestbook-ui-deployment.yaml": text + "  bad: [\n",
                           "guestbook/guestbook-ui-svc.yaml": None}, "broken")
        status = wait_app(cluster, namespace, "guestbook", sync="Unknown", health=None,
                          timeout=20, revision=sha,
                          check=lambda s: "ComparisonError" in conditions_of(s))
        assert "guestbook-ui-deployment.yaml" in conditions_of(status)["ComparisonError"]
        assert "YAML" in conditions_of(status)["ComparisonError"]
        time.sleep(2)
        assert versions() == stable

        # An unreachable repository: the same.
        daemon.stop()
        status = wait_app(cluster, namespace, "guestbook", sync="Unknown", health=None,
                          timeout=20, check=lambda s: "cannot" in conditions_of(s).get(
                              "ComparisonError", ""))
        assert daemon.url("apps") in conditions_of(status)["ComparisonError"]
        time.sleep(2)
        assert versions() == stable


# -- requested operations -------------------------------------------------------------------


def test_a_requested_sync_runs_once_and_a_rollback_syncs_an_older_revision(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    first = repo.head()
    apply(cluster, namespace, application("manual", daemon.url("apps"), "guestbook",
                                          namespace, automated=False))

    def request(revision: str = "") -> None:
        operation = {"sync": {"revision": revision, "prune": True},
                     "initiatedBy": {"username": "alice"}}
        cluster.kubectl_run("patch", "application", "manual", "-n", namespace, "--type=merge",
                            "-p", json.dumps({"operation": operation}))

    def done(status: dict[str, Any]) -> bool:
        return (status.get("operationState") or {}).get("phase") == "Succeeded"

    with running_reconciler(cluster, namespace, tmp_path, resync=2):
        status = wait_app(cluster, namespace, "manual", sync="OutOfSync", health="Missing")
        assert "operationState" not in status
        request()
        status = wait_app(cluster, namespace, "manual", check=done)
        wait_for(lambda: "operation" not in get(cluster, namespace, "application", "manual"),
                 10, "the operation to be removed")
        assert status["operationState"]["operation"]["initiatedBy"] == {"username": "alice"}
        sha = repo.commit(guestbook_with("v6"), "new image")
        wait_app(cluster, namespace, "manual", sync="OutOfSync", revision=sha, timeout=20)
        request()
        wait_app(cluster, namespace, "manual", revision=sha, check=lambda s: len(
            s.get("history") or []) == 2)
        assert image_of(cluster, namespace, "deployment", "guestbook-ui") == \
            GUESTBOOK_IMAGE.format(tag="v6")

        # Rollback: a sync to the first history entry's revision.
        request(first)
        status = wait_app(cluster, namespace, "manual", sync="OutOfSync", health=None,
                          check=lambda s: len(s.get("history") or []) == 3)
        assert image_of(cluster, namespace, "deployment", "guestbook-ui") == \
            GUESTBOOK_IMAGE.format(tag="v5")
        assert [h["revision"] for h in status["history"]] == [first, sha, first]
        assert [h["id"] for h in status["history"]] == [0, 1, 2]


# -- private repositories, another destination namespace ---------------------------------------

TOKEN = "glpat-secret-token-0123456789"


def test_a_private_repository_deploys_into_a_namespace_it_creates(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    destination = f"{namespace}-dest"
    with GitHttpServer(tmp_path / "http", "deploy", TOKEN) as server:
        repo = server.create_repo("private")
        shutil.copytree(APPS / "guestbook", repo.path / "guestbook")
        repo.commit({}, "guestbook")
        prefix = f"http://127.0.0.1:{server.port}/"
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "private-repos", "labels": {
                      "argocd.argoproj.io/secret-type": "repo-creds"}},
                  "stringData": {"url": prefix, "username": "deploy", "password": TOKEN}}
        apply(cluster, namespace, secret)
        apply(cluster, namespace, application(
            "private", server.url("private"), "guestbook", destination,
            syncPolicy={"syncOptions": ["CreateNamespace=true"]}))
        try:
            with running_reconciler(cluster, namespace, tmp_path, resync=2) as controller:
                status = wait_app(cluster, namespace, "private", timeout=60)
                get(cluster, destination, "deployment", "guestbook-ui")
            first = status["operationState"]["syncResult"]["resources"][0]
            assert (first["kind"], first["name"], first["status"]) == \
                ("Namespace", destination, "Synced")
            assert server.authorizations, "the credentials were not used"
            events = cluster.kubectl_run("get", "events", "-n", namespace, "-o", "json").stdout
            for text in (json.dumps(status), events, controller.log.read_text()):
                assert TOKEN not in text
        finally:
            cluster.kubectl_run("delete", "namespace", destination, "--wait=false",
                                check=False)


# -- failures: hooks, SyncFail, retry -------------------------------------------------------------

FAILING = """
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {"argocd.argoproj.io/hook": PreSync}
spec:
  backoffLimit: 0
  template:
    metadata: {annotations: {"rollouts.dev/exit-code": "1"}}
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: alpine, command: ["false"]}]
---
apiVersion: batch/v1
kind: Job
metadata:
  generateName: cleanup-
  annotations: {"argocd.argoproj.io/hook": SyncFail}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: cleanup, image: alpine, command: ["true"]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
"""


def test_a_failed_presync_hook_runs_syncfail_hooks_retries_and_applies_nothing(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = daemon.create_repo("apps", {"app/all.yaml": FAILING})
    retry = {"limit": 1, "backoff": {"duration": "1s", "factor": 2, "maxDuration": "5s"}}
    apply(cluster, namespace, application("failing", daemon.url("apps"), "app", namespace,
                                          syncPolicy={"retry": retry}))

    def failed(status: dict[str, Any]) -> bool:
        return (status.get("operationState") or {}).get("phase") == "Failed"

    with running_reconciler(cluster, namespace, tmp_path, resync=2):
        status = wait_app(cluster, namespace, "failing", sync="OutOfSync", health=None,
                          check=failed, timeout=90)
        time.sleep(3)  # a failed attempt at this revision is not repeated automatically
        again = app_status(cluster, namespace, "failing")
    operation = status["operationState"]
    assert operation["retryCount"] == 1
    assert "migrate" in operation["message"]
    results = operation["syncResult"]["resources"]
    assert [(r["syncPhase"], r["kind"], r.get("hookPhase")) for r in results] == [
        ("PreSync", "Job", "Failed"), ("SyncFail", "Job", "Succeeded")]
    assert results[1]["name"].startswith(f"cleanup-{repo.head()[:7]}-syncfail-")
    assert cluster.kubectl_run("get", "configmap", "settings", "-n", namespace,
                               check=False).returncode != 0
    assert again["operationState"]["startedAt"] == operation["startedAt"]
    assert "SyncError" in conditions_of(again)
