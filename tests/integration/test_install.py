"""`manifests/install`: it applies to a real API server, its pods pass the `restricted`
Pod Security Standard, and the controller runs a canary with its ServiceAccount's token
(RBAC enforced by the dev cluster) without a single refusal.

What is not proven here: the image itself (building it needs a container engine, which
this machine has not); kwok runs the Deployments' pods without pulling it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.install_support import (
    CONTROLLER_SA,
    INSTALL,
    RECONCILER_SA,
    SaController,
    refusals,
    token_kubeconfig,
)
from tests.integration.support import get, set_image, wait_for, wait_phase


def _can(cluster: TestCluster, who: str, verb: str, resource: str,
         namespace: str = "default") -> bool:
    result = cluster.kubectl_run("auth", "can-i", verb, resource, "-n", namespace,
                                 f"--as={who}", check=False)
    return result.stdout.strip() == "yes"


def test_the_install_applies_and_its_pods_are_locked_down(cluster: TestCluster) -> None:
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    # Applying again is a no-op the server validates in full (admission included).
    cluster.kubectl_run("apply", "--server-side", "--dry-run=server", "-k", str(INSTALL))
    for name in ("rollouts-controller", "rollouts-reconciler", "rollouts-notifications",
                 "rollouts-applicationsets"):
        deployment = get(cluster, "rollouts", "deployment", name)
        spec = deployment["spec"]
        assert spec["replicas"] == 2
        pod = spec["template"]["spec"]
        assert pod["serviceAccountName"] == name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [container] = pod["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["limits"]["memory"]
        assert get(cluster, "rollouts", "poddisruptionbudget", name)["spec"]["minAvailable"] == 1

        # The namespace enforces the `restricted` Pod Security Standard: the pods exist.
        def running(name: str = name) -> bool:
            out = cluster.kubectl_run("get", "pods", "-n", "rollouts", "-l",
                                      f"app.kubernetes.io/name={name}", "-o", "json").stdout
            return len(json.loads(out)["items"]) == 2

        wait_for(running, 60, f"two {name} pods")


def test_each_service_account_has_only_its_verbs(cluster: TestCluster) -> None:
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    allowed = [(CONTROLLER_SA, "patch", "rollouts.argoproj.io"),
               (CONTROLLER_SA, "create", "replicasets.apps"),
               (CONTROLLER_SA, "get", "secrets"),
               (CONTROLLER_SA, "create", "jobs.batch"),
               (RECONCILER_SA, "patch", "applications.argoproj.io"),
               (RECONCILER_SA, "create", "deployments.apps")]
    denied = [(CONTROLLER_SA, "list", "secrets"),
              (CONTROLLER_SA, "create", "clusterrolebindings.rbac.authorization.k8s.io"),
              (CONTROLLER_SA, "create", "pods"),
              (CONTROLLER_SA, "delete", "namespaces"),
              (CONTROLLER_SA, "patch", "applications.argoproj.io"),
              (CONTROLLER_SA, "update", "leases.coordination.k8s.io"),  # not outside its own
              (RECONCILER_SA, "escalate", "clusterroles.rbac.authorization.k8s.io"),
              (RECONCILER_SA, "bind", "clusterroles.rbac.authorization.k8s.io")]
    assert [a for a in allowed if not _can(cluster, *a)] == []
    assert [d for d in denied if _can(cluster, *d)] == []
    assert _can(cluster, RECONCILER_SA, "list", "secrets", "rollouts")
    assert _can(cluster, CONTROLLER_SA, "update", "leases.coordination.k8s.io", "rollouts")
    assert not _can(cluster, CONTROLLER_SA, "update", "leases.coordination.k8s.io",
                    "kube-system")


def rollout(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "app", "image": "demo:1"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "1s"}}]}},
        },
    }


def test_the_controller_runs_a_canary_with_its_own_token(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    kubeconfig = token_kubeconfig(cluster, "rollouts-controller", tmp_path / "sa.kubeconfig")
    controller = SaController(cluster, kubeconfig, tmp_path / "controller.log",
                              "--controllers", "rollouts,analysis,experiments")
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-",
                        input=json.dumps(controller.label(rollout("web"))))
    with controller:
        wait_phase(cluster, namespace, "web", "Healthy", timeout=90)
        set_image(cluster, namespace, "web", "demo:2")
        wait_phase(cluster, namespace, "web", "Healthy", timeout=90, step=2)
        assert controller.alive()
    text = controller.text()
    assert refusals(text) == [], text[-3000:]
