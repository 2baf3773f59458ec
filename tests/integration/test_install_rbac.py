"""The install's RBAC, proven on the dev cluster (which enforces RBAC) rather than assumed.

- `kubectl auth can-i --list` of each ServiceAccount, in the install's namespace and in an
  ordinary one, equals the set written here: a role widened or narrowed in
  manifests/install fails with a diff naming the resource.
- The controller's own token (`--controllers rollouts,analysis,experiments`) runs a canary
  gated by an analysis that queries the real Prometheus, runs a Job and reads an argument
  from a Secret, and a blue-green Rollout with a pre-promotion analysis and a manual
  promote: both reach their end state and the log has not one 403.
- The reconciler's own token (`--controllers reconciler`, control namespace `rollouts`)
  syncs an Application from a real `git daemon` into an ordinary namespace, creates the
  default AppProject, reads a repository Secret, and prunes what a later commit removed,
  without one 403. It runs with `-n rollouts` (Applications watched in its control
  namespace only, not in every namespace as the install does) so it never writes to
  other tests' Applications; its cluster-wide grants are those the can-i pin shows.
- The ApplicationSet controller's own token (`--controllers applicationsets`, `-n rollouts`)
  stamps an Application from a cluster Secret (a `clusters` generator), writes the
  ApplicationSet's status and deletes the Application when the Secret goes, without a 403.

The controller runs cluster-wide, as installed, with an `--instance-id` of its own: it
serves only the Rollouts labelled with it, so concurrent or leftover objects of other
tests (in terminating namespaces, where a create is a 403) never reach its log.

The namespaced variant of the install (manifests/install/namespaced) is proven in
test_install_namespaced.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TestCluster
from tests.integration.bluegreen_support import (
    analysis_runs,
    blue_green,
    bluegreen_rollout,
    new_revision,
    promoted,
    replicas,
    run_phase,
    services_for,
    wait_active,
    wait_status,
)
from tests.integration.exporter import Exporter, wait_until_scraped
from tests.integration.gitserver import GitDaemon
from tests.integration.install_support import (
    CONTROLLER_SA,
    HOME,
    INSTALL,
    NOTIFICATIONS_SA,
    RECONCILER_SA,
    SaController,
    can_i_list,
    refusals,
    token_kubeconfig,
)
from tests.integration.reconciler_support import application, compat_repo, wait_app
from tests.integration.support import get, rollout_status, rollouts_cli, set_image, wait_for

ALL = ["create", "delete", "get", "list", "patch", "update", "watch"]
READ = ["get", "list", "watch"]

# What each ServiceAccount may do (besides EVERY_AUTHENTICATED_USER) in an ordinary
# namespace (its ClusterRoles), and in its own namespace (plus its Role -home there).
CONTROLLER_CAN = {
    "analysisruns.argoproj.io": ALL, "analysisruns.argoproj.io/status": ALL,
    "experiments.argoproj.io": ALL, "experiments.argoproj.io/status": ALL,
    "rollouts.argoproj.io": ALL, "rollouts.argoproj.io/status": ALL,
    "analysistemplates.argoproj.io": READ, "clusteranalysistemplates.argoproj.io": READ,
    "replicasets.apps": ALL, "deployments.apps": ["get", "list", "patch", "update", "watch"],
    "services": ALL, "pods": ["delete", "get", "list", "watch"], "pods/eviction": ["create"],
    "secrets": ["get"], "jobs.batch": ["create", "delete", "get", "list", "watch"],
    "events": ["create", "patch"], "events.events.k8s.io": ["create", "patch"],
    "ingresses.networking.k8s.io": ALL, "trafficsplits.split.smi-spec.io": ALL,
    "virtualservices.networking.istio.io": ["get", "list", "patch", "update", "watch"],
    "destinationrules.networking.istio.io": ["get", "list", "patch", "update", "watch"],
    "httproutes.gateway.networking.k8s.io": ["get", "list", "patch", "update", "watch"],
    "grpcroutes.gateway.networking.k8s.io": ["get", "list", "patch", "update", "watch"],
    "tcproutes.gateway.networking.k8s.io": ["get", "list", "patch", "update", "watch"],
    "customresourcedefinitions.apiextensions.k8s.io": READ,
}
RECONCILER_CAN = {
    "applications.argoproj.io": ["get", "list", "patch", "update", "watch"],
    "applications.argoproj.io/status": ["get", "list", "patch", "update", "watch"],
    "appprojects.argoproj.io": ["create", "get", "list", "watch"],
    "events": ["create", "patch"],
    "*.*": ALL,  # what Applications deploy (rollouts-reconciler-apply); projects narrow it
}
NOTIFICATIONS_CAN = {
    "applications.argoproj.io": ["get", "list", "patch", "watch"],
    "rollouts.argoproj.io": ["get", "list", "patch", "watch"],
    "analysisruns.argoproj.io": READ,
    "events": ["create", "get", "list", "watch"],
}
APPSET_CAN = {
    "applicationsets.argoproj.io": ["get", "list", "patch", "watch"],
    "applicationsets.argoproj.io/status": ["get", "patch", "update"],
    "applicationsets.argoproj.io/finalizers": ["update"],
    "applications.argoproj.io": ALL,
    "events": ["create", "patch"],
}
APPSET_SA = "system:serviceaccount:rollouts:rollouts-applicationsets"
# Only in its own namespace: its Lease (never other components' Leases).
CONTROLLER_HOME_CAN = {**CONTROLLER_CAN, "leases.coordination.k8s.io": ["create", "get", "update"]}
# Only in its control namespace: repository Secrets and its Lease.
RECONCILER_HOME_CAN = {**RECONCILER_CAN, "secrets": READ,
                       "leases.coordination.k8s.io": ["create", "get", "update"]}
# Only in its own namespace: the two notification ConfigMaps and Secrets, and its Lease.
NOTIFICATIONS_HOME_CAN = {
    **NOTIFICATIONS_CAN, "leases.coordination.k8s.io": ["create", "get", "update"],
    "configmaps[argo-rollouts-notification-configmap]": READ,
    "configmaps[argocd-notifications-cm]": READ,
    "secrets[argo-rollouts-notification-secret]": READ,
    "secrets[argocd-notifications-secret]": READ,
}
# Cluster and repository Secrets and its Lease, in its own namespace only.
APPSET_HOME_CAN = {**APPSET_CAN, "secrets": READ,
                   "leases.coordination.k8s.io": ["create", "get", "update"]}


def _diff(expected: dict[str, list[str]], actual: dict[str, list[str]]) -> list[str]:
    """One line per resource whose verbs differ: `- resource [verbs]` / `+ resource [...]`."""
    lines = []
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            if key in expected:
                lines.append(f"- {key} {expected[key]}")
            if key in actual:
                lines.append(f"+ {key} {actual[key]}")
    return lines


def test_can_i_list_of_each_service_account_is_pinned(cluster: TestCluster,
                                                      namespace: str) -> None:
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    cases = [(CONTROLLER_SA, HOME, CONTROLLER_HOME_CAN),
             (CONTROLLER_SA, namespace, CONTROLLER_CAN),
             (RECONCILER_SA, HOME, RECONCILER_HOME_CAN),
             (RECONCILER_SA, namespace, RECONCILER_CAN),
             (NOTIFICATIONS_SA, HOME, NOTIFICATIONS_HOME_CAN),
             (NOTIFICATIONS_SA, namespace, NOTIFICATIONS_CAN),
             (APPSET_SA, HOME, APPSET_HOME_CAN),
             (APPSET_SA, namespace, APPSET_CAN)]
    problems = []
    for who, where, expected in cases:
        diff = _diff(expected, can_i_list(cluster, who, where))
        if diff:
            problems.append(f"{who} in {where} (- pinned, + granted):\n  " + "\n  ".join(diff))
    assert not problems, "\n".join(problems)


def test_the_pin_notices_a_widened_role(cluster: TestCluster, namespace: str) -> None:
    """The comparison can fail: one extra verb on one resource shows up as a diff line."""
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    cluster.kubectl_run("create", "role", "wider", "-n", namespace, "--verb=list",
                        "--resource=secrets")
    cluster.kubectl_run("create", "rolebinding", "wider", "-n", namespace, "--role=wider",
                        f"--serviceaccount={HOME}:rollouts-controller")
    diff = _diff(CONTROLLER_CAN, can_i_list(cluster, CONTROLLER_SA, namespace))
    assert diff == ["- secrets ['get']", "+ secrets ['get', 'list']"]


# -- the controller's token ---------------------------------------------------------------

@pytest.fixture
def exporter(cluster: TestCluster) -> Iterator[Exporter]:
    with Exporter(cluster.state.prometheus_targets) as serving:
        yield serving


def _gate(prometheus: str) -> dict[str, Any]:
    """Prometheus (with a bearer token from a Secret) and a Job, both must pass."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "gate"},
        "spec": {
            "args": [{"name": "job"}, {"name": "token", "valueFrom": {
                "secretKeyRef": {"name": "prom-token", "key": "token"}}}],
            "metrics": [
                {"name": "success-rate", "interval": "1s", "count": 2,
                 "successCondition": "result[0] >= 0.95",
                 "provider": {"prometheus": {
                     "address": prometheus, "query": 'demo_success_ratio{job="{{args.job}}"}',
                     "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]}}},
                {"name": "smoke", "provider": {"job": {"spec": {
                    "backoffLimit": 0,
                    "template": {"spec": {"restartPolicy": "Never", "containers": [
                        {"name": "check", "image": "busybox"}]}}}}}},
            ],
        },
    }


def _canary(job: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "canary"},
        "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": "canary"}},
            "template": {"metadata": {"labels": {"app": "canary"}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": {"canary": {"steps": [
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "gate"}],
                              "args": [{"name": "job", "value": job}]}},
            ]}},
        },
    }


