"""ApplicationSets on the real control plane: stamped Applications that then sync.

One controller process runs `--controllers reconciler,applicationsets -n <namespace>`
(the test namespace is the control namespace and the destination). A real Git repository
served by `git daemon` holds one ConfigMap per directory (`apps/<color>/cm.yaml`), so each
generated Application deploys an object of its own and turns Synced/Healthy quickly.

- a `list` generator stamps one Application per element; they sync; removing an element
  deletes its Application (created without the resources finalizer, as
  `preserveResourcesOnDeletion: true` asks, so its ConfigMap stays); an Application of a
  generated name with no controller owner is adopted (as Argo CD does); one controlled
  by something else is left exactly as it was, and the status says so;
- a `git` directories generator (Go templates, `missingkey=error`, an `exclude: true`
  entry) stamps one Application per directory, with the resources finalizer; a directory
  pushed later gets its Application at the next poll; a directory removed deletes its
  Application and, through the finalizer, its ConfigMap; deleting the ApplicationSet
  takes the rest with their ConfigMaps;
- a template naming a missing key applies nothing and names the field in the status;
- Argo-style ApplicationSets are accepted by the API server, a typo is refused;
- a deleted ApplicationSet (held by the resources finalizer) takes its Applications with
  it through the garbage collector, unless its policy never deletes (`create-update`):
  then the controller unhooks them first and they stay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon, TestRepo
from tests.integration.reconciler_support import (
    apply,
    daemon,
    running_reconciler,
    wait_app,
)
from tests.integration.support import get, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest

CONTROLLERS = "reconciler,applicationsets"
FINALIZER = "resources-finalizer.argocd.argoproj.io"


def config_map(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                       "data": {"color": name}})


@pytest.fixture
def repo(daemon: GitDaemon, cluster: TestCluster) -> TestRepo:
    cluster.kubectl_run("wait", "--for=condition=established", "--timeout=60s",
                        "crd/applicationsets.argoproj.io")
    return daemon.create_repo("apps", {f"apps/{c}/cm.yaml": config_map(c)
                                       for c in ("red", "blue", "legacy")})


def app_set(name: str, generators: list[dict[str, Any]], template: dict[str, Any],
            **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name},
            "spec": {"generators": generators, "template": template, **spec}}


def template(name: str, path: str, repo_url: str, namespace: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"stamped-by": "appset"}},
            "spec": {"project": "default",
                     "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": path},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": namespace},
                     "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}


def applications(cluster: TestCluster, namespace: str) -> dict[str, dict[str, Any]]:
    out = cluster.kubectl_run("get", "applications", "-n", namespace, "-o", "json").stdout
    return {a["metadata"]["name"]: a for a in json.loads(out)["items"]}


def appset_conditions(cluster: TestCluster, namespace: str, name: str) -> dict[str, Any]:
    status = get(cluster, namespace, "applicationset", name).get("status") or {}
    return {c["type"]: c for c in status.get("conditions") or []}


def exists(cluster: TestCluster, namespace: str, kind: str, name: str) -> bool:
    return cluster.kubectl_run("get", kind, name, "-n", namespace, check=False).returncode == 0


def wait_stamped(cluster: TestCluster, namespace: str, name: str, *, timeout: float = 60,
                 revision: str | None = None) -> dict[str, Any]:
    """Wait for the ApplicationSet to create Application `name`, then for it to sync."""
    wait_for(lambda: exists(cluster, namespace, "application", name), 30,
             f"Application {name} to be created", lambda: sorted(applications(cluster,
                                                                              namespace)))
    return wait_app(cluster, namespace, name, revision=revision, timeout=timeout)


def test_list_generator_stamps_applications_that_sync_and_leaves_others_alone(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, repo: TestRepo,
        tmp_path: Path) -> None:
    url = daemon.url("apps")
    apply(cluster, namespace, {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "green-owner"}})
    other = get(cluster, namespace, "configmap", "green-owner")["metadata"]
    other_controller = {"apiVersion": "v1", "kind": "ConfigMap", "name": "green-owner",
                        "uid": other["uid"], "controller": True}
    theirs = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
              "metadata": {"name": "list-green", "ownerReferences": [other_controller]},
              "spec": template("x", "apps/legacy", url, namespace)["spec"]}
    apply(cluster, namespace, theirs)
    orphan = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
              "metadata": {"name": "list-blue"},
              "spec": template("x", "apps/legacy", url, namespace)["spec"]}
    apply(cluster, namespace, orphan)  # no controller owner: adopted
    elements = [{"color": "red"}, {"color": "blue"}, {"color": "green"}]
    colors = app_set("colors", [{"list": {"elements": elements}}],
                     template("list-{{color}}", "apps/{{color}}", url, namespace),
                     syncPolicy={"preserveResourcesOnDeletion": True})
    apply(cluster, namespace, colors)
    with running_reconciler(cluster, namespace, tmp_path, controllers=CONTROLLERS):
        for color in ("red", "blue"):
            wait_stamped(cluster, namespace, f"list-{color}", revision=repo.head())
            assert get(cluster, namespace, "configmap", color)["data"] == {"color": color}
        stamped = applications(cluster, namespace)
        red = stamped["list-red"]["metadata"]
        assert red["labels"] == {"stamped-by": "appset"}
        assert "finalizers" not in red  # preserveResourcesOnDeletion: true
        [owner] = red["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == (
            "ApplicationSet", "colors", True)
        adopted = stamped["list-blue"]
        assert [r["name"] for r in adopted["metadata"]["ownerReferences"]] == ["colors"]
        assert adopted["spec"]["source"]["path"] == "apps/blue"

        # Controlled by another owner: untouched, and the status names it.
        green = stamped["list-green"]
        assert green["metadata"]["ownerReferences"] == [other_controller]
        assert green["spec"]["source"]["path"] == "apps/legacy"
        wait_for(lambda: "list-green" in appset_conditions(cluster, namespace, "colors").get(
            "ErrorOccurred", {}).get("message", ""), 30, "the not-owned condition",
            lambda: appset_conditions(cluster, namespace, "colors"))
        resources = get(cluster, namespace, "applicationset", "colors")["status"]["resources"]
        assert [r["name"] for r in resources] == ["list-blue", "list-red"]

        # An element removed: its Application goes, its ConfigMap stays (no finalizer).
        patch = {"spec": {"generators": [{"list": {"elements": [elements[0], elements[2]]}}]}}
        cluster.kubectl_run("patch", "applicationset", "colors", "-n", namespace,
                            "--type=merge", "-p", json.dumps(patch))
        wait_for(lambda: not exists(cluster, namespace, "application", "list-blue"), 30,
                 "list-blue to be deleted", lambda: sorted(applications(cluster, namespace)))
        assert exists(cluster, namespace, "configmap", "blue")
        assert wait_app(cluster, namespace, "list-red")["sync"]["status"] == "Synced"
        after = applications(cluster, namespace)["list-green"]
        assert after["spec"] == green["spec"]
        assert after["metadata"]["ownerReferences"] == [other_controller]


def test_git_directories_generator_stamps_one_application_per_directory(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, repo: TestRepo,
        tmp_path: Path) -> None:
    url = daemon.url("apps")
    dirs = app_set(
        "dirs",
        [{"git": {"repoURL": url, "revision": "HEAD", "requeueAfterSeconds": 2,
                  "directories": [{"path": "apps/*"},
                                  {"path": "apps/legacy", "exclude": True}]}}],
        template("dir-{{.path.basename}}", "{{.path.path}}", url, namespace),
        goTemplate=True, goTemplateOptions=["missingkey=error"])
    apply(cluster, namespace, dirs)
    with running_reconciler(cluster, namespace, tmp_path, controllers=CONTROLLERS):
        for color in ("blue", "red"):
            wait_stamped(cluster, namespace, f"dir-{color}", revision=repo.head())
        stamped = applications(cluster, namespace)
        assert sorted(stamped) == ["dir-blue", "dir-red"]  # apps/legacy is excluded
        assert stamped["dir-red"]["metadata"]["finalizers"] == [FINALIZER]
        assert stamped["dir-red"]["spec"]["source"]["path"] == "apps/red"
        conditions = appset_conditions(cluster, namespace, "dirs")
        assert conditions["ResourcesUpToDate"]["status"] == "True"
        assert conditions["ErrorOccurred"]["status"] == "False"

        pushed = repo.commit({"apps/green/cm.yaml": config_map("green")}, "add green")
        wait_stamped(cluster, namespace, "dir-green", revision=pushed)
        assert get(cluster, namespace, "configmap", "green")["data"] == {"color": "green"}

        # A directory removed: its Application goes, and (resources finalizer) its ConfigMap.
        repo.commit({"apps/blue/cm.yaml": None}, "remove blue")
        wait_for(lambda: not exists(cluster, namespace, "application", "dir-blue"), 60,
                 "dir-blue to be deleted", lambda: sorted(applications(cluster, namespace)))
        assert not exists(cluster, namespace, "configmap", "blue")
        assert exists(cluster, namespace, "configmap", "red")

        # The ApplicationSet deleted: the garbage collector deletes its Applications, the
        # reconciler their ConfigMaps (nothing is left holding the namespace).
        cluster.kubectl_run("delete", "applicationset", "dirs", "-n", namespace,
                            "--wait=false")
        wait_for(lambda: not applications(cluster, namespace), 60,
                 "the Applications to be deleted",
                 lambda: sorted(applications(cluster, namespace)))
        for color in ("red", "green"):
            assert not exists(cluster, namespace, "configmap", color)


def test_a_missing_template_key_applies_nothing_and_says_where(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, repo: TestRepo,
        tmp_path: Path) -> None:
    broken = app_set(
        "broken", [{"list": {"elements": [{"color": "red"}]}}],
        template("bad-{{.colour}}", "apps/{{.color}}", daemon.url("apps"), namespace),
        goTemplate=True, goTemplateOptions=["missingkey=error"])
    apply(cluster, namespace, broken)
    with running_reconciler(cluster, namespace, tmp_path, controllers=CONTROLLERS):
        wait_for(lambda: appset_conditions(cluster, namespace, "broken").get(
            "ErrorOccurred", {}).get("status") == "True", 30, "the error condition")
        error = appset_conditions(cluster, namespace, "broken")["ErrorOccurred"]
        assert error["reason"] == "RenderTemplateParamsError"
        assert error["message"].startswith("template.metadata.name:1:")
        assert "colour" in error["message"]
        assert applications(cluster, namespace) == {}


def test_argo_style_application_sets_are_accepted_by_the_api_server(
        cluster: TestCluster, namespace: str, repo: TestRepo) -> None:
    from tests.unit.test_appset_crd import documents

    for doc in documents():
        doc["metadata"].pop("namespace", None)
        cluster.kubectl_run("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                            input=json.dumps(doc))
    refused = cluster.kubectl_run(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", check=False,
        input=json.dumps(app_set("typo", [{"list": {"elements": []}}], {
            "metadata": {"name": "x"}, "spec": {}},
            syncPolicy={"applicationsSync": "delete-all"})))
    assert refused.returncode != 0
    assert "spec.syncPolicy.applicationsSync" in refused.stderr


def test_deleting_an_application_set_keeps_its_applications_only_when_its_policy_says(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, repo: TestRepo,
        tmp_path: Path) -> None:
    url = daemon.url("apps")

    def stamping(name: str, color: str, **spec: Any) -> dict[str, Any]:
        appset = app_set(name, [{"list": {"elements": [{"color": color}]}}],
                         template(f"{name}-{{{{color}}}}", "apps/{{color}}", url, namespace),
                         **spec)
        appset["metadata"]["finalizers"] = [FINALIZER]  # as `argocd appset create` leaves it
        return appset

    apply(cluster, namespace, stamping("kept", "red", syncPolicy={
        "applicationsSync": "create-update", "preserveResourcesOnDeletion": True}))
    apply(cluster, namespace, stamping("gone", "blue", syncPolicy={
        "preserveResourcesOnDeletion": True}))
    with running_reconciler(cluster, namespace, tmp_path, controllers=CONTROLLERS):
        for name in ("kept-red", "gone-blue"):
            wait_stamped(cluster, namespace, name)
        for name in ("kept", "gone"):
            cluster.kubectl_run("delete", "applicationset", name, "-n", namespace,
                                "--wait=false")
        wait_for(lambda: not exists(cluster, namespace, "applicationset", "kept")
                 and not exists(cluster, namespace, "applicationset", "gone"), 30,
                 "both ApplicationSets gone")
        # create-update never deletes: the controller unhooked its Application first.
        wait_for(lambda: not exists(cluster, namespace, "application", "gone-blue"), 60,
                 "the garbage collector to delete gone-blue")
        kept = get(cluster, namespace, "application", "kept-red")
        assert kept["metadata"].get("ownerReferences") is None
        assert wait_app(cluster, namespace, "kept-red")["sync"]["status"] == "Synced"
