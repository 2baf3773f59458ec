"""A Git poll that finds nothing new writes nothing (review finding 8, the 6944ab3 bug).

The reconciler runs with `--app-resync 2`, so within the measured window every
Application polls Git several times; the test first proves those polls happened (the
controller's DEBUG line per poll, and `git ls-remote` requests on its /metrics, which the
shared poll answers make fewer than the polls but never zero), then that the controller
sent no write at all (`rollouts_kube_requests_total` by verb). Before 6944ab3 each poll
rewrote `status.reconciledAt`: one patch per poll, which this window cannot miss.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import (
    Reconciler,
    application,
    apply,
    compat_repo,
    daemon,
    running_reconciler,
    wait_app,
)

__all__ = ["daemon"]  # the fixture, imported for pytest

RESYNC = 2.0
WINDOW = 12.0
"""Seconds measured: at least 4 polls per app at resync 2 s (+10 % jitter at most)."""
WRITES = {"create", "update", "patch", "apply", "delete", "replace", "deletecollection"}


def _metrics(controller: Reconciler) -> tuple[dict[str, float], float]:
    """`rollouts_kube_requests_total` by verb, and the `git ls-remote` count."""
    match = re.search(r"serving /metrics on 127\.0\.0\.1:(\d+)", controller.log.read_text())
    assert match is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/metrics", timeout=5) as r:
        text = r.read().decode()
    verbs = {verb: float(value) for verb, value in
             re.findall(r'^rollouts_kube_requests_total\{verb="(\w+)"\} (\S+)$', text, re.M)}
    ls_remote = sum(float(value) for value in re.findall(
        r'^git_request_total\{[^}]*request_type="ls-remote"[^}]*\} (\S+)$', text, re.M))
    return verbs, ls_remote


def _polls(controller: Reconciler, app: str) -> int:
    return len(re.findall(rf"{re.escape(app)}: polled ", controller.log.read_text()))


def test_polls_that_find_nothing_new_write_nothing(cluster: TestCluster, namespace: str,
                                                   daemon: GitDaemon, tmp_path: Path) -> None:
    compat_repo(daemon, "guestbook", "kustomize-guestbook")
    names = ("guestbook", "kustomize-guestbook")
    for name in names:
        apply(cluster, namespace, application(name, daemon.url("apps"), name, namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=RESYNC) as controller:
        for name in names:
            wait_app(cluster, namespace, name)
        time.sleep(3)  # the last status writes reach the cache
        polls_before = {name: _polls(controller, f"{namespace}/{name}") for name in names}
        before, ls_before = _metrics(controller)
        time.sleep(WINDOW)
        after, ls_after = _metrics(controller)
        polls = {name: _polls(controller, f"{namespace}/{name}") - polls_before[name]
                 for name in names}
    # The window saw what it is about: each app polled Git repeatedly, Git was asked.
    assert all(count >= 4 for count in polls.values()), polls
    assert ls_after - ls_before >= 2, (ls_before, ls_after)
    writes = {verb: after[verb] - before.get(verb, 0.0) for verb in after
              if verb in WRITES and after[verb] != before.get(verb, 0.0)}
    assert writes == {}, writes


def test_a_sync_applies_each_object_once_and_the_compare_after_asks_no_dry_run(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    """The compare after a sync knows the apply's answers (`DiffCache.seed`, and for what
    it cannot seed `reconciler.diff_settled`): a dry run there would be one more `apply`
    request per object. The Service's port leaves out its defaulted `protocol`, so only
    the seed can spare its dry run."""
    files = {
        "app/cm.json": {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "settings"}, "data": {"level": "info"}},
        "app/svc.json": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                         "spec": {"clusterIP": "None", "selector": {"app": "web"},
                                  "ports": [{"port": 80, "targetPort": 8080}]}},
        "app/sa.json": {"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "web"}},
    }
    daemon.create_repo("apps", {path: json.dumps(obj) for path, obj in files.items()})
    apply(cluster, namespace, application("three", daemon.url("apps"), "app", namespace))
    with running_reconciler(cluster, namespace, tmp_path, resync=600) as controller:
        wait_app(cluster, namespace, "three")
        time.sleep(3)  # the statuses after the sync are written; nothing is pending
        verbs, _ = _metrics(controller)
    assert verbs.get("apply") == len(files), verbs