def _apply(cluster: TestCluster, namespace: str, *docs: dict[str, Any]) -> None:
    for doc in docs:
        cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(doc))


def test_the_controllers_token_runs_analysis_canary_and_blue_green_without_a_403(
        cluster: TestCluster, namespace: str, tmp_path: Path, exporter: Exporter) -> None:
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    exporter.set("demo_success_ratio", 0.99)
    wait_until_scraped(cluster.prometheus_url, f'demo_success_ratio{{job="{exporter.job}"}}')
    cluster.kubectl_run("create", "secret", "generic", "prom-token", "-n", namespace,
                        "--from-literal=token=t0ken-for-prometheus")
    pre = {"templates": [{"templateName": "gate"}],
           "args": [{"name": "job", "value": exporter.job}]}
    kubeconfig = token_kubeconfig(cluster, "rollouts-controller", tmp_path / "sa.kubeconfig")
    controller = SaController(cluster, kubeconfig, tmp_path / "controller.log",
                              "--controllers", "rollouts,analysis,experiments")
    _apply(cluster, namespace, _gate(cluster.prometheus_url),
           controller.label(_canary(exporter.job)), *services_for("bg"),
           controller.label(bluegreen_rollout("bg", autoPromotionEnabled=False,
                                              scaleDownDelaySeconds=2,
                                              prePromotionAnalysis=pre)))
    with controller:
        for name in ("canary", "bg"):
            wait_status(cluster, namespace, name, lambda s: s.get("phase") == "Healthy",
                        f"{name} Healthy")
        old = rollout_status(cluster, namespace, "bg")["stableRS"]
        set_image(cluster, namespace, "canary", "app:2")
        new = new_revision(cluster, namespace, "bg", "app:2")

        # The pre-promotion analysis passes, then the manual gate holds until promote.
        paused = wait_status(
            cluster, namespace, "bg",
            lambda s: s.get("phase") == "Paused" and (blue_green(s).get(
                "prePromotionAnalysisRunStatus") or {}).get("status") == "Successful",
            "bg paused for promotion after its pre-promotion analysis", timeout=90)
        assert blue_green(paused)["activeSelector"] == old
        result = rollouts_cli(cluster, "promote", "bg", "-n", namespace)
        assert result.returncode == 0, result.stderr
        wait_active(cluster, namespace, "bg-active", new)
        wait_for(lambda: replicas(cluster, namespace).get(old) == 0, 60,
                 "the old blue-green set scaled down", lambda: replicas(cluster, namespace))
        assert promoted(wait_status(cluster, namespace, "bg",
                                    lambda s: s.get("phase") == "Healthy", "bg Healthy"), new)

        canary = wait_status(
            cluster, namespace, "canary",
            lambda s: s.get("phase") == "Healthy" and s.get("currentStepIndex") == 2,
            "canary Healthy after its analysis step", timeout=90)
        assert canary["stableRS"] == canary["currentPodHash"]
        assert controller.alive()
    runs = analysis_runs(cluster, namespace)
    assert len(runs) == 2 and {run_phase(r) for r in runs.values()} == {"Successful"}, runs
    for run in runs.values():
        results = {m["name"]: m for m in run["status"]["metricResults"]}
        assert results["success-rate"]["successful"] == 2
        assert results["smoke"]["phase"] == "Successful"
    assert refusals(controller.text()) == [], controller.text()[-5000:]


