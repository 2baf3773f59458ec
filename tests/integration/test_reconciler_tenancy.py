"""Tenants and projects on the real control plane: who may deploy what, where, and when.

Hostile inputs of issue 11 (security review C1, H5): same-named Applications of two
namespaces, an Application in a namespace nobody allowed, a project that forbids a
ClusterRoleBinding or a namespace, a repository outside `sourceRepos`, a sync window that
denies. Each test asserts the safe outcome on the API server (what exists and what does not)
while another tenant's Application keeps syncing in the same controller.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import (
    app_status,
    application,
    apply,
    conditions_of,
    daemon,
    running_reconciler,
    wait_app,
)
from tests.integration.support import get, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest

TRACKING = "argocd.argoproj.io/tracking-id"


def config_map(name: str, namespace: str | None = None) -> str:
    where = f"\n  namespace: {namespace}" if namespace else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{where}\ndata:\n  a: '1'\n"


def project(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": name}, "spec": spec}


@contextmanager
def namespaces(cluster: TestCluster, *prefixes: str) -> Iterator[list[str]]:
    names = [f"t-{prefix}-{uuid.uuid4().hex[:8]}" for prefix in prefixes]
    for name in names:
        cluster.kubectl_run("create", "namespace", name)
    try:
        yield names
    finally:
        for name in names:
            cluster.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


def exists(cluster: TestCluster, namespace: str | None, kind: str, name: str) -> bool:
    where = ["-n", namespace] if namespace else []
    return cluster.kubectl_run("get", kind, name, *where, check=False).returncode == 0


def request_sync(cluster: TestCluster, namespace: str, name: str) -> None:
    operation = {"sync": {"revision": "", "prune": True}, "initiatedBy": {"username": "alice"}}
    cluster.kubectl_run("patch", "application", name, "-n", namespace, "--type=merge",
                        "-p", json.dumps({"operation": operation}))


def operation_phase(cluster: TestCluster, namespace: str, name: str) -> str | None:
    phase = (app_status(cluster, namespace, name).get("operationState") or {}).get("phase")
    return str(phase) if phase else None


def test_same_named_apps_of_two_namespaces_never_prune_each_other(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = daemon.create_repo("apps", {
        "a/mine.yaml": config_map("from-control"), "a/keep.yaml": config_map("keep-control"),
        "b/theirs.yaml": config_map("from-team"),
    })
    with namespaces(cluster, "team", "stranger", "dest") as (team, stranger, dest):
        apply(cluster, namespace, project("team", sourceNamespaces=[team], sourceRepos=["*"],
                                          destinations=[{"server": "*", "namespace": dest}],
                                          orphanedResources={"warn": True}))
        cluster.kubectl_run("create", "configmap", "left-behind", "-n", dest)
        apply(cluster, namespace, application("web", daemon.url("apps"), "a", dest))
        team_web = application("web", daemon.url("apps"), "b", dest)
        team_web["spec"]["project"] = "team"
        apply(cluster, team, team_web)
        # A namespace the operator allowed, but a project that does not list it.
        apply(cluster, team, application("sneaky", daemon.url("apps"), "a", dest))
        # A namespace nobody allowed.
        apply(cluster, stranger, application("web", daemon.url("apps"), "a", dest))
        args = ("--application-namespaces", f"{team},nothing-else-*")
        with running_reconciler(cluster, namespace, tmp_path, resync=2, extra_args=args):
            wait_app(cluster, namespace, "web", revision=repo.head())
            wait_app(cluster, team, "web", revision=repo.head())
            ids = {name: get(cluster, dest, "configmap", name)["metadata"]["annotations"]
                   [TRACKING] for name in ("from-control", "from-team")}
            assert ids == {"from-control": f"web:/ConfigMap:{dest}/from-control",
                           "from-team": f"{team}_web:/ConfigMap:{dest}/from-team"}

            # The team's project watches for orphans: only the untracked one is named.
            orphaned = wait_app(cluster, team, "web", check=lambda s: "OrphanedResourceWarning"
                                in conditions_of(s))
            warning = conditions_of(orphaned)["OrphanedResourceWarning"]
            assert "left-behind" in warning and "keep-control" not in warning

            refused = wait_app(cluster, stranger, "web", sync="Unknown", health=None,
                               check=lambda s: "InvalidSpecError" in conditions_of(s))
            assert "--application-namespaces" in conditions_of(refused)["InvalidSpecError"]
            assert "operationState" not in refused
            sneaky = wait_app(cluster, team, "sneaky", sync="Unknown", health=None,
                              check=lambda s: "InvalidSpecError" in conditions_of(s))
            assert team in conditions_of(sneaky)["InvalidSpecError"]
            assert "operationState" not in sneaky

            # One tenant drops its object: exactly that one is pruned, the other stays.
            sha = repo.commit({"a/mine.yaml": None}, "control drops its config map")
            wait_app(cluster, namespace, "web", revision=sha, timeout=30,
                     check=lambda s: len(s.get("resources") or []) == 1)
            wait_for(lambda: not exists(cluster, dest, "configmap", "from-control"), 20,
                     "from-control to be pruned")
            wait_app(cluster, team, "web", revision=sha, timeout=30)
            assert exists(cluster, dest, "configmap", "from-team")
            assert exists(cluster, dest, "configmap", "keep-control")
            # Nothing of the refused apps was ever applied: keep-control is web's own.
            assert get(cluster, dest, "configmap", "keep-control")["metadata"]["annotations"][
                TRACKING] == f"web:/ConfigMap:{dest}/keep-control"


def test_what_a_project_forbids_is_never_applied(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    binding = f"t-escalate-{uuid.uuid4().hex[:8]}"
    crb = (f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
           f"metadata:\n  name: {binding}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n"
           f"  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n"
           f"  name: default\n  namespace: {namespace}\n")
    stray = f"t-stray-{uuid.uuid4().hex[:8]}"
    repo = daemon.create_repo("apps", {
        "crb/ok.yaml": config_map("crb-ok"), "crb/crb.yaml": crb,
        "ns/ok.yaml": config_map("ns-ok"), "ns/stray.yaml": config_map(stray, "kube-system"),
        "ok/ok.yaml": config_map("fine"),
    })
    here = [{"server": "https://kubernetes.default.svc", "namespace": namespace}]
    apply(cluster, namespace, project("restricted", sourceRepos=["*"], destinations=here))
    apply(cluster, namespace, project("pinned", sourceRepos=["https://github.com/acme/*"],
                                      destinations=here))
    apply(cluster, namespace, project("frozen", sourceRepos=["*"], destinations=here,
                                      syncWindows=[{"kind": "deny", "schedule": "* * * * *",
                                                    "duration": "1h", "applications": ["*"],
                                                    "manualSync": False}]))
    # `pinned` names a repository the daemon does not have: had the controller gone to Git
    # before asking the project, its condition would be a ComparisonError from git.
    for name, path, proj in (("crb", "crb", "restricted"), ("stray", "ns", "restricted"),
                             ("pinned", "ok", "pinned"), ("frozen", "ok", "frozen"),
                             ("fine", "ok", "default")):
        url = daemon.url("no-such-repo" if name == "pinned" else "apps")
        app = application(name, url, path, namespace)
        app["spec"]["project"] = proj
        apply(cluster, namespace, app)
    with running_reconciler(cluster, namespace, tmp_path, resync=2):
        # The other tenant's app syncs while the forbidden ones are refused.
        wait_app(cluster, namespace, "fine", revision=repo.head())

        def refused(name: str, *words: str) -> dict[str, Any]:
            status = wait_app(cluster, namespace, name, sync="OutOfSync", health=None,
                              check=lambda s: all(w in json.dumps(conditions_of(s))
                                                  for w in words))
            return status

        refused("crb", "ClusterRoleBinding", binding, "restricted")
        refused("stray", "kube-system", stray)
        pinned = wait_app(cluster, namespace, "pinned", sync="Unknown", health=None,
                          check=lambda s: "InvalidSpecError" in conditions_of(s))
        assert "sourceRepos" in conditions_of(pinned)["InvalidSpecError"]
        assert "ComparisonError" not in conditions_of(pinned)

        # A requested sync of a forbidden app fails, naming the object; nothing applied.
        request_sync(cluster, namespace, "crb")
        wait_for(lambda: operation_phase(cluster, namespace, "crb") == "Error", 30,
                 "the forbidden sync to end in Error")
        message = app_status(cluster, namespace, "crb")["operationState"]["message"]
        assert "nothing applied" in message and "ClusterRoleBinding" in message

        # A deny window holds automated syncs, and manual ones without manualSync.
        frozen = wait_app(cluster, namespace, "frozen", sync="OutOfSync", health=None)
        assert "operationState" not in frozen
        request_sync(cluster, namespace, "frozen")
        wait_for(lambda: operation_phase(cluster, namespace, "frozen") == "Error", 30,
                 "the blocked manual sync to end in Error")
        assert "window" in app_status(cluster, namespace, "frozen")["operationState"][
            "message"]

    assert not exists(cluster, None, "clusterrolebinding", binding)
    assert not exists(cluster, "kube-system", "configmap", stray)
    for name in ("crb-ok", "ns-ok"):
        assert not exists(cluster, namespace, "configmap", name), name
    assert exists(cluster, namespace, "configmap", "fine")
    assert get(cluster, namespace, "configmap", "fine")["metadata"]["annotations"][
        TRACKING] == f"fine:/ConfigMap:{namespace}/fine"
    assert get(cluster, namespace, "appproject", "default")["spec"]["sourceRepos"] == ["*"]


def test_a_hook_never_deletes_an_object_it_does_not_own(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    hook = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: precious\n  annotations:\n"
            "    argocd.argoproj.io/hook: PreSync\ndata:\n  from: git\n")
    daemon.create_repo("apps", {"app/hook.yaml": hook, "app/ok.yaml": config_map("after")})
    cluster.kubectl_run("create", "configmap", "precious", "-n", namespace,
                        "--from-literal=owner=someone-else")
    uid = get(cluster, namespace, "configmap", "precious")["metadata"]["uid"]
    apply(cluster, namespace, application("hooked", daemon.url("apps"), "app", namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=2):
        wait_for(lambda: operation_phase(cluster, namespace, "hooked") in ("Failed", "Error"),
                 60, "the sync to fail on the foreign object")
        message = app_status(cluster, namespace, "hooked")["operationState"]["message"]
        assert "does not belong to this Application" in message
    kept = get(cluster, namespace, "configmap", "precious")
    assert kept["metadata"]["uid"] == uid and kept["data"] == {"owner": "someone-else"}
    assert not exists(cluster, namespace, "configmap", "after")
