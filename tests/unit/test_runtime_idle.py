"""An idle controller process sleeps: the manager's run loop and the health server's
thread wake a handful of times in a few seconds, not tens of times a second (polling was
most of an idle controller's CPU), and a stop_event set by a signal handler still stops
the manager (the relay wakes the run loop). Wake-ups are counted, not timed."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry

from rollouts.runtime import Manager
from rollouts.runtime.health import HealthServer
from tests.unit.test_runtime_manager import FakeController, eventually, make_manager

IDLE_SECONDS = 2.0


class CountingEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def _run(manager: Manager, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=manager.run, args=(stop,), daemon=True)
    thread.start()
    return thread


def test_an_idle_manager_run_loop_sleeps_and_its_stop_event_still_stops_it() -> None:
    controller = FakeController()
    manager = make_manager(controller)
    wake = CountingEvent()
    manager._wake = wake
    stop = threading.Event()
    thread = _run(manager, stop)
    try:
        assert eventually(lambda: manager.liveness()[0] and controller.queue is not None)
        before = wake.waits
        time.sleep(IDLE_SECONDS)
        assert wake.waits - before <= 3, f"{wake.waits - before} wake-ups while idle"
    finally:
        stop.set()  # as the CLI's signal handler does: no call to manager.stop()
        thread.join(timeout=5)
    assert not thread.is_alive(), "run() did not return after its stop_event was set"


def test_an_idle_health_server_wakes_a_few_times_a_second_at_most() -> None:
    server = HealthServer(host="127.0.0.1", port=0, liveness=lambda: (True, "ok"),
                          readiness=lambda: (True, "ok"), registry=CollectorRegistry())
    polls = 0
    original = server._server.service_actions

    def counted() -> None:
        nonlocal polls
        polls += 1
        original()

    server._server.service_actions = counted  # type: ignore[method-assign]
    server.start()
    try:
        time.sleep(IDLE_SECONDS)
    finally:
        server.stop()
    assert polls <= IDLE_SECONDS * 2 + 2, f"{polls} polls while idle"
