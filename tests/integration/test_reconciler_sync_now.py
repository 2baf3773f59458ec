"""Sync means now, and a Secret's data is never shown (issue 14, items 7 and 8).

A real controller process with a resync of an hour, so no poll can see a push during a
test: only `rollouts app sync` (which asks Git when the sync starts) and `rollouts app
get --refresh` (the refresh annotation) can. Secrets: an Application whose source holds
two Secrets, one of which a ValidatingAdmissionPolicy refuses with a message quoting
its password (the API server's answer the sync records); the values must appear in no
`app get`, `app diff`, event or controller log line.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon, TestRepo
from tests.integration.reconciler_support import (
    app_status,
    application,
    apply,
    daemon,
    running_reconciler,
    summary,
)
from tests.integration.support import get, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest

HOUR = 3600.0
SETTINGS = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  v: '{v}'\n"
PASSWORD = "correct-horse-battery-staple"
GUARDED = "refused-by-policy-tr0ub4dor"
LIVE_EDIT = "swordfish-typed-by-hand"
SECRETS = f"""apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: {PASSWORD}
"""
GUARDED_SECRET = f"""apiVersion: v1
kind: Secret
metadata:
  name: guarded
stringData:
  password: {GUARDED}
"""


def cli(cluster: TestCluster, namespace: str, tmp: Path, *args: str,
        timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROLLOUTS_CACHE": str(tmp / "cli-cache")}
    return subprocess.run(
        [sys.executable, "-m", "rollouts.cli.main", "app", *args, "-n", namespace,
         f"--kubeconfig={cluster.kubeconfig}"],
        capture_output=True, text=True, timeout=timeout, check=False, env=env)


def manual_app(daemon: GitDaemon, namespace: str) -> dict[str, Any]:
    return application("web", daemon.url("apps"), "app", namespace, automated=False)


def wait_revision(cluster: TestCluster, namespace: str, sha: str) -> dict[str, Any]:
    wait_for(lambda: (app_status(cluster, namespace, "web").get("sync") or {})
             .get("revision") == sha, 60, f"the app to compare {sha[:7]}",
             lambda: summary(app_status(cluster, namespace, "web")))
    return app_status(cluster, namespace, "web")


@contextmanager
def pushed_unseen(cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path
                  ) -> Iterator[tuple[TestRepo, str, str]]:
    """A running controller that compared the first commit, and a second commit pushed
    that it has not seen (no poll for an hour, no webhook): (repo, first, second)."""
    repo = daemon.create_repo("apps", {"app/settings.yaml": SETTINGS.format(v=1)})
    first = repo.head()
    apply(cluster, namespace, manual_app(daemon, namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=HOUR):
        wait_revision(cluster, namespace, first)
        second = repo.commit({"app/settings.yaml": SETTINGS.format(v=2)}, "v2")
        time.sleep(1)
        assert app_status(cluster, namespace, "web")["sync"]["revision"] == first
        yield repo, first, second


def test_a_push_then_app_sync_deploys_the_pushed_commit(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    with pushed_unseen(cluster, namespace, daemon, tmp_path) as (_repo, _first, second):
        # The sync goes to the pushed commit all the same.
        synced = cli(cluster, namespace, tmp_path, "sync", "web", "--timeout", "60s")
        assert synced.returncode == 0, (synced.stdout, synced.stderr)
        status = app_status(cluster, namespace, "web")
        assert status["operationState"]["syncResult"]["revision"] == second
        assert status["history"][-1]["revision"] == second
        assert get(cluster, namespace, "configmap", "settings")["data"] == {"v": "2"}
        wait_revision(cluster, namespace, second)


def test_app_get_refresh_shows_a_pushed_commit(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    with pushed_unseen(cluster, namespace, daemon, tmp_path) as (repo, first, second):
        plain = cli(cluster, namespace, tmp_path, "get", "web", "-o", "json")
        assert json.loads(plain.stdout)["status"]["sync"]["revision"] == first

        refreshed = cli(cluster, namespace, tmp_path, "get", "web", "--refresh", "-o", "json")
        assert refreshed.returncode == 0, refreshed.stderr
        shown = json.loads(refreshed.stdout)
        assert shown["status"]["sync"]["revision"] == second  # read after the controller
        assert "argocd.argoproj.io/refresh" not in shown["metadata"].get("annotations", {})

        # --hard-refresh: the CLI's side (annotate, wait, show). That a hard refresh
        # renders the same commit again, which a normal one does not, cannot be seen
        # from here: tests/unit/test_reconciler_sync_now.py (TestHardRefreshInTheController).
        third = repo.commit({"app/settings.yaml": SETTINGS.format(v=3)}, "v3")
        hard = cli(cluster, namespace, tmp_path, "get", "web", "--hard-refresh")
        assert hard.returncode == 0, hard.stderr
        assert f"OutOfSync from HEAD ({third[:7]})" in hard.stdout


def _refuse_guarded_secrets(cluster: TestCluster, namespace: str) -> str:
    """A ValidatingAdmissionPolicy refusing the Secret `guarded` in `namespace` with a
    message that quotes its password (base64, as CEL sees it); returns the policy's name."""
    name = f"{namespace}-guarded"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                "resources": ["secrets"]}]},
            "matchConditions": [{"name": "guarded",
                                 "expression": "object.metadata.name == 'guarded'"}],
            "validations": [{"expression": "false", "messageExpression":
                             "'refusing password ' + string(object.data['password'])"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"], "matchResources": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}},
    }
    for obj in (policy, binding):
        cluster.kubectl_run("apply", "-f", "-", input=json.dumps(obj))
    probe = yaml.safe_load(GUARDED_SECRET)
    answers: list[str] = []

    def refusing() -> bool:
        result = cluster.kubectl_run("apply", "-n", namespace, "--dry-run=server", "-f", "-",
                                     input=json.dumps(probe), check=False)
        answers.append(result.stderr.strip() or result.stdout.strip())
        # In force, and quoting the value (CEL sees a Secret's data as base64 text).
        return base64.b64encode(GUARDED.encode()).decode() in result.stderr

    wait_for(refusing, 30, "the admission policy to be in force", lambda: answers[-1:])
    return name


def test_secret_data_never_appears_in_get_diff_events_or_the_log(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo: TestRepo = daemon.create_repo("apps", {"app/settings.yaml": SETTINGS.format(v=1),
                                                 "app/creds.yaml": SECRETS})
    policy = _refuse_guarded_secrets(cluster, namespace)
    try:
        apply(cluster, namespace, manual_app(daemon, namespace))
        with running_reconciler(cluster, namespace, tmp_path, resync=HOUR) as controller:
            wait_revision(cluster, namespace, repo.head())
            synced = cli(cluster, namespace, tmp_path, "sync", "web", "--timeout", "60s")
            assert synced.returncode == 0, (synced.stdout, synced.stderr)
            # A second Secret the API server refuses, quoting the value it refuses.
            repo.commit({"app/guarded.yaml": GUARDED_SECRET}, "a guarded secret")
            failed = cli(cluster, namespace, tmp_path, "sync", "web", "--timeout", "60s")
            assert failed.returncode == 1, (failed.stdout, failed.stderr)
            state = app_status(cluster, namespace, "web")["operationState"]
            assert state["phase"] in ("Failed", "Error")
            assert "refusing password ++++++++" in json.dumps(state)  # it was quoted
            # Someone edits the live Secret: a diff of a Secret to show.
            cluster.kubectl_run("patch", "-n", namespace, "secret", "creds", "--type=merge",
                                "-p", json.dumps({"stringData": {"password": LIVE_EDIT}}))

            shown = {
                "get": cli(cluster, namespace, tmp_path, "get", "web"),
                "get -o yaml": cli(cluster, namespace, tmp_path, "get", "web", "-o", "yaml"),
                "get --refresh": cli(cluster, namespace, tmp_path, "get", "web",
                                     "--refresh", "-o", "json"),
            }
            # An empty answer would leak nothing: each command must have shown the app.
            assert all(r.returncode == 0 and "web" in r.stdout for r in shown.values()), \
                {k: r.stderr for k, r in shown.items()}
            outputs = {"sync": failed.stdout + failed.stderr,
                       **{k: r.stdout for k, r in shown.items()}}
            diff = cli(cluster, namespace, tmp_path, "diff", "web")
            assert diff.returncode == 1, diff.stderr
            outputs["diff"] = diff.stdout + diff.stderr
            # The diff still says the password changed: two different masks.
            assert "-  password: ++++++++++++" in diff.stdout.splitlines(), diff.stdout
            assert "+  password: ++++++++" in diff.stdout.splitlines(), diff.stdout
            outputs["events"] = cluster.kubectl_run("get", "events", "-n", namespace,
                                                    "-o", "json").stdout
            assert "OperationFailed" in outputs["events"]
        outputs["controller log"] = controller.log.read_text()
    finally:
        for kind in ("validatingadmissionpolicybinding", "validatingadmissionpolicy"):
            cluster.kubectl_run("delete", kind, policy, "--ignore-not-found", check=False)

    for value in (PASSWORD, GUARDED, LIVE_EDIT):
        for form in (value, base64.b64encode(value.encode()).decode()):
            leaks = [where for where, text in outputs.items() if form in text]
            assert not leaks, f"{form!r} shown by {leaks}"
