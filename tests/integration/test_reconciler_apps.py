"""The Application controller on the real control plane, fed by real Git repositories.

Each test serves the compat apps (`../shared/compat/gitops-apps/`) from a temporary Git
repository over `git daemon`, runs `rollouts controller --controllers reconciler` as a
real process (scoped with `-n` to the test namespace, which is also the destination), and
asserts on what the API server holds: the deployed objects and the Application's status.
Failure and safety cases are in `test_reconciler_safety.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import (
    GUESTBOOK_IMAGE,
    SECRET,
    Reconciler,
    app_status,
    application,
    apply,
    compat_repo,
    daemon,
    guestbook_with,
    image_of,
    running_reconciler,
    wait_app,
)
from tests.integration.support import get, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest


# -- tests ----------------------------------------------------------------------------------


def test_guestbook_is_synced_and_healthy(cluster: TestCluster, namespace: str,
                                         daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    apply(cluster, namespace, application("guestbook", daemon.url("apps"), "guestbook",
                                          namespace))
    with running_reconciler(cluster, namespace, tmp_path):
        status = wait_app(cluster, namespace, "guestbook", revision=repo.head())
    assert status["sourceType"] == "Directory"
    assert {(r["kind"], r["name"], r["status"]) for r in status["resources"]} == {
        ("Deployment", "guestbook-ui", "Synced"), ("Service", "guestbook-ui", "Synced")}
    operation = status["operationState"]
    assert operation["phase"] == "Succeeded"
    assert operation["operation"]["initiatedBy"] == {"automated": True}
    assert [r["status"] for r in operation["syncResult"]["resources"]] == ["Synced", "Synced"]
    assert status["history"][0]["revision"] == repo.head()
    assert status["summary"]["images"] == ["gcr.io/google-samples/gb-frontend:v5"]
    deployment = get(cluster, namespace, "deployment", "guestbook-ui")
    assert deployment["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == \
        f"guestbook:apps/Deployment:{namespace}/guestbook-ui"
    # Compared again after the sync ended (what `argocd app wait` checks).
    assert stamp(status["reconciledAt"]) >= stamp(operation["finishedAt"])


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def kube_requests(controller: Reconciler) -> dict[str, float]:
    """`rollouts_kube_requests_total` by verb, from the controller's /metrics."""
    match = re.search(r"serving /metrics on 127\.0\.0\.1:(\d+)", controller.log.read_text())
    assert match is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {verb: float(value) for verb, value in
            re.findall(r'^rollouts_kube_requests_total\{verb="(\w+)"\} (\S+)$', text, re.M)}


