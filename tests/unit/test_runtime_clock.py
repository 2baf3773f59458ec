"""The clock seam: real time in UTC, fake time that moves only when a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollouts.runtime import Clock, FakeClock, SystemClock

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_system_clock_tells_aware_utc_time() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(START), Clock)


def test_given_a_fake_clock_when_nobody_moves_it_then_time_stands_still() -> None:
    clock = FakeClock(START)
    assert clock.now() == START
    assert clock.now() == START


def test_given_a_fake_clock_when_advanced_then_now_moves_by_that_many_seconds() -> None:
    clock = FakeClock(START)
    clock.advance(90.5)
    assert clock.now() == START + timedelta(seconds=90.5)


def test_given_a_fake_clock_when_set_then_now_is_that_time_in_utc() -> None:
    clock = FakeClock(START)
    later = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    clock.set(later)
    assert clock.now() == later
    assert clock.now().tzinfo is UTC


def test_fake_clock_refuses_naive_datetimes_and_negative_advances() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(START).set(datetime(2024, 5, 1))
    with pytest.raises(ValueError, match=">= 0"):
        FakeClock(START).advance(-1)
