"""Retry policy: temporary errors back off quickly, permanent ones slowly; none is dropped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollouts.runtime import (
    PERMANENT_BASE_DELAY,
    PERMANENT_MAX_DELAY,
    ErrorKind,
    backoff_delay,
    error_kind,
    is_temporary,
    retry_delay,
)


class _KubeLikeError(Exception):
    def __init__(self, temporary: bool) -> None:
        super().__init__("boom")
        self.temporary = temporary


def test_given_a_temporary_error_then_retry_after_a_delay_that_doubles_per_attempt() -> None:
    delays = [retry_delay(ErrorKind.TEMPORARY, attempt) for attempt in range(4)]
    assert delays == [0.05, 0.1, 0.2, 0.4]


def test_given_many_attempts_then_the_delay_stops_at_sixty_seconds() -> None:
    assert backoff_delay(10) == pytest.approx(51.2)
    assert backoff_delay(11) == 60.0
    assert backoff_delay(1000) == 60.0


def test_given_a_permanent_error_then_retry_from_30_s_doubling_to_10_minutes() -> None:
    delays = [retry_delay(ErrorKind.PERMANENT, attempt) for attempt in range(7)]
    assert delays == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0]
    assert (PERMANENT_BASE_DELAY, PERMANENT_MAX_DELAY) == (30.0, 600.0)
    assert retry_delay(ErrorKind.PERMANENT, 10_000) == 600.0


def test_the_permanent_pace_is_configurable_apart_from_the_temporary_one() -> None:
    assert retry_delay(ErrorKind.PERMANENT, 1, permanent_base_delay=1.0) == 2.0
    assert retry_delay(ErrorKind.TEMPORARY, 1, permanent_base_delay=1.0) == 0.1
    assert retry_delay(ErrorKind.PERMANENT, 3, permanent_base_delay=1.0,
                       permanent_max_delay=5.0) == 5.0


def test_base_and_max_delay_are_configurable() -> None:
    assert backoff_delay(0, base_delay=1.0, max_delay=3.0) == 1.0
    assert backoff_delay(5, base_delay=1.0, max_delay=3.0) == 3.0


def test_errors_say_whether_they_are_temporary_and_unknown_errors_count_as_temporary() -> None:
    assert is_temporary(_KubeLikeError(temporary=True))
    assert not is_temporary(_KubeLikeError(temporary=False))
    assert is_temporary(ValueError("a bug"))
    assert error_kind(_KubeLikeError(temporary=False)) is ErrorKind.PERMANENT
    assert error_kind(_KubeLikeError(temporary=True)) is ErrorKind.TEMPORARY
    assert error_kind(KeyError("spec")) is ErrorKind.TEMPORARY


def test_a_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(-1)


@given(attempt=st.integers(min_value=0, max_value=200))
def test_the_backoff_never_shrinks_from_one_attempt_to_the_next_and_stays_in_bounds(
    attempt: int,
) -> None:
    assert 0.05 <= backoff_delay(attempt) <= backoff_delay(attempt + 1) <= 60.0


@given(kind=st.sampled_from(list(ErrorKind)), attempt=st.integers(min_value=0, max_value=200))
def test_a_permanent_error_never_waits_less_than_a_temporary_one(
    kind: ErrorKind, attempt: int
) -> None:
    assert retry_delay(ErrorKind.PERMANENT, attempt) >= retry_delay(kind, attempt) > 0
