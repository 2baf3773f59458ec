"""Leader election decisions: when may a candidate take the Lease, and what it writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollouts.kube import KubeClient, LeaderElector, should_acquire
from rollouts.kube.leader import format_micro_time, lease_spec, parse_micro_time

NOW = datetime(2025, 1, 1, 10, 0, 0, tzinfo=UTC)


def lease(holder: str | None, renewed: datetime | None, duration: int | None = 15,
          **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {**extra}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = format_micro_time(renewed)
    if duration is not None:
        spec["leaseDurationSeconds"] = duration
    return {"metadata": {"name": "rollouts-controller", "resourceVersion": "7"}, "spec": spec}


class TestShouldAcquire:
    def test_no_lease_yet(self) -> None:
        assert should_acquire(None, "a", NOW)

    def test_a_released_lease(self) -> None:
        assert should_acquire(lease("", NOW), "a", NOW)
        assert should_acquire(lease(None, NOW), "a", NOW)

    def test_our_own_lease_is_renewed(self) -> None:
        assert should_acquire(lease("a", NOW - timedelta(seconds=3)), "a", NOW)

    def test_our_own_expired_lease_is_ours_again(self) -> None:
        assert should_acquire(lease("a", NOW - timedelta(hours=1)), "a", NOW)

    def test_another_holders_fresh_lease_is_left_alone(self) -> None:
        assert not should_acquire(lease("b", NOW - timedelta(seconds=14)), "a", NOW)

    def test_another_holders_lease_expires_after_its_duration(self) -> None:
        assert should_acquire(lease("b", NOW - timedelta(seconds=15)), "a", NOW)
        assert should_acquire(lease("b", NOW - timedelta(seconds=60)), "a", NOW)

    def test_the_lease_duration_is_the_holders_not_ours(self) -> None:
        assert not should_acquire(lease("b", NOW - timedelta(seconds=20), 30), "a", NOW)

    def test_acquire_time_stands_in_for_a_missing_renew_time(self) -> None:
        held = lease("b", None, acquireTime=format_micro_time(NOW - timedelta(seconds=2)))
        assert not should_acquire(held, "a", NOW)

    def test_a_claim_without_times_or_duration_is_not_valid(self) -> None:
        assert should_acquire(lease("b", None), "a", NOW)
        assert should_acquire(lease("b", NOW, None), "a", NOW)
        assert should_acquire(lease("b", NOW, 0), "a", NOW)


class TestLeaseSpec:
    def test_first_leader(self) -> None:
        assert lease_spec(None, "a", 15, NOW) == {
            "holderIdentity": "a", "leaseDurationSeconds": 15,
            "acquireTime": "2025-01-01T10:00:00.000000Z",
            "renewTime": "2025-01-01T10:00:00.000000Z", "leaseTransitions": 0,
        }

    def test_renewal_keeps_the_acquire_time(self) -> None:
        held = lease("a", NOW, acquireTime="2025-01-01T09:00:00.000000Z", leaseTransitions=2)
        spec = lease_spec(held, "a", 15, NOW + timedelta(seconds=2))
        assert spec["acquireTime"] == "2025-01-01T09:00:00.000000Z"
        assert spec["renewTime"] == "2025-01-01T10:00:02.000000Z"
        assert spec["leaseTransitions"] == 2

    def test_take_over_counts_a_transition(self) -> None:
        held = lease("b", NOW - timedelta(minutes=1), leaseTransitions=2)
        spec = lease_spec(held, "a", 15, NOW)
        assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("a", 3)
        assert spec["acquireTime"] == format_micro_time(NOW)


class TestMicroTime:
    def test_round_trip(self) -> None:
        when = datetime(2025, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
        assert parse_micro_time(format_micro_time(when)) == when

    def test_seconds_precision_and_offsets_parse(self) -> None:
        assert parse_micro_time("2025-01-01T10:00:00Z") == NOW
        assert parse_micro_time("2025-01-01T11:00:00+01:00") == NOW

    @pytest.mark.parametrize("bad", [None, "", "yesterday", 5])
    def test_garbage_is_none(self, bad: object) -> None:
        assert parse_micro_time(bad) is None


def test_timings_must_nest() -> None:
    client: Any = object.__new__(KubeClient)
    with pytest.raises(ValueError, match="retry_seconds < renew_seconds < lease_seconds"):
        LeaderElector(client, "ns", "lease", "a", lease_seconds=10, renew_seconds=10)
