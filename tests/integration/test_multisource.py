"""A multi-source Application: a chart from a Helm repository, its values from Git.

Real parts only: the chart made with our built `helm package` and served with its
`helm repo index` over HTTP (basic auth, credentials in an Argo CD repository Secret)
by a thread of this test, the values file in a real Git repository served by
`git daemon`, the controller as a process, the `rollouts` CLI as a process, and the real
control plane. The values source has `ref: values` and no path; the chart's
`valueFiles` reads `$values/env/prod.yaml`. Assertions are on the API server's objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import tools
from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import apply, running_reconciler, wait_app
from tests.integration.support import wait_for
from tests.integration.test_helm_repositories import (
    PASSWORD,
    USER,
    ChartRepository,
    configmap,
    repository_secret,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[ChartRepository]:
    repository = ChartRepository(tmp_path / "chart-server")
    yield repository
    repository.close()


def multi_source_app(name: str, chart_url: str, values_url: str, namespace: str
                     ) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "sources": [
                {"repoURL": chart_url, "chart": "web", "targetRevision": "1.x",
                 "helm": {"releaseName": "shop", "valueFiles": ["$values/env/prod.yaml"]}},
                {"repoURL": values_url, "targetRevision": "HEAD", "ref": "values"},
            ],
            "destination": {"server": "https://kubernetes.default.svc",
                            "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def rollouts(cluster: TestCluster, namespace: str, tmp: Path, *args: str
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROLLOUTS_CACHE": str(tmp / "cli-cache"),
           "PATH": f"{tools.helm().parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "rollouts.cli.main", "app", *args,
                           "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)],
                          capture_output=True, text=True, timeout=180, env=env)


def synced_to(revisions: list[str]) -> Any:
    return lambda status: (status.get("sync") or {}).get("revisions") == revisions


def test_a_chart_from_a_repository_with_values_from_git(
        cluster: TestCluster, namespace: str, chart_repo: ChartRepository,
        tmp_path: Path) -> None:
    chart_repo.publish(tmp_path, "1.0.0", "1.1.0")
    apply(cluster, namespace, repository_secret("charts", chart_repo.url, username=USER,
                                                password=PASSWORD))
    with GitDaemon(tmp_path / "git") as daemon:
        values = daemon.create_repo("values")
        first = values.commit({"env/prod.yaml": "greeting: from-git\n"}, "values")
        apply(cluster, namespace, multi_source_app("shop", chart_repo.url,
                                                   daemon.url("values"), namespace))
        with running_reconciler(cluster, namespace, tmp_path) as controller:
            status = wait_app(cluster, namespace, "shop", check=synced_to(["1.1.0", first]))
            assert "revision" not in status["sync"]
            assert [s.get("ref") for s in status["sync"]["comparedTo"]["sources"]] == \
                [None, "values"]
            assert status["sourceTypes"] == ["Helm", "Directory"]
            assert configmap(cluster, namespace, "shop-web") == {
                "version": "1.1.0", "greeting": "from-git", "color": "blue"}
            diff = rollouts(cluster, namespace, tmp_path, "diff", "shop")
            assert (diff.returncode, diff.stdout) == (0, ""), diff.stderr

            # A commit to the values repository alone is a new revision of the app.
            second = values.commit({"env/prod.yaml": "greeting: changed\n"}, "values v2")
            status = wait_app(cluster, namespace, "shop", timeout=90,
                              check=synced_to(["1.1.0", second]))
            wait_for(lambda: configmap(cluster, namespace, "shop-web")["greeting"] ==
                     "changed", 30, "the ConfigMap with the new Git values")
            history = status["history"]
            assert [entry["revisions"] for entry in history] == [["1.1.0", first],
                                                                 ["1.1.0", second]]
            assert all(len(entry["sources"]) == 2 and "revision" not in entry
                       for entry in history)
            shown = rollouts(cluster, namespace, tmp_path, "history", "shop")
            assert f"HEAD ({second[:7]})" in shown.stdout, shown.stdout + shown.stderr

            # Roll back (automation off first, as Argo CD requires) to the first entry:
            # the chart at its version, the values at the first commit.
            cluster.kubectl_run("patch", "-n", namespace, "application", "shop", "--type",
                                "merge", "-p", json.dumps(
                                    {"spec": {"syncPolicy": {"automated": None}}}))
            rolled = rollouts(cluster, namespace, tmp_path, "rollback", "shop",
                              str(history[0]["id"]), "--timeout", "90s")
            assert rolled.returncode == 0, rolled.stdout + rolled.stderr
            assert configmap(cluster, namespace, "shop-web")["greeting"] == "from-git"
            status = wait_app(cluster, namespace, "shop", sync="OutOfSync", health=None,
                              check=synced_to(["1.1.0", second]))
            assert status["operationState"]["syncResult"]["revisions"] == ["1.1.0", first]
            assert status["history"][-1]["revisions"] == ["1.1.0", first]
            assert PASSWORD not in controller.log.read_text()
