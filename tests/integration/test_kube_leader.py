"""Leader election on one real Lease: two electors in-process, then two real controller
processes failing over on SIGKILL and handing over on SIGTERM (H6, issue 12 items 3-4)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rollouts.kube import CONFIG_MAP, LEASE, KubeClient, KubeError, LeaderElector, NotLeader
from rollouts.kube.errors import Conflict

if TYPE_CHECKING:
    from tests.conftest import TestCluster


@pytest.fixture
def kube(cluster: TestCluster) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield client
    client.close()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Candidate:
    def __init__(self, kube: KubeClient, namespace: str, identity: str) -> None:
        self.elector = LeaderElector(kube, namespace, "rollouts-controller", identity,
                                     lease_seconds=4, renew_seconds=3, retry_seconds=0.5)
        self.stop = threading.Event()
        self.leading = threading.Event()
        self.thread = threading.Thread(
            target=self.elector.run, args=(self.leading.set, self.leading.clear, self.stop),
            daemon=True,
        )

    def start(self) -> Candidate:
        self.thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


def test_one_leads_and_the_other_takes_over_when_it_stops(
    kube: KubeClient, namespace: str
) -> None:
    a = Candidate(kube, namespace, "replica-a").start()
    wait_for(a.leading.is_set, "replica-a to lead")
    b = Candidate(kube, namespace, "replica-b").start()
    try:
        # For a few renewals, only a leads.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert a.elector.is_leader() and not b.elector.is_leader()
            time.sleep(0.1)
        lease = kube.get(LEASE, namespace, "rollouts-controller")
        assert lease["spec"]["holderIdentity"] == "replica-a"
        assert lease["spec"]["leaseDurationSeconds"] == 4
        assert b.elector.observed_holder == "replica-a"

        stopped_at = time.monotonic()
        a.halt()
        assert not a.elector.is_leader() and not a.leading.is_set()
        # a released the Lease, so b need not wait for it to expire.
        wait_for(b.leading.is_set, "replica-b to take over", timeout=3)
        assert time.monotonic() - stopped_at < 3
        lease = kube.get(LEASE, namespace, "rollouts-controller")
        assert lease["spec"]["holderIdentity"] == "replica-b"
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        a.stop.set()
        b.halt()


def test_a_crashed_leaders_lease_is_taken_after_it_expires(
    kube: KubeClient, namespace: str
) -> None:
    crashed = LeaderElector(kube, namespace, "rollouts-controller", "crashed",
                            lease_seconds=3, renew_seconds=2, retry_seconds=0.5)
    assert crashed.try_acquire_or_renew()  # leads, then never renews nor releases
    taken_at = time.monotonic()
    b = Candidate(kube, namespace, "replica-b").start()
    try:
        wait_for(b.leading.is_set, "replica-b to take the expired lease", timeout=8)
        assert time.monotonic() - taken_at >= 2.5  # not before the lease ran out
        assert not crashed.try_acquire_or_renew()
    finally:
        b.halt()


def test_a_deposed_leaders_writes_are_fenced_from_its_renew_deadline(
    kube: KubeClient, namespace: str
) -> None:
    a = Candidate(kube, namespace, "replica-a").start()
    acting = kube.fenced(a.elector.is_leader)  # what `rollouts controller` gives controllers
    try:
        wait_for(a.leading.is_set, "replica-a to lead")
        acting.create(CONFIG_MAP, namespace, {"metadata": {"name": "work"},
                                              "data": {"step": "1"}})
        # Someone else takes the Lease (as a standby would once a's renewals stalled).
        lease = kube.get(LEASE, namespace, "rollouts-controller")
        taken = {**lease["spec"], "holderIdentity": "usurper",
                 "renewTime": lease["spec"]["renewTime"]}
        kube.replace(LEASE, namespace, {**lease, "spec": taken})
        wait_for(lambda: not a.elector.is_leader(), "replica-a to stop leading", timeout=6)
        with pytest.raises(NotLeader):
            acting.patch(CONFIG_MAP, namespace, "work", {"data": {"step": "2"}})
        with pytest.raises(NotLeader):
            acting.delete(CONFIG_MAP, namespace, "work")
        assert kube.get(CONFIG_MAP, namespace, "work")["data"] == {"step": "1"}
        assert acting.get(LEASE, namespace, "rollouts-controller")["spec"][
            "holderIdentity"] == "usurper"  # reads still work, and a never took it back
    finally:
        a.halt()


# -- two real `rollouts controller` processes on one Lease ----------------------------------

LEASE_SECONDS = 8  # long enough that "handed over at once" and "expired" are far apart


class Replica:
    """`rollouts controller --controllers rollouts` with leader election, as a child."""

    def __init__(self, cluster: TestCluster, namespace: str, log: Path) -> None:
        self.log = log
        argv = [sys.executable, "-m", "rollouts.cli.main", "controller",
                f"--kubeconfig={cluster.kubeconfig}", "-n", namespace,
                "--controllers", "rollouts", "--lease-namespace", namespace,
                "--instance-id", "failover", "--lease-duration", str(LEASE_SECONDS),
                "--renew-deadline", "5", "--retry-period", "0.5", "--port", "0"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def _find(self, pattern: str) -> str | None:
        found = re.search(pattern, self.log.read_text(errors="replace"))
        return found.group(1) if found else None

    @property
    def identity(self) -> str:
        wait_for(lambda: self._find(r"leader election on Lease \S+ as (\S+)") is not None,
                 "the replica to log its identity", timeout=30)
        return str(self._find(r"leader election on Lease \S+ as (\S+)"))

    def readyz(self) -> str:
        port = self._find(r"/metrics on 127\.0\.0\.1:(\d+)")
        if port is None:
            return "not serving yet"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                return str(answer.read().decode().strip())
        except urllib.error.HTTPError as error:  # 503 until the caches synced
            return f"{error.code}: {error.read().decode().strip()}"

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def holder(kube: KubeClient, namespace: str) -> str:
    try:
        lease = kube.get(LEASE, namespace, "rollouts-controller-rollouts-failover")
    except KubeError:
        return ""
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def test_two_controller_processes_fail_over_on_kill_and_hand_over_on_sigterm(
    kube: KubeClient, namespace: str, cluster: TestCluster, tmp_path: Path
) -> None:
    replicas = [Replica(cluster, namespace, tmp_path / f"replica-{i}.log") for i in range(2)]
    try:
        ids = [r.identity for r in replicas]
        assert ids[0] != ids[1]
        wait_for(lambda: holder(kube, namespace) in ids, "a replica to lead", timeout=30)
        leader = replicas[ids.index(holder(kube, namespace))]
        standby = replicas[1 - replicas.index(leader)]
        wait_for(lambda: standby.readyz() == "ok: standby", "the standby to be ready")
        assert leader.readyz() == "ok: leading"

        # kill -9: no release, so the standby waits for the Lease to expire as it observes it.
        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait(10)
        killed_at = time.monotonic()
        wait_for(lambda: holder(kube, namespace) == standby.identity,
                 "the standby to take over after the kill", timeout=LEASE_SECONDS + 10)
        assert time.monotonic() - killed_at >= LEASE_SECONDS - 1.5  # not before expiry
        wait_for(lambda: standby.readyz() == "ok: leading", "the new leader to say so")

        # SIGTERM: the leader stops, releases, exits 0; the newcomer leads at once.
        newcomer = Replica(cluster, namespace, tmp_path / "replica-2.log")
        replicas.append(newcomer)
        wait_for(lambda: newcomer.readyz() == "ok: standby", "the newcomer to be ready",
                 timeout=30)
        standby.process.send_signal(signal.SIGTERM)
        termed_at = time.monotonic()
        assert standby.process.wait(20) == 0, standby.log.read_text()[-3000:]
        wait_for(lambda: holder(kube, namespace) == newcomer.identity,
                 "the newcomer to take the released Lease", timeout=LEASE_SECONDS + 10)
        assert time.monotonic() - termed_at < LEASE_SECONDS - 2  # released, not expired
    finally:
        for replica in replicas:
            replica.end()


def test_a_deposed_leader_process_exits_non_zero_by_its_renew_deadline(
    kube: KubeClient, namespace: str, cluster: TestCluster, tmp_path: Path
) -> None:
    replica = Replica(cluster, namespace, tmp_path / "replica.log")
    try:
        me = replica.identity
        wait_for(lambda: holder(kube, namespace) == me, "the replica to lead", timeout=30)
        # Someone else claims the Lease: the replica can no longer renew it.
        name = "rollouts-controller-rollouts-failover"

        def intrude() -> bool:
            lease = kube.get(LEASE, namespace, name)
            lease["spec"] = {**lease["spec"], "holderIdentity": "intruder",
                             "leaseDurationSeconds": 3600}
            try:
                kube.replace(LEASE, namespace, lease)
            except Conflict:
                return False  # the leader renewed in between: try again
            return True

        wait_for(intrude, "the intruder to write the Lease")
        deposed_at = time.monotonic()
        code = replica.process.wait(30)
        log = replica.log.read_text()
        assert code == 1, log[-3000:]
        assert "lost the leader lease" in log
        # renew deadline (5 s) + grace (2 s), with slack for a loaded machine.
        assert time.monotonic() - deposed_at < 15
        assert holder(kube, namespace) == "intruder"  # and it did not take it back
    finally:
        replica.end()
