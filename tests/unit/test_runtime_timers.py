"""Timers: one job per (key, reason), firing only `queue.add(key)`.

These use real time (APScheduler has its own clock thread), with delays of a tenth of
a second, and assert only "fired" or "did not fire".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rollouts.runtime import FakeClock, Timers, WorkQueue

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SOON = timedelta(seconds=0.1)
FIRE_WAIT = 0.6  # generous: the assertion is "fired", not "fired on time"


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


def test_given_a_timer_when_its_time_comes_then_the_key_is_enqueued(
    timers: Timers, queue: WorkQueue, clock: FakeClock
) -> None:
    timers.at("shop/web", clock.now() + SOON, "pause-expiry")
    assert timers.pending("shop/web") == {"pause-expiry": clock.now() + SOON}
    assert queue.get(timeout=FIRE_WAIT) == "shop/web"
    assert timers.pending("shop/web") == {}


def test_given_a_time_in_the_past_then_the_key_is_enqueued_at_once(
    timers: Timers, queue: WorkQueue, clock: FakeClock
) -> None:
    timers.at("shop/web", clock.now() - timedelta(minutes=5), "scale-down")
    assert queue.get(timeout=0) == "shop/web"
    assert timers.pending("shop/web") == {}


def test_given_a_timer_when_rescheduled_for_the_same_reason_then_it_replaces_the_first(
    timers: Timers, queue: WorkQueue, clock: FakeClock
) -> None:
    timers.at("shop/web", clock.now() + SOON, "pause-expiry")
    later = clock.now() + timedelta(hours=1)
    timers.at("shop/web", later, "pause-expiry")
    assert timers.pending("shop/web") == {"pause-expiry": later}
    assert queue.get(timeout=0.3) is None


def test_given_timers_for_different_reasons_then_each_is_kept(
    timers: Timers, clock: FakeClock
) -> None:
    pause_ends = clock.now() + timedelta(minutes=1)
    next_measurement = clock.now() + timedelta(seconds=30)
    timers.at("shop/web", pause_ends, "pause-expiry")
    timers.at("shop/web", next_measurement, "measurement")
    assert timers.pending("shop/web") == {
        "pause-expiry": pause_ends,
        "measurement": next_measurement,
    }


def test_given_timers_for_a_key_when_cancelled_then_none_of_them_fires(
    timers: Timers, queue: WorkQueue, clock: FakeClock
) -> None:
    timers.at("shop/web", clock.now() + SOON, "pause-expiry")
    timers.at("shop/web", clock.now() + SOON, "measurement")
    timers.at("shop/api", clock.now() + timedelta(hours=1), "pause-expiry")
    timers.cancel("shop/web")
    assert timers.pending("shop/web") == {}
    assert timers.pending("shop/api") != {}
    assert queue.get(timeout=0.3) is None


def test_given_two_timers_when_one_reason_is_cancelled_then_the_other_still_fires(
    timers: Timers, queue: WorkQueue, clock: FakeClock
) -> None:
    timers.at("shop/web", clock.now() + timedelta(hours=1), "pause-expiry")
    timers.at("shop/web", clock.now() + SOON, "measurement")
    timers.cancel("shop/web", "pause-expiry")
    assert set(timers.pending("shop/web")) == {"measurement"}
    assert queue.get(timeout=FIRE_WAIT) == "shop/web"


def test_given_a_timer_set_before_start_when_started_then_it_fires(
    queue: WorkQueue, clock: FakeClock
) -> None:
    timers = Timers(queue, clock)
    try:
        timers.at("shop/web", clock.now() + SOON, "progress-deadline")
        timers.start()
        assert queue.get(timeout=FIRE_WAIT) == "shop/web"
    finally:
        timers.shutdown()


def test_given_shut_down_timers_then_new_timers_are_ignored(
    queue: WorkQueue, clock: FakeClock
) -> None:
    timers = Timers(queue, clock)
    timers.start()
    timers.shutdown()
    timers.at("shop/web", clock.now() + SOON, "pause-expiry")
    assert timers.pending("shop/web") == {}
    timers.shutdown()  # twice is fine


def test_a_naive_datetime_is_refused(timers: Timers) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        timers.at("shop/web", datetime(2024, 5, 1, 12, 0), "pause-expiry")


def test_given_a_plan_without_an_earlier_reason_then_that_timer_is_cancelled(
    timers: Timers, queue: WorkQueue, clock: FakeClock
) -> None:
    # Progressing: the progress deadline is planned. Healthy: the next plan has none.
    timers.plan("shop/web", {"deadline": clock.now() + SOON})
    pause_ends = clock.now() + timedelta(hours=1)
    timers.plan("shop/web", {"pause": pause_ends})
    assert timers.pending("shop/web") == {"pause": pause_ends}
    assert queue.get(timeout=FIRE_WAIT) is None
    timers.plan("shop/web", {})
    assert timers.pending("shop/web") == {}