# -- the reconciler's token ---------------------------------------------------------------

def test_the_reconcilers_token_syncs_and_prunes_from_git_without_a_403(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    # The default project is created on first use: start without one.
    cluster.kubectl_run("delete", "appproject", "default", "-n", HOME, "--ignore-not-found")
    app = f"rbac-{namespace}"
    with GitDaemon(tmp_path) as daemon:
        repo = compat_repo(daemon, "guestbook")
        url = daemon.url("apps")
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": app, "labels": {
                      "argocd.argoproj.io/secret-type": "repository"}},
                  "stringData": {"type": "git", "url": url}}
        _apply(cluster, HOME, secret, application(app, url, "guestbook", namespace))
        kubeconfig = token_kubeconfig(cluster, "rollouts-reconciler",
                                      tmp_path / "sa.kubeconfig")
        try:
            with SaController(cluster, kubeconfig, tmp_path / "reconciler.log",
                              "--controllers", "reconciler",
                              "-n", HOME, "--app-resync", "1", "--repo-cache",
                              str(tmp_path / "git-cache")) as reconciler:
                wait_app(cluster, HOME, app, revision=repo.head())
                assert _exists(cluster, namespace, "deployment", "guestbook-ui")
                assert _exists(cluster, namespace, "service", "guestbook-ui")
                head = repo.commit({"guestbook/guestbook-ui-svc.yaml": None}, "drop the Service")
                wait_app(cluster, HOME, app, revision=head, timeout=60)
                wait_for(lambda: not _exists(cluster, namespace, "service", "guestbook-ui"), 30,
                         "the pruned Service gone")
                assert _exists(cluster, namespace, "deployment", "guestbook-ui")
                assert reconciler.alive()
        finally:
            cluster.kubectl_run("delete", "application", app, "-n", HOME, "--wait=false",
                                check=False)
            cluster.kubectl_run("delete", "secret", app, "-n", HOME, check=False)
    log = reconciler.text()
    assert get(cluster, HOME, "appproject", "default")["spec"]["sourceRepos"] == ["*"]
    assert "created the default AppProject in rollouts" in log
    assert "/secrets?labelSelector=argocd.argoproj.io" in log  # repository Secrets were read
    assert refusals(log) == [], log[-5000:]


