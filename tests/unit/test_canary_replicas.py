"""The worked examples of rollouts.canary.replicas' docstring, and its invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollouts.canary.replicas import (
    SetCounts,
    basic_canary_counts,
    surge_and_unavailable,
    target_counts,
)


def _step(n: int, weight: int, surge: int, unavailable: int, canary: int, stable: int
          ) -> tuple[int, int]:
    return basic_canary_counts(
        spec_replicas=n, weight=weight, max_surge=surge, max_unavailable=unavailable,
        canary=SetCounts(canary, canary), stable=SetCounts(stable, stable), older_replicas=0,
    )


@pytest.mark.parametrize(
    ("n", "weight", "surge", "unavailable", "before", "after"),
    [
        (10, 10, 1, 1, (0, 10), (1, 9)),
        (10, 30, 3, 0, (0, 10), (3, 10)),
        (10, 30, 0, 5, (0, 10), (0, 7)),
        (10, 5, 1, 1, (0, 10), (1, 10)),
        (1, 5, 1, 0, (0, 1), (1, 1)),
        (1, 95, 1, 0, (0, 1), (1, 1)),
    ],
)
def test_worked_examples_from_the_docstring(
    n: int, weight: int, surge: int, unavailable: int,
    before: tuple[int, int], after: tuple[int, int],
) -> None:
    assert _step(n, weight, surge, unavailable, *before) == after


def test_ten_replicas_at_41_percent_target_four_canary_six_stable() -> None:
    assert target_counts(10, 41, max_surge=3) == (4, 6)


def test_given_surge_the_stable_shrinks_once_the_canary_is_available() -> None:
    # 10 replicas, 30%, surge 3: first 3/10, then with the canary available, 3/7.
    assert _step(10, 30, 3, 0, 3, 10) == (3, 7)


def test_given_no_surge_the_canary_follows_once_room_is_made() -> None:
    assert _step(10, 30, 0, 5, 0, 7) == (3, 7)


def test_abort_returns_pods_to_stable_before_dropping_the_canary() -> None:
    # weight 0 (abort) from 3/7 with surge 3: stable grows back to 10 first.
    assert _step(10, 0, 3, 0, 3, 7) == (3, 10)
    assert _step(10, 0, 3, 0, 3, 10) == (0, 10)


def test_without_a_stable_set_the_canary_takes_all_replicas() -> None:
    counts = basic_canary_counts(
        spec_replicas=5, weight=20, max_surge=2, max_unavailable=1,
        canary=SetCounts(0, 0), stable=None, older_replicas=0,
    )
    assert counts == (5, 0)


def test_older_sets_drain_before_canary_or_stable_shrink() -> None:
    counts = basic_canary_counts(
        spec_replicas=10, weight=50, max_surge=3, max_unavailable=0,
        canary=SetCounts(0, 0), stable=SetCounts(10, 10), older_replicas=2,
    )
    assert counts == (1, 10)


def test_int_or_percent_rounding() -> None:
    assert surge_and_unavailable("25%", "25%", 10) == (3, 2)
    assert surge_and_unavailable(0, 0, 10) == (0, 1)


@given(
    n=st.integers(min_value=2, max_value=200),
    weight=st.integers(min_value=1, max_value=99),
    surge=st.integers(min_value=0, max_value=5),
)
def test_a_weight_between_1_and_99_never_gives_zero_canary_pods(
    n: int, weight: int, surge: int
) -> None:
    canary, stable = target_counts(n, weight, surge)
    assert canary >= 1
    assert canary + stable in (n, n + 1)
    if surge == 0:
        assert canary + stable == n


@given(
    n=st.integers(min_value=1, max_value=50),
    weight=st.integers(min_value=0, max_value=100),
    surge=st.integers(min_value=0, max_value=5),
    unavailable=st.integers(min_value=0, max_value=5),
)
def test_converges_to_target_within_budgets(
    n: int, weight: int, surge: int, unavailable: int
) -> None:
    """Iterating with every pod becoming available reaches the target, never exceeding
    N + surge pods nor dropping below N - unavailable available pods."""
    if surge == 0 and unavailable == 0:
        unavailable = 1
    canary, stable = 0, n
    target = target_counts(n, weight, surge)
    for _ in range(4 * n + 10):
        new = _step(n, weight, surge, unavailable, canary, stable)
        assert new[0] + new[1] <= max(n + surge, canary + stable)
        # Scale-downs happen only from available pods: what remains keeps the floor.
        assert min(new[0], canary) + min(new[1], stable) >= min(n - unavailable, canary + stable)
        if new == (canary, stable):
            break
        canary, stable = new
    assert (canary, stable) == target