def test_a_synced_app_costs_no_requests_but_watches(cluster: TestCluster, namespace: str,
                                                    daemon: GitDaemon, tmp_path: Path) -> None:
    compat_repo(daemon, "guestbook")
    apply(cluster, namespace, application("guestbook", daemon.url("apps"), "guestbook",
                                          namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=600) as controller:
        wait_app(cluster, namespace, "guestbook")
        time.sleep(3)  # let the last status writes and their echoes settle
        before = kube_requests(controller)
        time.sleep(5)
        after = kube_requests(controller)
    changed = {verb: after[verb] - before.get(verb, 0) for verb in after
               if after[verb] != before.get(verb, 0)}
    assert set(changed) <= {"watch"}, changed


def test_kustomize_and_helm_guestbooks_are_synced_and_healthy(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    compat_repo(daemon, "kustomize-guestbook", "helm-guestbook")
    for name in ("kustomize-guestbook", "helm-guestbook"):
        apply(cluster, namespace, application(name, daemon.url("apps"), name, namespace))
    with running_reconciler(cluster, namespace, tmp_path):
        kustomize = wait_app(cluster, namespace, "kustomize-guestbook")
        helm = wait_app(cluster, namespace, "helm-guestbook")
    assert kustomize["sourceType"] == "Kustomize"
    assert {(r["kind"], r["name"]) for r in kustomize["resources"]} == {
        ("Deployment", "kustomize-guestbook-ui"), ("Service", "kustomize-guestbook-ui")}
    assert helm["sourceType"] == "Helm"
    assert {(r["kind"], r["name"]) for r in helm["resources"]} == {
        ("Deployment", "helm-guestbook"), ("Service", "helm-guestbook")}
    labels = get(cluster, namespace, "deployment", "helm-guestbook")["metadata"]["labels"]
    assert labels["release"] == "helm-guestbook"


def _results(status: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(r["syncPhase"], r["kind"], r["name"], r.get("hookPhase") or r["status"])
            for r in status["operationState"]["syncResult"]["resources"]]


def test_sync_waves_run_in_order(cluster: TestCluster, namespace: str, daemon: GitDaemon,
                                 tmp_path: Path) -> None:
    repo = compat_repo(daemon, "sync-waves")
    apply(cluster, namespace, application("waves", daemon.url("apps"), "sync-waves",
                                          namespace))
    with running_reconciler(cluster, namespace, tmp_path):
        status = wait_app(cluster, namespace, "waves", timeout=90, check=lambda s: (
            (s.get("operationState") or {}).get("phase") == "Succeeded"))
    results = _results(status)
    schema_job = results[0][2]
    assert schema_job.startswith(f"upgrade-sql-schema{repo.head()[:7]}-presync-")
    assert results == [
        ("PreSync", "Job", schema_job, "Succeeded"),
        ("Sync", "Service", "backend", "Synced"),
        ("Sync", "ReplicaSet", "backend", "Synced"),
        ("Sync", "Job", "maint-page-up", "Succeeded"),
        ("Sync", "Service", "frontend", "Synced"),
        ("Sync", "ReplicaSet", "frontend", "Synced"),
        ("Sync", "Job", "maint-page-down", "Succeeded"),
    ]
    # Each wave waited for the one before: a wave's objects are younger than the
    # completion of the hook before them (timestamps have one-second resolution).
    up = get(cluster, namespace, "job", "maint-page-up")
    frontend = get(cluster, namespace, "replicaset", "frontend")
    backend = get(cluster, namespace, "replicaset", "backend")
    schema = get(cluster, namespace, "job", schema_job)
    assert schema["status"]["completionTime"] <= backend["metadata"]["creationTimestamp"]
    assert up["status"]["completionTime"] <= frontend["metadata"]["creationTimestamp"]
    # Hooks are shown as hooks, and do not count as the app's resources to sync.
    hooks = {r["name"] for r in status["resources"] if r.get("hook")}
    assert hooks == {schema_job, "maint-page-up", "maint-page-down"}


def test_pre_and_post_sync_hooks_wrap_the_sync(cluster: TestCluster, namespace: str,
                                               daemon: GitDaemon, tmp_path: Path) -> None:
    compat_repo(daemon, "kustomize-guestbook", "pre-post-sync")
    apply(cluster, namespace, application("hooks", daemon.url("apps"), "pre-post-sync",
                                          namespace))
    with running_reconciler(cluster, namespace, tmp_path):
        status = wait_app(cluster, namespace, "hooks", timeout=90, check=lambda s: (
            (s.get("operationState") or {}).get("phase") == "Succeeded"))
        assert _results(status) == [
            ("PreSync", "Job", "pre-post-sync-before", "Succeeded"),
            ("Sync", "Service", "pre-post-sync-kustomize-guestbook-ui", "Synced"),
            ("Sync", "Deployment", "pre-post-sync-kustomize-guestbook-ui", "Synced"),
            ("PostSync", "Job", "pre-post-sync-after", "Succeeded"),
        ]
        # HookSucceeded: both jobs are deleted once they succeeded.
        wait_for(lambda: not json.loads(cluster.kubectl_run(
            "get", "jobs", "-n", namespace, "-o", "json").stdout)["items"], 30,
            "the hook jobs to be deleted")


# -- Git changes reach the cluster: by polling, by webhook ---------------------------------


def github_push(url: str, ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "repository": {
        "html_url": url.replace("git://", "https://"), "clone_url": url + ".git",
        "default_branch": "main"}}).encode()


def github_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={signature}"}


def test_a_new_commit_is_applied_within_one_poll(cluster: TestCluster, namespace: str,
                                                 daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    apply(cluster, namespace, application("guestbook", daemon.url("apps"), "guestbook",
                                          namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=3):
        wait_app(cluster, namespace, "guestbook", revision=repo.head())
        sha = repo.commit(guestbook_with("v6"), "new image")
        committed = time.monotonic()
        wait_for(lambda: image_of(cluster, namespace, "deployment", "guestbook-ui") ==
                 GUESTBOOK_IMAGE.format(tag="v6"), 20, "the new image to be applied")
        elapsed = time.monotonic() - committed
        status = wait_app(cluster, namespace, "guestbook", revision=sha)
    assert elapsed < 3 * 1.1 + 3, f"applied {elapsed:.1f} s after the commit"
    assert [entry["revision"] for entry in status["history"]][-2:] == [
        status["history"][0]["revision"], sha]


def test_a_signed_webhook_applies_a_commit_at_once(cluster: TestCluster, namespace: str,
                                                   daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    url = daemon.url("apps")
    apply(cluster, namespace, application("guestbook", url, "guestbook", namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=600) as controller:
        first = repo.head()
        wait_app(cluster, namespace, "guestbook", revision=first)
        repo.commit(guestbook_with("v6"), "new image")
        body = github_push(url)

        # A bad signature, or none, is refused and changes nothing.
        code, answer = controller.post_webhook(body, github_headers(body, "wrong"))
        assert code == 401, answer
        code, _ = controller.post_webhook(body, {"X-GitHub-Event": "push"})
        assert code == 401
        time.sleep(3)
        assert image_of(cluster, namespace, "deployment", "guestbook-ui") == \
            GUESTBOOK_IMAGE.format(tag="v5")
        assert app_status(cluster, namespace, "guestbook")["sync"]["revision"] == first

        # A signed push to the branch refreshes the app at once.
        code, answer = controller.post_webhook(body, github_headers(body))
        assert (code, answer) == (200, {"refreshed": [f"{namespace}/guestbook"]})
        wait_for(lambda: image_of(cluster, namespace, "deployment", "guestbook-ui") ==
                 GUESTBOOK_IMAGE.format(tag="v6"), 10, "the webhook's commit to be applied")

        # GitLab's token header works the same way; a push to another branch is ignored.
        sha = repo.commit(guestbook_with("v7"), "newer image")
        gitlab = json.dumps({"ref": "refs/heads/other", "project": {
            "git_http_url": url.replace("git://", "http://"), "default_branch": "main"}})
        headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
        assert controller.post_webhook(gitlab.encode(), headers) == (200, {"refreshed": []})
        gitlab = gitlab.replace("refs/heads/other", "refs/heads/main")
        assert controller.post_webhook(gitlab.encode(), headers)[0] == 200
        wait_app(cluster, namespace, "guestbook", revision=sha, timeout=10)
        assert image_of(cluster, namespace, "deployment", "guestbook-ui") == \
            GUESTBOOK_IMAGE.format(tag="v7")


# -- drift --------------------------------------------------------------------------------


def test_self_heal_reverts_drift_and_without_it_the_app_is_out_of_sync(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    compat_repo(daemon, "guestbook", "kustomize-guestbook")
    url = daemon.url("apps")
    apply(cluster, namespace, application("healed", url, "guestbook", namespace))
    apply(cluster, namespace, application("drifting", url, "kustomize-guestbook", namespace,
                                          self_heal=False))
    drifted = json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                           "value": "nginx:drift"}])
    with running_reconciler(cluster, namespace, tmp_path, resync=600):
        wait_app(cluster, namespace, "healed")
        wait_app(cluster, namespace, "drifting")
        for name in ("guestbook-ui", "kustomize-guestbook-ui"):
            cluster.kubectl_run("patch", "deployment", name, "-n", namespace, "--type=json",
                                "-p", drifted)
        edited = time.monotonic()
        wait_for(lambda: image_of(cluster, namespace, "deployment", "guestbook-ui") ==
                 GUESTBOOK_IMAGE.format(tag="v5"), 15, "self-heal to revert the image")
        assert time.monotonic() - edited < 10

        def deployment_out_of_sync(status: dict[str, Any]) -> bool:
            return any(r["kind"] == "Deployment" and r["status"] == "OutOfSync"
                       for r in status["resources"])

        wait_app(cluster, namespace, "drifting", sync="OutOfSync", health=None,
                 check=deployment_out_of_sync, timeout=15)
        time.sleep(2)
        assert image_of(cluster, namespace, "deployment", "kustomize-guestbook-ui") == \
            "nginx:drift"
        healed = wait_app(cluster, namespace, "healed")
    reasons = [e["reason"] for e in json.loads(cluster.kubectl_run(
        "get", "events", "-n", namespace, "-o", "json",
        "--field-selector=involvedObject.name=healed").stdout)["items"]]
    assert "OperationStarted" in reasons and "OperationCompleted" in reasons
    assert healed["operationState"]["operation"]["initiatedBy"] == {"automated": True}


def test_a_field_owned_by_another_controller_is_not_fought_over(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = compat_repo(daemon, "guestbook")
    apply(cluster, namespace, application("guestbook", daemon.url("apps"), "guestbook",
                                          namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=2):
        wait_app(cluster, namespace, "guestbook")
        # An HPA scales the Deployment: another manager now owns spec.replicas.
        cluster.kubectl_run("patch", "deployment", "guestbook-ui", "-n", namespace,
                            "--field-manager=hpa-controller", "--type=merge",
                            "-p", json.dumps({"spec": {"replicas": 3}}))
        time.sleep(3)
        wait_app(cluster, namespace, "guestbook")
        sha = repo.commit(guestbook_with("v6"), "new image")
        wait_app(cluster, namespace, "guestbook", revision=sha, timeout=20)
        deployment = get(cluster, namespace, "deployment", "guestbook-ui")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
        GUESTBOOK_IMAGE.format(tag="v6")


# -- an Application that carries a Rollout ----------------------------------------------------

ROLLOUT_APP = """
apiVersion: v1
kind: Service
metadata: {{name: web-stable}}
spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-canary}}
spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: "nginx:{tag}"}}]}}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      steps: [{{setWeight: 50}}, {{pause: {{}}}}]
"""


def test_an_application_with_a_rollout_shows_the_canary_pause(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = daemon.create_repo("apps", {"web/app.yaml": ROLLOUT_APP.format(tag="1.25")})
    apply(cluster, namespace, application("web", daemon.url("apps"), "web", namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=2,
                            controllers="rollouts,reconciler"):
        wait_app(cluster, namespace, "web", timeout=60)
        sha = repo.commit({"web/app.yaml": ROLLOUT_APP.format(tag="1.26")}, "new image")
        status = wait_app(cluster, namespace, "web", revision=sha, health="Suspended",
                          timeout=30)
        rollout = get(cluster, namespace, "rollout", "web")
        assert rollout["status"]["phase"] == "Paused"
        assert rollout["status"]["currentStepIndex"] == 1
        suspended = [r for r in status["resources"] if r["kind"] == "Rollout"]
        assert suspended[0]["health"]["status"] == "Suspended"
        # The Rollout controller's writes (status, Service selectors) are not drift.
        assert status["sync"]["status"] == "Synced"
        result = subprocess.run(
            [sys.executable, "-m", "rollouts.cli.main", "promote", "web", "-n", namespace,
             f"--kubeconfig={cluster.kubeconfig}"], capture_output=True, text=True, timeout=60,
            check=False)
        assert result.returncode == 0, result.stderr
        wait_app(cluster, namespace, "web", revision=sha, health="Healthy", timeout=60)
