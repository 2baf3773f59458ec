"""One controller, several hostile tenants and one honest one, on the real control plane.

The render-level tests (`test_reconciler_hostile_render.py`, `..._git.py`) prove each limit
on its own; this one runs them through one `rollouts controller` process at once: an
alias bomb, a catastrophic include glob, a kustomization reaching out of its checkout and
a `file://` repoURL (the analysis side's memory bomb is `test_analysis_hostile.py`). Each
hostile Application ends with a condition naming the problem and nothing applied, while
the honest Application syncs, and syncs its next commit too, and the process stays up
and healthy throughout.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

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
from tests.integration.support import wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest


def config_map(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: '{value}'\n"


def alias_bomb(levels: int = 9) -> str:
    lines = [config_map("bomb").rstrip("\n"),
             "l0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"l{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]"
              for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def exists(cluster: TestCluster, namespace: str, name: str) -> bool:
    return cluster.kubectl_run("get", "configmap", name, "-n", namespace,
                               check=False).returncode == 0


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        return int(response.status)


def metrics_port(log: Path) -> int:
    for line in log.read_text().splitlines():
        if "serving /metrics on" in line:
            return int(line.rsplit(":", 1)[1].split()[0])
    raise AssertionError("the controller did not log its metrics port")


def test_hostile_tenants_get_conditions_and_the_honest_one_keeps_syncing(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    long_name = "a" * 60 + ".yaml"
    good = daemon.create_repo("good", {"app/good.yaml": config_map("good")})
    daemon.create_repo("bomb", {"app/bomb.yaml": alias_bomb(), "app/ok.yaml":
                                config_map("bomb-ok")})
    daemon.create_repo("glob", {f"app/{long_name}": config_map("glob-ok")})
    daemon.create_repo("escape", {
        "app/kustomization.yaml": "resources:\n- ../../../../../../../../etc\n- ok.yaml\n",
        "app/ok.yaml": config_map("escape-ok"),
    })
    apply(cluster, namespace, application("good", daemon.url("good"), "app", namespace))
    apply(cluster, namespace, application("bomb", daemon.url("bomb"), "app", namespace))
    apply(cluster, namespace, application(
        "glob", daemon.url("glob"), "app", namespace,
        source={"directory": {"include": "*a*a*a*a*a*a*a*a*a*a*a*a*b"}}))
    apply(cluster, namespace, application("escape", daemon.url("escape"), "app", namespace))
    apply(cluster, namespace, application("local", "file:///etc", ".", namespace))

    with running_reconciler(cluster, namespace, tmp_path, resync=2) as controller:
        wait_app(cluster, namespace, "good", revision=good.head())

        def refused(name: str, words: tuple[str, ...]) -> None:
            wait_app(cluster, namespace, name, sync="Unknown", health=None, timeout=90,
                     check=lambda s: all(w in json.dumps(conditions_of(s)) for w in words))
            assert (app_status(cluster, namespace, name).get("operationState")) is None

        refused("bomb", ("ComparisonError", "aliases expand"))
        refused("escape", ("ComparisonError", "outside"))
        refused("local", ("ComparisonError", "local path"))
        # The glob finishes at once (no backtracking) and matches nothing: an empty app.
        wait_for(lambda: (app_status(cluster, namespace, "glob").get("sync") or {}).get(
            "revision") is not None, 60, "the glob app to be compared")
        for name in ("bomb-ok", "glob-ok", "escape-ok"):
            assert not exists(cluster, namespace, name), name

        # Still serving: the honest tenant's next commit is applied, the process is healthy.
        sha = good.commit({"app/good.yaml": config_map("good", "2")}, "the next version")
        wait_app(cluster, namespace, "good", revision=sha, timeout=60)
        wait_for(lambda: json.loads(cluster.kubectl_run(
            "get", "configmap", "good", "-n", namespace, "-o", "json").stdout)["data"]["v"]
            == "2", 30, "the next version to be applied")
        assert controller.process is not None and controller.process.poll() is None
        assert healthz(metrics_port(controller.log)) == 200
