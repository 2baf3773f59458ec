"""Leader election between two electors on one real Lease."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from rollouts.kube import LEASE, KubeClient, LeaderElector

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
