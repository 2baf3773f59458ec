"""The Git server outage: an Application (automated sync with prune and self-heal) whose
source is a real `git daemon`; a commit changes several objects and adds one, then the
daemon stops at a random moment within 0.5 s (mostly before the next poll fetched it)
and comes back on the same port.

Right = the Application ends Synced at the new commit with every object as committed;
nothing was deleted meanwhile (a ConfigMap watch sees no DELETED, every object keeps its
uid); the controller process never restarted and still leads.
Neighbours: `harness`; `tests/integration/gitserver.py` (the daemon and repository).
"""

from __future__ import annotations

import random
import socket
import subprocess
import threading
import time
from typing import Any

from rollouts.kube import APPLICATION, CONFIG_MAP, Informer, KubeError
from tests.chaos.harness import (
    CLUSTER_DIR,
    RUN_TIMEOUT,
    Lab,
    Outcome,
    Wrong,
    wait_for,
)
from tests.integration.gitserver import GitDaemon

OBJECTS = 4
"""ConfigMaps the Application holds; each run's commit changes all of them and adds one."""
RESYNC_SECONDS = 2.0
"""`--app-resync` of the reconciler: how often it polls Git."""
OUTAGE_SECONDS = 10.0
"""How long the Git server stays down (several polls fail meanwhile)."""
STOP_WITHIN_SECONDS = 0.5
"""The server stops at a random moment this soon after the commit, mostly before the
controller's next poll fetched it (the runs where it had are counted in the notes)."""
APP = "chaos-app"


