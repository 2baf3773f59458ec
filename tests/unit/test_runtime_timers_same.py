"""Re-planning a timer for the time it already has (most reconcile passes re-plan the same
wake-ups) leaves its scheduler job alone, which costs no scheduler wake-up; a clock moved
forward since still brings the job forward. Asserts "fired" / "how many jobs", not when."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollouts.runtime import FakeClock, Timers, WorkQueue

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FIRE_WAIT = 2.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def queue(clock: FakeClock) -> WorkQueue:
    return WorkQueue("timers", clock=clock)


@pytest.fixture
def timers(queue: WorkQueue, clock: FakeClock) -> Iterator[Timers]:
    timers = Timers(queue, clock)
    timers.start()
    yield timers
    timers.shutdown()


def _count_jobs(timers: Timers) -> list[Any]:
    added: list[Any] = []
    original = timers._scheduler.add_job

    def add_job(*args: Any, **kwargs: Any) -> Any:
        added.append(kwargs.get("run_date"))
        return original(*args, **kwargs)

    timers._scheduler.add_job = add_job
    return added


def test_the_same_time_planned_again_keeps_the_job(timers: Timers, queue: WorkQueue,
                                                  clock: FakeClock) -> None:
    added = _count_jobs(timers)
    when = clock.now() + timedelta(seconds=0.2)
    for _ in range(5):
        timers.at("shop/web", when, "pause")
    assert len(added) == 1
    assert queue.get(timeout=FIRE_WAIT) == "shop/web"


def test_another_time_replaces_the_job(timers: Timers, clock: FakeClock) -> None:
    added = _count_jobs(timers)
    timers.at("shop/web", clock.now() + timedelta(hours=1), "pause")
    timers.at("shop/web", clock.now() + timedelta(hours=2), "pause")
    assert len(added) == 2
    assert timers.pending("shop/web") == {"pause": clock.now() + timedelta(hours=2)}


def test_a_clock_moved_forward_brings_the_same_time_forward(
        timers: Timers, queue: WorkQueue, clock: FakeClock) -> None:
    when = clock.now() + timedelta(hours=1)
    timers.at("shop/web", when, "pause")
    clock.advance(3600 - 0.2)
    timers.at("shop/web", when, "pause")  # now due in 0.2 s: the job must move
    assert queue.get(timeout=FIRE_WAIT) == "shop/web"
