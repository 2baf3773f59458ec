"""App of apps and deletion, on the real control plane with a real Git repository.

A root Application whose path holds two child Applications (each with Argo CD's
`resources-finalizer.argocd.argoproj.io`, one `/background`): the root applies them, the
controller then reconciles each child, which syncs its own ConfigMaps (one child reads its
directory with `directory.recurse`). Deleting the root, which carries the finalizer too,
deletes the children, whose finalizers delete their ConfigMaps (all but the one annotated
`Delete=false`), and every Application object disappears. An Application without the
finalizer, deleted, leaves its resources where they are; `rollouts app delete` adds the
finalizer first, so its resources go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import (
    app_status,
    application,
    apply,
    daemon,
    running_reconciler,
    wait_app,
)
from tests.integration.support import rollouts_cli, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest

FINALIZER = "resources-finalizer.argocd.argoproj.io"


def config_map(name: str, **annotations: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "annotations": annotations},
                           "data": {"from": name}})


def child(name: str, repo_url: str, path: str, namespace: str, finalizer: str,
          **source: Any) -> str:
    app = application(name, repo_url, path, namespace, source=source)
    app["metadata"]["finalizers"] = [finalizer]
    return yaml.safe_dump(app)


def names(cluster: TestCluster, namespace: str, kind: str) -> set[str]:
    out = cluster.kubectl_run("get", kind, "-n", namespace, "-o", "json").stdout
    return {item["metadata"]["name"] for item in json.loads(out)["items"]}


def delete_app(cluster: TestCluster, namespace: str, name: str) -> None:
    cluster.kubectl_run("delete", "application", name, "-n", namespace, "--wait=false")


def test_deleting_the_root_deletes_the_children_and_their_resources(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = daemon.create_repo("apps")
    url = daemon.url("apps")
    repo.commit({
        "root/child-a.yaml": child("child-a", url, "a", namespace, FINALIZER,
                                   directory={"recurse": True}),
        "root/child-b.yaml": child("child-b", url, "b", namespace, f"{FINALIZER}/background"),
        "a/one.yaml": config_map("a-one"),
        "a/nested/two.yaml": config_map("a-two"),
        "a/kept.yaml": config_map("a-kept", **{"argocd.argoproj.io/sync-options": "Delete=false"}),
        "b/one.yaml": config_map("b-one"),
    }, "an app of apps")
    root = application("root", url, "root", namespace)
    root["metadata"]["finalizers"] = [FINALIZER]
    apply(cluster, namespace, root)
    with running_reconciler(cluster, namespace, tmp_path, resync=2.0):
        # The root is Healthy once its children are (their own status.health).
        status = wait_app(cluster, namespace, "root", timeout=120)
        wait_app(cluster, namespace, "child-a")
        wait_app(cluster, namespace, "child-b")
        assert {(r["kind"], r["name"]) for r in status["resources"]} == {
            ("Application", "child-a"), ("Application", "child-b")}
        assert {"a-one", "a-two", "a-kept", "b-one"} <= names(cluster, namespace, "configmap")
        # Each child tracks its own ConfigMaps (recurse found the nested one).
        assert {r["name"] for r in app_status(cluster, namespace, "child-a")["resources"]} == {
            "a-one", "a-two", "a-kept"}

        delete_app(cluster, namespace, "root")
        wait_for(lambda: not names(cluster, namespace, "application"), 90,
                 "every Application to disappear",
                 lambda: cluster.kubectl_run("get", "application", "-n", namespace, "-o",
                                             "yaml", check=False).stdout[-3000:])
        left = names(cluster, namespace, "configmap")
        assert not {"a-one", "a-two", "b-one"} & left
        assert "a-kept" in left  # Delete=false


def test_an_app_without_the_finalizer_leaves_its_resources_and_the_cli_cascades(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = daemon.create_repo("apps")
    repo.commit({"b/one.yaml": config_map("b-one"), "c/one.yaml": config_map("c-one")},
                "two ConfigMaps")
    apply(cluster, namespace, application("plain", daemon.url("apps"), "b", namespace))
    apply(cluster, namespace, application("by-cli", daemon.url("apps"), "c", namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=2.0):
        wait_app(cluster, namespace, "plain")
        wait_app(cluster, namespace, "by-cli")
        delete_app(cluster, namespace, "plain")
        wait_for(lambda: "plain" not in names(cluster, namespace, "application"), 30,
                 "the Application to disappear")
        # `rollouts app delete` cascades by default, as `argocd app delete`.
        done = rollouts_cli(cluster, "app", "delete", "by-cli", "-n", namespace, "--wait",
                            "--timeout", "60")
        assert done.returncode == 0, done.stderr
        assert "by-cli" not in names(cluster, namespace, "application")
        assert "c-one" not in names(cluster, namespace, "configmap")
    assert "b-one" in names(cluster, namespace, "configmap")
