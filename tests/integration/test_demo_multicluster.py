"""`make demo-multicluster`, steps 3 to 8, against the test clusters.

The demo's own `run` (cluster add and list, the app in Git behind `git daemon`, the
controller with reconciler and applicationsets, an ApplicationSet with a clusters
generator, a commit) on `cluster` and `second_cluster`, in the test namespace; then,
apart from the demo's own checks, what each cluster holds is read back here: the
Applications point at the two clusters, and both Deployments run the committed image.
"""

from __future__ import annotations

import json
from pathlib import Path

from rollouts.demo_multicluster import APPS, Demo, run
from tests.conftest import TestCluster

IMAGE = "argoproj/rollouts-demo:green"


def test_the_demo_deploys_one_app_to_both_clusters_and_follows_a_commit(
        cluster: TestCluster, second_cluster: TestCluster, namespace: str,
        tmp_path: Path) -> None:
    cluster.state.wait_for_crds(["applicationsets.argoproj.io"])
    try:
        run(Demo(cluster.state, second_cluster.state, namespace), tmp_path / "demo",
            timeout=90)

        apps = json.loads(cluster.kubectl_run("get", "applications", "-n", namespace,
                                              "-o", "json").stdout)["items"]
        destinations = {a["metadata"]["name"]: a["spec"]["destination"]["server"]
                        for a in apps}
        assert destinations == {APPS[0]: "https://kubernetes.default.svc",
                                APPS[1]: second_cluster.state.server}
        for target in (cluster, second_cluster):
            deployment = json.loads(target.kubectl_run(
                "get", "deployment", "web", "-n", namespace, "-o", "json").stdout)
            assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
            assert target.kubectl_run("get", "configmap", "web-config", "-n", namespace,
                                      check=False).returncode == 0
    finally:
        # No controller serves the namespace any more: drop the Applications' resources
        # finalizers so it can go, and the namespace the demo created on the second.
        for kind in ("applications.argoproj.io", "applicationsets.argoproj.io"):
            names = cluster.kubectl_run("get", kind, "-n", namespace, "-o", "name",
                                        check=False).stdout.split()
            for name in names:
                cluster.kubectl_run("patch", name, "-n", namespace, "--type=merge", "-p",
                                    '{"metadata":{"finalizers":null}}', check=False)
        second_cluster.kubectl_run("delete", "namespace", namespace, "--wait=false",
                                   check=False)
