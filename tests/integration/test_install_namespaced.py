"""`manifests/install/namespaced`: the Git reconciler limited to the namespaces it is
bound in, proven with its own token.

The overlay must render as the cluster-wide install minus the ClusterRoleBinding
`rollouts-reconciler-apply`, plus a RoleBinding of that ClusterRole in the example
namespace. Its RBAC is then applied as a private copy (every `rollouts-*` name and the
`rollouts` namespace made unique, the example namespace replaced by the test's), so the
shared cluster-wide install other tests rely on is never touched. With that copy's
reconciler token, an Application into the bound namespace syncs; one into an unbound
namespace ends with an error condition naming the refusal, the controller keeps running,
and nothing is created there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.install_support import (
    INSTALL,
    NAMESPACED,
    SaController,
    can_i_list,
    refusals,
    renamed_copy,
    render,
    token_kubeconfig,
)
from tests.integration.reconciler_support import (
    app_status,
    application,
    compat_repo,
    conditions_of,
    summary,
    wait_app,
)
from tests.integration.support import wait_for

EXAMPLE_NAMESPACE = "apps"  # the RoleBinding the overlay ships, to be copied per namespace
APPLY_BINDING = "rollouts-reconciler-apply"


def _ids(docs: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
    return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs}


def test_the_overlay_is_the_install_with_the_apply_binding_per_namespace(
        cluster: TestCluster) -> None:
    overlay, full = render(NAMESPACED, cluster), render(INSTALL, cluster)
    assert _ids(overlay) == (_ids(full) - {("ClusterRoleBinding", None, APPLY_BINDING)}) | {
        ("Namespace", None, EXAMPLE_NAMESPACE),
        ("RoleBinding", EXAMPLE_NAMESPACE, APPLY_BINDING)}
    [binding] = [d for d in overlay if d["kind"] == "RoleBinding"
                 and d["metadata"]["name"] == APPLY_BINDING]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": APPLY_BINDING}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rollouts-reconciler",
                                    "namespace": "rollouts"}]
    # Everything else is the cluster-wide install, byte for byte.
    rest = [d for d in overlay if (d["kind"], d["metadata"]["name"]) not in {
        ("Namespace", EXAMPLE_NAMESPACE), ("RoleBinding", APPLY_BINDING)}]
    assert rest == [d for d in full if (d["kind"], d["metadata"]["name"]) != (
        "ClusterRoleBinding", APPLY_BINDING)]


def _apply(cluster: TestCluster, namespace: str, *docs: dict[str, Any]) -> None:
    for doc in docs:
        cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


def _objects(cluster: TestCluster, namespace: str) -> list[str]:
    out = cluster.kubectl_run("get", "deployments,services,configmaps", "-n", namespace,
                              "-o", "json").stdout
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in json.loads(out)["items"]
                  if o["metadata"]["name"] != "kube-root-ca.crt")


@dataclass
class Namespaced:
    """A private copy of the namespaced install's RBAC and its reconciler, running."""

    home: str
    bound: str
    unbound: str
    account: str
    reconciler: SaController


@contextmanager
def namespaced_reconciler(cluster: TestCluster, bound: str, tmp_path: Path
                          ) -> Iterator[Namespaced]:
    """The overlay's RBAC renamed into a copy (`rollouts` -> `<prefix>-home`, the example
    namespace -> `bound`), a namespace it is not bound in, Applications `inside` (into
    `bound`) and `outside` (into the unbound one) from a real git daemon, and the copy's
    reconciler running on its own token. Everything cluster-scoped is deleted after."""
    prefix = f"rb{uuid.uuid4().hex[:8]}"
    home, unbound = f"{prefix}-home", f"{prefix}-unbound"
    copy = renamed_copy(render(NAMESPACED, cluster), prefix=prefix,
                        namespaces={"rollouts": home, EXAMPLE_NAMESPACE: bound})
    try:
        for name in (home, unbound):
            cluster.kubectl_run("create", "namespace", name)
        cluster.kubectl_run("apply", "--server-side", "-f", "-",
                            input="\n---\n".join(json.dumps(d) for d in copy))
        with GitDaemon(tmp_path) as daemon:
            compat_repo(daemon, "guestbook")
            url = daemon.url("apps")
            _apply(cluster, home, application("inside", url, "guestbook", bound),
                   application("outside", url, "guestbook", unbound))
            kubeconfig = token_kubeconfig(cluster, f"{prefix}-reconciler",
                                          tmp_path / "sa.kubeconfig", namespace=home)
            with SaController(cluster, kubeconfig, tmp_path / "reconciler.log",
                              "--controllers", "reconciler", "-n", home, "--app-resync", "2",
                              "--repo-cache", str(tmp_path / "git-cache"),
                              lease_namespace=home) as reconciler:
                yield Namespaced(home, bound, unbound,
                                 f"system:serviceaccount:{home}:{prefix}-reconciler", reconciler)
    finally:
        for doc in copy:
            if "namespace" not in doc["metadata"]:
                cluster.kubectl_run("delete", doc["kind"], doc["metadata"]["name"],
                                    "--ignore-not-found", check=False)
        for name in (home, unbound):
            cluster.kubectl_run("delete", "namespace", name, "--wait=false", check=False)


def test_the_namespaced_reconciler_deploys_only_where_it_is_bound(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    with namespaced_reconciler(cluster, namespace, tmp_path) as run:
        apply_verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        assert can_i_list(cluster, run.account, run.bound).get("*.*") == apply_verbs
        assert can_i_list(cluster, run.account, run.unbound) == {
            "applications.argoproj.io": ["get", "list", "patch", "update", "watch"],
            "applications.argoproj.io/status": ["get", "list", "patch", "update", "watch"],
            "appprojects.argoproj.io": ["create", "get", "list", "watch"],
            "events": ["create", "patch"]}
        denied = cluster.kubectl_run("auth", "can-i", "create", "deployments", "-n",
                                     run.unbound, f"--as={run.account}", check=False)
        assert denied.stdout.strip() == "no"

        wait_app(cluster, run.home, "inside")
        assert _objects(cluster, run.bound) == ["Deployment/guestbook-ui",
                                                "Service/guestbook-ui"]
        # The other Application reached the unbound namespace (its watch there was tried);
        # give it a few more resyncs to do anything it should not.
        wait_for(lambda: f"in {run.unbound}" in run.reconciler.text(), 30,
                 "the outside Application compared against its namespace")
        time.sleep(4)
        assert _objects(cluster, run.unbound) == []
        assert run.reconciler.alive()
        log = run.reconciler.text()
    # The only refusals are about the unbound namespace.
    assert [line for line in refusals(log) if run.unbound not in line] == [], log[-5000:]


def test_an_application_into_an_unbound_namespace_says_it_is_forbidden(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    with namespaced_reconciler(cluster, namespace, tmp_path) as run:
        def refused() -> bool:
            return any("forbidden" in message.lower() and run.unbound in message for message
                       in conditions_of(app_status(cluster, run.home, "outside")).values())

        wait_for(refused, 20, "the unbound Application's error condition",
                 lambda: summary(app_status(cluster, run.home, "outside")))
        assert _objects(cluster, run.unbound) == []
        assert run.reconciler.alive()
