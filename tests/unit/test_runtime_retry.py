"""Retry policy: temporary errors back off exponentially per attempt, permanent ones drop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollouts.runtime import (
    RetryAction,
    RetryDecision,
    backoff_delay,
    is_temporary,
    retry_decision,
)


class _KubeLikeError(Exception):
    def __init__(self, temporary: bool) -> None:
        super().__init__("boom")
        self.temporary = temporary


def test_given_a_temporary_error_then_retry_after_a_delay_that_doubles_per_attempt() -> None:
    delays = [retry_decision(True, attempt).delay_seconds for attempt in range(4)]
    assert delays == [0.05, 0.1, 0.2, 0.4]
    assert retry_decision(True, 0) == RetryDecision(RetryAction.RETRY, 0.05)


def test_given_many_attempts_then_the_delay_stops_at_sixty_seconds() -> None:
    assert backoff_delay(10) == pytest.approx(51.2)
    assert backoff_delay(11) == 60.0
    assert backoff_delay(1000) == 60.0


def test_given_a_permanent_error_then_drop_it_without_delay() -> None:
    decision = retry_decision(False, 3)
    assert decision == RetryDecision(RetryAction.DROP, 0.0)
    assert not decision.action.retries


def test_base_and_max_delay_are_configurable() -> None:
    assert backoff_delay(0, base_delay=1.0, max_delay=3.0) == 1.0
    assert backoff_delay(5, base_delay=1.0, max_delay=3.0) == 3.0


def test_errors_say_whether_they_are_temporary_and_unknown_errors_count_as_temporary() -> None:
    assert is_temporary(_KubeLikeError(temporary=True))
    assert not is_temporary(_KubeLikeError(temporary=False))
    assert is_temporary(ValueError("a bug"))


def test_a_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(-1)


@given(attempt=st.integers(min_value=0, max_value=200))
def test_the_backoff_never_shrinks_from_one_attempt_to_the_next_and_stays_in_bounds(
    attempt: int,
) -> None:
    assert 0.05 <= backoff_delay(attempt) <= backoff_delay(attempt + 1) <= 60.0