class SamePortDaemon(GitDaemon):
    """`git daemon` that comes back on the port it had, as a restarted server would."""

    def start(self) -> None:
        if not self.port:
            super().start()
            return
        self._process = subprocess.Popen(
            ["git", "daemon", f"--base-path={self.root}", "--export-all", "--reuseaddr",
             "--informative-errors", f"--port={self.port}", "--listen=127.0.0.1",
             str(self.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise Wrong(f"git daemon did not listen again on port {self.port}")


def _files(run: int, extra: bool) -> dict[str, str | None]:
    files: dict[str, str | None] = {
        f"app/cm-{i}.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n"
                            f"data:\n  run: '{run}'\n" for i in range(OBJECTS)}
    if extra:
        files[f"app/extra-{run}.yaml"] = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                          f"  name: extra-{run}\ndata:\n  run: '{run}'\n")
    return files


class _Deletions:
    """Every ConfigMap deletion in the namespace, from a watch."""

    def __init__(self, lab: Lab, namespace: str) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.informer = Informer(lab.client, CONFIG_MAP, namespace)
        self.informer.add_handler(self._on)
        self.informer.start()
        self.informer.wait_for_sync(30)

    def _on(self, kind: str, obj: dict[str, Any], _old: Any) -> None:
        if kind == "DELETED":
            with self.lock:
                self.seen.append(str(obj["metadata"]["name"]))

    def take(self) -> list[str]:
        with self.lock:
            seen, self.seen = self.seen, []
        return seen


def git_stop(lab: Lab, n: int, rng: random.Random) -> Outcome:
    outcome = Outcome("git-stop", n)
    namespace = lab.namespace("chaos-git")
    root = CLUSTER_DIR / "chaos-git"
    daemon = SamePortDaemon(root)
    daemon.start()
    controller = lab.controller(
        "reconciler", "git-stop", "-n", namespace, "--app-resync", str(RESYNC_SECONDS),
        "--repo-cache", str(root / "cache"))
    deletions: _Deletions | None = None
    already: list[str] = []
    try:
        repo = daemon.create_repo(f"apps-{int(time.time())}")
        sha = repo.commit(_files(0, extra=False), "the first objects")
        url = f"git://127.0.0.1:{daemon.port}/{repo.path.name}"
        lab.client.create(APPLICATION, namespace, {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": APP},
            "spec": {"project": "default",
                     "source": {"repoURL": url, "targetRevision": "HEAD", "path": "app"},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": namespace},
                     "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}})
        controller.wait_ready()
        pid = controller.process.pid
        _wait_synced(lab, namespace, sha, 0)
        deletions = _Deletions(lab, namespace)
        for index in range(1, n + 1):
            problems: list[str] = []
            try:
                before = _uids(lab, namespace)
                sha = repo.commit(_files(index, extra=True), f"run {index}: change them all")
                time.sleep(rng.uniform(0, STOP_WITHIN_SECONDS))
                daemon.stop()
                if _revision(lab, namespace) == sha:
                    already.append(str(index))
                problems += _hold_during_outage(lab, namespace, before)
                daemon.start()
                _wait_synced(lab, namespace, sha, index)
                after = _uids(lab, namespace)
                changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
                if changed:
                    problems.append(f"objects replaced or gone (uid before, after): {changed}")
            except Wrong as problem:
                problems.append(str(problem))
            deleted = deletions.take()
            if deleted:
                problems.append(f"ConfigMaps deleted: {deleted}")
            if not controller.alive() or controller.process.pid != pid:
                problems.append(f"the controller process exited: {controller.tail(600)!r}")
            elif lab.holder("reconciler") != controller.identity:
                problems.append(f"the controller no longer holds the Lease "
                                f"({lab.holder('reconciler')!r})")
            outcome.judge(index, problems)
            if not problems:
                # The extra object leaves Git: pruning it then is right, not a loss.
                sha = repo.commit({f"app/extra-{index}.yaml": None}, "drop the extra")
                try:
                    _wait_synced(lab, namespace, sha, index, extra=False)
                except Wrong as problem:
                    outcome.notes.append(f"after run {index}: {problem}")
                deletions.take()
        outcome.notes.append(f"Git down {OUTAGE_SECONDS:.0f} s, resync {RESYNC_SECONDS:.0f} s; "
                             f"new commit already applied before the stop in runs "
                             f"{', '.join(already) or 'none'}")
    finally:
        if deletions is not None:
            deletions.informer.stop()
        controller.end()
        daemon.stop()
    return outcome


def _uids(lab: Lab, namespace: str) -> dict[str, str]:
    return {str(cm["metadata"]["name"]): str(cm["metadata"]["uid"])
            for cm in lab.client.list(CONFIG_MAP, namespace).items
            if str(cm["metadata"]["name"]).startswith(("cm-", "extra-"))
            and not cm["metadata"].get("deletionTimestamp")}


def _revision(lab: Lab, namespace: str) -> str:
    try:
        app = lab.client.get(APPLICATION, namespace, APP)
    except KubeError:
        return ""
    return str(((app.get("status") or {}).get("sync") or {}).get("revision") or "")


def _hold_during_outage(lab: Lab, namespace: str, before: dict[str, str]) -> list[str]:
    """Poll the objects for the whole outage: every one keeps its uid."""
    deadline = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < deadline:
        try:
            now = _uids(lab, namespace)
        except KubeError:
            now = before
        lost = sorted(k for k, v in before.items() if now.get(k) != v)
        if lost:
            return [f"during the Git outage these objects went away or were replaced: {lost}"]
        time.sleep(0.2)
    return []


def _wait_synced(lab: Lab, namespace: str, sha: str, run: int, extra: bool = True) -> None:
    def synced() -> bool:
        app = lab.client.get(APPLICATION, namespace, APP)
        sync = (app.get("status") or {}).get("sync") or {}
        if sync.get("status") != "Synced" or sync.get("revision") != sha:
            return False
        data = {str(cm["metadata"]["name"]): (cm.get("data") or {}).get("run")
                for cm in lab.client.list(CONFIG_MAP, namespace).items}
        wanted = {f"cm-{i}": str(run) for i in range(OBJECTS)}
        if run and extra:
            wanted[f"extra-{run}"] = str(run)
        return all(data.get(k) == v for k, v in wanted.items())

    wait_for(synced, RUN_TIMEOUT, f"{APP} Synced at {sha[:8]} with run {run}'s objects",
             lambda: (lab.client.get(APPLICATION, namespace, APP).get("status") or {}
                      ).get("sync"))