def _exists(cluster: TestCluster, namespace: str, kind: str, name: str) -> bool:
    return cluster.kubectl_run("get", kind, name, "-n", namespace,
                               check=False).returncode == 0


# -- the ApplicationSet controller's token --------------------------------------------------

def test_the_application_set_controllers_token_stamps_and_deletes_without_a_403(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    cluster.kubectl_run("wait", "--for=condition=established", "--timeout=60s",
                        "crd/applicationsets.argoproj.io")
    name = f"rbac-{namespace}"
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": name, "labels": {
                  "argocd.argoproj.io/secret-type": "cluster", "test": namespace}},
              "stringData": {"name": name, "server": f"https://{name}.example:6443"}}
    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
              "metadata": {"name": name},
              "spec": {"generators": [{"clusters": {"selector": {
                           "matchLabels": {"test": namespace}}}}],
                       "syncPolicy": {"preserveResourcesOnDeletion": True},
                       "template": {"metadata": {"name": "{{name}}-app"}, "spec": {
                           "project": "default",
                           "source": {"repoURL": "https://git.example/apps.git",
                                      "path": "guestbook"},
                           "destination": {"server": "{{server}}", "namespace": namespace}}}}}
    kubeconfig = token_kubeconfig(cluster, "rollouts-applicationsets", tmp_path / "sa.kubeconfig")
    try:
        _apply(cluster, HOME, secret, appset)
        with SaController(cluster, kubeconfig, tmp_path / "appsets.log",
                          "--controllers", "applicationsets", "-n", HOME) as controller:
            wait_for(lambda: _exists(cluster, HOME, "application", f"{name}-app"), 30,
                     "the stamped Application", lambda: controller.text()[-3000:])
            stamped = get(cluster, HOME, "application", f"{name}-app")
            assert stamped["spec"]["destination"]["server"] == f"https://{name}.example:6443"
            assert stamped["metadata"]["ownerReferences"][0]["name"] == name

            def conditions() -> dict[str, str]:
                status = get(cluster, HOME, "applicationset", name).get("status") or {}
                return {c["type"]: c["status"] for c in status.get("conditions") or []}

            wait_for(lambda: conditions().get("ResourcesUpToDate") == "True", 30,
                     "the status written", conditions)
            cluster.kubectl_run("delete", "secret", name, "-n", HOME)  # the cluster goes...
            wait_for(lambda: not _exists(cluster, HOME, "application", f"{name}-app"), 30,
                     "its Application deleted", lambda: controller.text()[-3000:])
            assert controller.alive()
    finally:
        for kind in ("applicationset", "application", "secret"):
            cluster.kubectl_run("delete", kind, name, f"{name}-app", "-n", HOME,
                                "--ignore-not-found", "--wait=false", check=False)
    log = controller.text()
    assert "/secrets?labelSelector=argocd.argoproj.io" in log  # cluster Secrets were read
    assert refusals(log) == [], log[-5000:]
