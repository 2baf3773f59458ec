"""The manager on loss of leadership and on a clean stop (H6, issue 12 item 4).

Lost: no new work from that instant and `on_lost` is called while a worker may still
be busy (the command then ends the process). Stopped: the lease is released only once
every worker finished; a worker still busy after `shutdown_timeout` keeps it held.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from rollouts.runtime import LeaderElectionLost
from tests.unit.test_runtime_manager import (
    FakeController,
    FakeElector,
    enqueue,
    eventually,
    make_manager,
    running,
)


def test_losing_the_lease_stops_taking_work_and_calls_on_lost_at_once() -> None:
    elector = FakeElector()
    elector.grant.set()
    controller = FakeController(work_seconds=1.0)  # a reconcile still in flight
    lost = threading.Event()
    manager = make_manager(controller, leader_elector=elector, on_lost=lost.set,
                           shutdown_timeout=0.1)
    with running(manager, expect_errors=True) as run:
        enqueue(controller, "shop/web")
        assert eventually(lambda: controller.calls == ["shop/web"])
        elector.revoke.set()
        # on_lost does not wait for the busy worker to finish.
        assert lost.wait(0.5), "on_lost not called while a worker was still busy"
        assert controller.queue is not None and controller.queue.shutting_down
        enqueue(controller, "shop/other")
        run.thread.join(timeout=5)
    assert controller.calls == ["shop/web"]  # nothing new was taken
    assert len(run.errors) == 1 and isinstance(run.errors[0], LeaderElectionLost)


def test_a_clean_stop_releases_the_lease_after_the_workers_finished() -> None:
    elector = FakeElector()
    elector.grant.set()
    controller = FakeController(work_seconds=0.3)
    manager = make_manager(controller, leader_elector=elector, shutdown_timeout=5.0)
    with running(manager):
        enqueue(controller, "shop/web")
        assert eventually(lambda: controller.calls == ["shop/web"])
    assert elector.released.is_set()
    assert not controller._in_flight.get("shop/web")  # finished before the release


def test_a_worker_still_busy_at_the_stop_bound_keeps_the_lease_held() -> None:
    elector = FakeElector()
    elector.grant.set()
    controller = FakeController(work_seconds=2.0)
    manager = make_manager(controller, leader_elector=elector, shutdown_timeout=0.2)
    with running(manager):
        enqueue(controller, "shop/web")
        assert eventually(lambda: controller.calls == ["shop/web"])
    assert not elector.released.is_set()  # a standby must not act beside that worker


def test_the_controller_leader_gauge_says_who_leads() -> None:
    elector = FakeElector()
    elector.identity = "host_abc"  # type: ignore[attr-defined]
    registry = CollectorRegistry()
    manager = make_manager(FakeController(), leader_elector=elector, registry=registry)

    def leader() -> float | None:
        return registry.get_sample_value("controller_leader", {"identity": "host_abc"})

    with running(manager):
        assert eventually(lambda: manager.readiness() == (True, "ok: standby"))
        assert leader() == 0.0
        elector.grant.set()
        assert eventually(lambda: leader() == 1.0)
        assert manager.readiness() == (True, "ok: leading")
