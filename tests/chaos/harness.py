"""Shared parts of the chaos harness: the dev cluster it owns, real `rollouts controller`
processes (leader election with client-go's defaults), the Lease, Events, waiting, and
the `Outcome` of one fault (runs right, failover times, what was wrong).

Neighbours: `rollout_faults` and `git_fault` use these to run scenarios; `run` prints and
records the outcomes. Nothing here judges a run: the fault modules say what is right.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollouts.devcluster import Cluster, down, up
from rollouts.devcluster.versions import cache_dir
from rollouts.kube import EVENT, LEASE, NAMESPACE, AlreadyExists, KubeClient, KubeError
from rollouts.kube.leader import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_RENEW_SECONDS,
    DEFAULT_RETRY_SECONDS,
)

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DIR = cache_dir() / "chaos-cluster"
LEASE_NAMESPACE = "chaos"
RUN_TIMEOUT = 180.0
"""Seconds a scenario may take to reach its end state before the run counts as wrong."""
START_TIMEOUT = 60.0
"""Seconds a controller process may take to log its identity and serve /readyz."""

Say = Callable[[str], None]


def say(line: str) -> None:
    print(f"   {line}", flush=True)


class Wrong(Exception):
    """A check of a run failed; the message says which check and what was seen."""


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             show: Callable[[], object] | None = None, interval: float = 0.1) -> None:
    """Poll until `predicate` holds (API errors count as 'not yet'), else `Wrong`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(KubeError, OSError):
            if predicate():
                return
        time.sleep(interval)
    seen = ""
    if show is not None:
        try:
            seen = f"; last seen: {show()}"
        except (KubeError, OSError) as problem:
            seen = f"; could not read: {problem}"
    raise Wrong(f"timed out after {timeout:.0f}s waiting for {what}{seen}")


@dataclass
class Outcome:
    """One fault's result: how many of N runs ended right, failover times, notes."""

    fault: str
    n: int
    right: int = 0
    failovers: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def judge(self, index: int, problems: list[str]) -> None:
        if problems:
            self.wrong.append(f"run {index}: " + "; ".join(problems))
            print(f"   run {index}/{self.n}: WRONG", flush=True)
            for problem in problems:
                print(f"      - {problem}", flush=True)
        else:
            self.right += 1
            print(f"   run {index}/{self.n}: right", flush=True)

    def failover(self, which: str) -> str:
        if not self.failovers:
            return "—"
        value = (statistics.median(self.failovers) if which == "p50"
                 else max(self.failovers))
        return f"{value:.1f} s"


class Lab:
    """The harness's own dev cluster, a client, and every process started on it."""

    def __init__(self) -> None:
        self.cluster: Cluster = up(say, directory=CLUSTER_DIR)
        self.client = KubeClient.from_kubeconfig(str(self.cluster.kubeconfig))
        self.logs = CLUSTER_DIR / "chaos-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.controllers: list[Controller] = []
        subprocess.run([str(self.cluster.kubectl), f"--kubeconfig={self.cluster.kubeconfig}",
                        "apply", "--server-side", "-k", str(REPO / "manifests")],
                       check=True, capture_output=True)
        self.cluster.wait_for_crds(["rollouts.argoproj.io", "analysisruns.argoproj.io",
                                    "analysistemplates.argoproj.io",
                                    "applications.argoproj.io"])
        self.namespace(LEASE_NAMESPACE)

    def namespace(self, name: str) -> str:
        with contextlib.suppress(AlreadyExists):
            self.client.create(NAMESPACE, None, {"metadata": {"name": name}})
        return name

    def controller(self, controllers: str, tag: str, *extra: str) -> Controller:
        # One log per process: a replacement never reads its predecessor's identity.
        log = self.logs / f"{tag}-{len(self.controllers)}.log"
        log.unlink(missing_ok=True)
        process = Controller(self, controllers, log, extra)
        self.controllers.append(process)
        return process

    def holder(self, controllers: str) -> str:
        name = chaos_lease(controllers)
        try:
            lease = self.client.get(LEASE, LEASE_NAMESPACE, name)
        except KubeError:
            return ""
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def close(self) -> None:
        for process in self.controllers:
            process.end()
        self.client.close()
        down(say, directory=CLUSTER_DIR)


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    """The harness's cluster for the duration; every process and the cluster stopped
    afterwards, also on Ctrl-C."""
    started = Lab()
    try:
        yield started
    finally:
        started.close()


