"""Applications on another cluster: a second real control plane (`rollouts dev up --name`).

The control plane is `cluster` (CRDs, Applications, the cluster Secret in the test
namespace, which is the controller's control namespace); the destination is
`second_cluster`, registered with `rollouts cluster add` as Argo CD would (an
`argocd-manager` account with its token, the context's CA). The controller runs as a real
process and reaches the second cluster only through that Secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import (
    GUESTBOOK_IMAGE,
    app_status,
    application,
    apply,
    compat_repo,
    conditions_of,
    daemon,
    image_of,
    running_reconciler,
    wait_app,
)
from tests.integration.support import get, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest

SECOND = "rollouts-dev-second"


def cli(cluster: TestCluster, second: TestCluster, *args: str
        ) -> subprocess.CompletedProcess[str]:
    """`rollouts ...` with both kubeconfigs merged (the control plane's context current)."""
    kubeconfig = os.pathsep.join([str(cluster.kubeconfig), str(second.kubeconfig)])
    return subprocess.run([sys.executable, "-m", "rollouts.cli.main", *args,
                           f"--kubeconfig={kubeconfig}"],
                          capture_output=True, text=True, timeout=120, check=False)


def register(cluster: TestCluster, second: TestCluster, namespace: str) -> None:
    added = cli(cluster, second, "cluster", "add", SECOND, "--name", "second", "--yes",
                "-n", namespace)
    assert added.returncode == 0, added.stderr


def exists(target: TestCluster, namespace: str, kind: str, name: str) -> bool:
    return target.kubectl_run("get", kind, name, "-n", namespace, "-o", "name",
                              check=False).returncode == 0


def test_cluster_add_list_and_rm(cluster: TestCluster, second_cluster: TestCluster,
                                 namespace: str) -> None:
    register(cluster, second_cluster, namespace)
    secrets = json.loads(cluster.kubectl_run(
        "get", "secrets", "-n", namespace, "-l", "argocd.argoproj.io/secret-type=cluster",
        "-o", "json").stdout)["items"]
    assert len(secrets) == 1
    assert get(second_cluster, "kube-system", "serviceaccount", "argocd-manager")

    listed = cli(cluster, second_cluster, "cluster", "list", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[1]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert rows["second"][0] == second_cluster.state.server
    assert rows["second"][3] == "Successful"  # reachable with the registered token

    again = cli(cluster, second_cluster, "cluster", "add", SECOND, "--name", "second",
                "--yes", "-n", namespace)
    assert again.returncode == 1 and "--upsert" in again.stderr

    unknown = cli(cluster, second_cluster, "cluster", "add", "no-such-context", "--yes",
                  "-n", namespace)
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    assert "context 'no-such-context' is not in the kubeconfig" in unknown.stderr

    removed = cli(cluster, second_cluster, "cluster", "rm", "second", "-n", namespace)
    assert removed.returncode == 0, removed.stderr
    assert cluster.kubectl_run("get", "secret", secrets[0]["metadata"]["name"], "-n",
                               namespace, check=False).returncode != 0
    gone = cli(cluster, second_cluster, "cluster", "rm", "second", "-n", namespace)
    assert gone.returncode == 1 and "no cluster 'second' is registered" in gone.stderr


def test_an_unreachable_cluster_is_one_line(cluster: TestCluster, namespace: str,
                                            tmp_path: Path) -> None:
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:9",
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "dead", "user": {"token": "x"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead"}}]}))
    kubeconfig = os.pathsep.join([str(cluster.kubeconfig), str(dead)])
    result = subprocess.run([sys.executable, "-m", "rollouts.cli.main", "cluster", "add",
                             "dead", "--yes", "-n", namespace, f"--kubeconfig={kubeconfig}"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the API server of context 'dead' at https://127.0.0.1:9" in \
        result.stderr


def test_an_application_on_the_second_cluster_syncs_heals_and_prunes_there(
        cluster: TestCluster, second_cluster: TestCluster, namespace: str,
        daemon: GitDaemon, tmp_path: Path) -> None:
    register(cluster, second_cluster, namespace)
    second_cluster.kubectl_run("create", "namespace", namespace)
    try:
        repo = compat_repo(daemon, "guestbook")
        remote = application("remote", daemon.url("apps"), "guestbook", namespace)
        remote["spec"]["destination"] = {"name": "second", "namespace": namespace}
        lost = application("lost", daemon.url("apps"), "guestbook", namespace)
        lost["spec"]["destination"] = {"name": "nowhere", "namespace": namespace}
        apply(cluster, namespace, remote)
        apply(cluster, namespace, lost)
        with running_reconciler(cluster, namespace, tmp_path):
            status = wait_app(cluster, namespace, "remote", revision=repo.head(), timeout=90)
            assert {(r["kind"], r["status"]) for r in status["resources"]} == {
                ("Deployment", "Synced"), ("Service", "Synced")}
            # There, and not here: the local cluster has the same namespace name.
            assert exists(second_cluster, namespace, "deployment", "guestbook-ui")
            assert not exists(cluster, namespace, "deployment", "guestbook-ui")

            # An unknown cluster: an error on the Application, nothing applied anywhere.
            wait_for(lambda: "there are no clusters with this name: nowhere" in
                     conditions_of(app_status(cluster, namespace, "lost")).get(
                         "InvalidSpecError", ""), 30, "lost to report its destination",
                     lambda: app_status(cluster, namespace, "lost"))
            assert "operationState" not in app_status(cluster, namespace, "lost")

            # Drift on the second cluster is healed there.
            drifted = json.dumps([{"op": "replace", "value": "nginx:drift",
                                   "path": "/spec/template/spec/containers/0/image"}])
            second_cluster.kubectl_run("patch", "deployment", "guestbook-ui", "-n",
                                       namespace, "--type=json", "-p", drifted)
            wanted = GUESTBOOK_IMAGE.format(tag="v5")
            wait_for(lambda: image_of(second_cluster, namespace, "deployment", "guestbook-ui")
                     == wanted, 30,
                     "self-heal on the second cluster")

            # An object removed from Git is pruned there.
            head = repo.commit({"guestbook/guestbook-ui-svc.yaml": None}, "drop the service")
            wait_app(cluster, namespace, "remote", revision=head, timeout=90)
            wait_for(lambda: not exists(second_cluster, namespace, "service", "guestbook-ui"),
                     30, "the Service to be pruned on the second cluster")
            assert exists(second_cluster, namespace, "deployment", "guestbook-ui")

            # The cluster's Secret goes: the app says so and nothing moves elsewhere.
            removed = cli(cluster, second_cluster, "cluster", "rm", "second", "-n", namespace)
            assert removed.returncode == 0, removed.stderr
            wait_for(lambda: "there are no clusters with this name: second" in
                     conditions_of(app_status(cluster, namespace, "remote")).get(
                         "InvalidSpecError", ""), 30, "remote to lose its destination",
                     lambda: app_status(cluster, namespace, "remote"))
        assert not exists(cluster, namespace, "deployment", "guestbook-ui")
        assert not exists(cluster, namespace, "service", "guestbook-ui")
    finally:
        second_cluster.kubectl_run("delete", "namespace", namespace, "--wait=false",
                                   check=False)