def chaos_lease(controllers: str) -> str:
    """The Lease of one controller set here (`--lease-name`: `--instance-id` would also
    shard, so those controllers would only act on Rollouts labelled with it)."""
    return "chaos-" + "-".join(sorted(controllers.split(",")))


class Controller:
    """One `rollouts controller` process, leader election on with client-go's defaults
    (lease 15 s, renew deadline 10 s, retry period 2 s), all namespaces."""

    def __init__(self, lab_: Lab, controllers: str, log: Path, extra: tuple[str, ...]) -> None:
        self.controllers = controllers
        self.log = log
        argv = [sys.executable, "-m", "rollouts.cli.main", "controller",
                f"--kubeconfig={lab_.cluster.kubeconfig}", "--controllers", controllers,
                "--lease-namespace", LEASE_NAMESPACE, "--lease-name", chaos_lease(controllers),
                "--lease-duration", str(DEFAULT_LEASE_SECONDS),
                "--renew-deadline", str(DEFAULT_RENEW_SECONDS),
                "--retry-period", str(DEFAULT_RETRY_SECONDS), "--port", "0", *extra]
        with log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._identity = ""
        self._port = ""

    def _find(self, pattern: str) -> str:
        found = re.search(pattern, self.log.read_text(errors="replace"))
        return found.group(1) if found else ""

    @property
    def identity(self) -> str:
        if not self._identity:
            self._identity = self._find(r"leader election on Lease \S+ as (\S+)")
        return self._identity

    def readyz(self) -> str:
        if not self._port:
            self._port = self._find(r"/metrics on 127\.0\.0\.1:(\d+)")
            if not self._port:
                return "not serving yet"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self._port}/readyz",
                                        timeout=3) as answer:
                return str(answer.read().decode().strip())
        except urllib.error.HTTPError as error:
            return f"{error.code}: {error.read().decode(errors='replace').strip()}"
        except OSError as problem:
            return f"unreachable: {problem}"

    def wait_ready(self) -> Controller:
        wait_for(lambda: self.identity != "" and self.readyz().startswith("ok"),
                 START_TIMEOUT, f"controller {self.log.name} to be ready",
                 lambda: (self.alive(), self.readyz()))
        return self

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no lease release, no in-flight write finished."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def end(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def tail(self, chars: int = 1500) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def leader_of(lab_: Lab, replicas: list[Controller]) -> Controller:
    """The replica that holds the Lease and whose /readyz says it leads."""
    chosen: list[Controller] = []

    def found() -> bool:
        holder = lab_.holder(replicas[0].controllers)
        chosen[:] = [r for r in replicas if r.alive() and r.identity == holder
                     and r.readyz() == "ok: leading"]
        return bool(chosen)

    wait_for(found, 60, "a replica holding the Lease and saying 'ok: leading'",
             lambda: (lab_.holder(replicas[0].controllers),
                      [(r.identity, r.alive(), r.readyz()) for r in replicas]))
    return chosen[0]


# --- Events ---------------------------------------------------------------------------

def event_names(client: KubeClient, namespace: str, name: str) -> set[str]:
    return {str(e["metadata"]["name"]) for e in _events(client, namespace, name)}


def _events(client: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    return client.list(EVENT, namespace, field_selector=f"involvedObject.name={name}").items


def new_events(client: KubeClient, namespace: str, name: str, before: set[str]
               ) -> list[tuple[str, str]]:
    """(reason, message) of the Events about `name` recorded since `before` was taken."""
    return sorted((str(e.get("reason")), str(e.get("message")))
                  for e in _events(client, namespace, name)
                  if e["metadata"]["name"] not in before)


def count_problems(events: list[tuple[str, str]], expected: dict[str, tuple[str, str]]
                   ) -> list[str]:
    """One problem per expected Event not seen exactly once; `expected` maps a label to
    (reason, message prefix)."""
    problems = []
    for label, (reason, prefix) in expected.items():
        seen = sum(1 for r, m in events if r == reason and m.startswith(prefix))
        if seen != 1:
            problems.append(f"event {label} ({reason} '{prefix}...') seen {seen} times, "
                            "expected exactly once")
    return problems


def reasons(events: list[tuple[str, str]]) -> str:
    return ", ".join(f"{r} x{n}" for r, n in sorted(Counter(r for r, _ in events).items()))
