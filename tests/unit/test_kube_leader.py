"""Leader election rules (client-go semantics, H6/M12), each with an injected clock.

Pure decisions take `now` (local monotonic seconds); the run loop is driven with a
scripted `try_acquire_or_renew` and, where the rule is about time, a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollouts.kube import KubeClient, LeaderElector, should_acquire
from rollouts.kube.errors import Unavailable
from rollouts.kube.leader import (
    Observation,
    format_micro_time,
    lease_duration,
    lease_name,
    lease_spec,
    new_identity,
    observe,
    parse_micro_time,
)

NOW = datetime(2025, 1, 1, 10, 0, 0, tzinfo=UTC)


def lease(holder: str | None, renewed: datetime | None = NOW, duration: Any = 15,
          **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {**extra}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = format_micro_time(renewed)
    if duration is not None:
        spec["leaseDurationSeconds"] = duration
    return {"metadata": {"name": "rollouts-controller", "resourceVersion": "7"}, "spec": spec}


def seen(record: dict[str, Any], at: float) -> Observation:
    observation = observe(None, record, at)
    assert observation is not None
    return observation


class TestShouldAcquire:
    def test_no_lease_yet(self) -> None:
        assert should_acquire(None, "a", None, 0.0)

    def test_a_released_lease(self) -> None:
        assert should_acquire(lease(""), "a", None, 0.0)
        assert should_acquire(lease(None), "a", None, 0.0)

    def test_our_own_lease_is_renewed(self) -> None:
        held = lease("a")
        assert should_acquire(held, "a", seen(held, 0.0), 3.0)

    def test_another_holders_lease_is_left_alone_until_observed_for_its_duration(self) -> None:
        held = lease("b")
        observation = seen(held, 100.0)
        assert not should_acquire(held, "a", observation, 114.9)
        assert should_acquire(held, "a", observation, 115.0)

    def test_a_lease_never_observed_before_is_not_taken(self) -> None:
        assert not should_acquire(lease("b", NOW - timedelta(days=1)), "a", None, 1e9)

    def test_expiry_ignores_the_holders_timestamps(self) -> None:
        # A renewTime far in the past (leader's clock behind ours) does not make the
        # Lease expired: only our own observation counts.
        held = lease("b", NOW - timedelta(hours=1))
        assert not should_acquire(held, "a", seen(held, 50.0), 60.0)
        # A renewTime far in the future (leader's clock ahead) does not keep it forever.
        held = lease("b", NOW + timedelta(hours=1))
        assert should_acquire(held, "a", seen(held, 50.0), 65.0)

    def test_the_lease_duration_is_the_holders_not_ours(self) -> None:
        held = lease("b", duration=30)
        assert not should_acquire(held, "a", seen(held, 0.0), 20.0, fallback_seconds=15)
        assert should_acquire(held, "a", seen(held, 0.0), 30.0, fallback_seconds=15)

    @pytest.mark.parametrize("duration", [None, 0, -5, "15", True, [1]])
    def test_a_malformed_duration_counts_as_ours(self, duration: Any) -> None:
        held = lease("b", duration=duration)
        assert lease_duration(held, 15.0) == 15.0
        assert not should_acquire(held, "a", seen(held, 0.0), 14.0, fallback_seconds=15)
        assert should_acquire(held, "a", seen(held, 0.0), 15.0, fallback_seconds=15)

    @pytest.mark.parametrize("record", [
        {"metadata": {}},
        {"metadata": {}, "spec": "garbage"},
        {"metadata": {}, "spec": {"holderIdentity": 42, "leaseDurationSeconds": 15}},
    ])
    def test_a_lease_without_a_valid_holder_is_free(self, record: dict[str, Any]) -> None:
        assert should_acquire(record, "a", seen(record, 0.0), 0.0)

    def test_bad_times_are_held_until_expired_as_observed(self) -> None:
        held = lease("b", None, renewTime="yesterday", acquireTime=5)
        assert not should_acquire(held, "a", seen(held, 0.0), 1.0)
        assert should_acquire(held, "a", seen(held, 0.0), 15.0)


class TestObserve:
    def test_an_unchanged_record_keeps_its_observed_time(self) -> None:
        first = observe(None, lease("b"), 10.0)
        assert observe(first, lease("b"), 20.0) is first

    def test_a_renewal_resets_the_observed_time(self) -> None:
        first = observe(None, lease("b"), 10.0)
        later = observe(first, lease("b", NOW + timedelta(seconds=2)), 20.0)
        assert later is not None and later.observed_at == 20.0

    def test_metadata_changes_alone_do_not_count(self) -> None:
        first = observe(None, lease("b"), 10.0)
        moved = {**lease("b"), "metadata": {"resourceVersion": "8"}}
        assert observe(first, moved, 20.0) is first

    def test_no_lease_no_observation(self) -> None:
        assert observe(seen(lease("b"), 1.0), None, 2.0) is None


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

    @pytest.mark.parametrize("bad", ["many", "1e400", [], {}, -3, None])
    def test_malformed_transitions_do_not_crash(self, bad: Any) -> None:
        spec = lease_spec(lease("b", leaseTransitions=bad), "a", 15, NOW)
        assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] in (0, 1)

    def test_malformed_spec_and_acquire_time_are_replaced(self) -> None:
        spec = lease_spec({"metadata": {}, "spec": "x"}, "a", 15, NOW)
        assert spec["acquireTime"] == format_micro_time(NOW)
        spec = lease_spec(lease("a", acquireTime=7), "a", 15, NOW)
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


class TestNames:
    def test_identity_is_host_plus_random_suffix(self) -> None:
        a, b = new_identity("host"), new_identity("host")
        assert a.startswith("host_") and b.startswith("host_") and a != b
        assert len(a) == len("host_") + 32

    def test_lease_name_derives_from_the_controller_set(self) -> None:
        assert lease_name(["rollouts", "analysis"]) == "rollouts-controller-analysis-rollouts"
        assert lease_name(["analysis", "rollouts", " "]) == lease_name(["rollouts", "analysis"])
        assert lease_name(["reconciler"]) != lease_name(["rollouts", "analysis"])

    def test_instance_id_separates_installs(self) -> None:
        assert lease_name(["rollouts"], "team-a") == "rollouts-controller-rollouts-team-a"
        assert lease_name(["rollouts"], "team-a") != lease_name(["rollouts"], "team-b")

    @pytest.mark.parametrize("bad", ["Team", "a_b", "-a", "a/b"])
    def test_instance_id_must_be_a_dns_label(self, bad: str) -> None:
        with pytest.raises(ValueError, match="not a DNS label"):
            lease_name(["rollouts"], bad)


def test_timings_must_nest() -> None:
    client: Any = object.__new__(KubeClient)
    with pytest.raises(ValueError, match="retry_seconds < renew_seconds < lease_seconds"):
        LeaderElector(client, "ns", "lease", "a", lease_seconds=10, renew_seconds=10)


# -- the API side, with a fake Lease store and a fake clock --------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeLeaseClient:
    """Answers the elector's GET / CREATE / REPLACE like the API server would."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self.stored = stored
        self.timeouts: list[float | None] = []
        self.fail: Exception | None = None

    def request(self, req: Any, *, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        if self.fail is not None:
            raise self.fail
        if req.verb.name == "GET":
            if self.stored is None:
                from rollouts.kube.errors import NotFound
                raise NotFound("lease not found")
            return self.stored
        self.stored = dict(req.body)
        return self.stored


def elector(client: FakeLeaseClient, clock: FakeClock, identity: str = "a") -> LeaderElector:
    return LeaderElector(client, "ns", "lease", identity,  # type: ignore[arg-type]
                         clock=lambda: NOW, monotonic=clock)


class TestAttempts:
    def test_a_standby_takes_a_silent_lease_only_after_its_own_duration(self) -> None:
        clock = FakeClock()
        client = FakeLeaseClient(lease("b", NOW - timedelta(days=3)))  # dead leader, old stamp
        me = elector(client, clock)
        assert not me.try_acquire_or_renew()
        assert me.observed_holder == "b"
        clock.now += 14.9
        assert not me.try_acquire_or_renew()
        clock.now += 0.1
        assert me.try_acquire_or_renew()
        assert client.stored is not None and client.stored["spec"]["holderIdentity"] == "a"

    def test_a_renewing_leader_is_never_taken_over(self) -> None:
        clock = FakeClock()
        client = FakeLeaseClient(lease("b"))
        me = elector(client, clock)
        for step in range(20):
            assert not me.try_acquire_or_renew()
            clock.now += 10
            client.stored = lease("b", NOW + timedelta(seconds=2 * (step + 1)))

    @pytest.mark.parametrize("spec", [
        {"holderIdentity": "b", "leaseTransitions": "many", "leaseDurationSeconds": "x"},
        {"holderIdentity": "b", "renewTime": 12, "acquireTime": [], "leaseTransitions": {}},
    ])
    def test_a_malformed_lease_is_taken_over_when_expired_not_a_crash(
        self, spec: dict[str, Any]
    ) -> None:
        clock = FakeClock()
        client = FakeLeaseClient({"metadata": {"name": "lease"}, "spec": spec})
        me = elector(client, clock)
        assert not me.try_acquire_or_renew()
        clock.now += 15
        assert me.try_acquire_or_renew()

    def test_api_errors_are_a_failed_attempt(self) -> None:
        client = FakeLeaseClient()
        client.fail = Unavailable("connection refused")
        assert not elector(client, FakeClock()).try_acquire_or_renew()

    def test_each_call_is_bounded_by_what_is_left_of_the_deadline(self) -> None:
        clock = FakeClock()
        client = FakeLeaseClient()
        me = elector(client, clock)
        me._deadline = clock.now + 1.5
        assert me.try_acquire_or_renew()
        assert client.timeouts and all(t == 1.5 for t in client.timeouts)


# -- the run loop ---------------------------------------------------------------------------


class Scripted(LeaderElector):
    """`try_acquire_or_renew` does what the test says: succeed, fail, or hang."""

    def __init__(self, renew_seconds: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        client: Any = object.__new__(KubeClient)
        super().__init__(client, "ns", "lease", "me", lease_seconds=renew_seconds * 1.5,
                         renew_seconds=renew_seconds, retry_seconds=0.1, monotonic=monotonic)
        self.script: list[str] = []  # "ok", "fail", "hang", "slow:<s>"; last one repeats
        self.released = threading.Event()
        self.unhang = threading.Event()

    def try_acquire_or_renew(self) -> bool:
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step == "hang":
            self.unhang.wait(30)
            return True  # too late: the answer comes after the deadline
        if step.startswith("slow:"):
            time.sleep(float(step[5:]))
            return True
        return step == "ok"

    def release(self) -> bool:
        self.released.set()
        return True


def run_in_thread(e: Scripted, stop: threading.Event) -> tuple[threading.Thread, dict[str, float]]:
    times: dict[str, float] = {}

    def started() -> None:
        times["started"] = time.monotonic()

    def stopped() -> None:
        times["stopped"] = time.monotonic()

    thread = threading.Thread(target=e.run, args=(started, stopped, stop), daemon=True)
    return thread, times


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


class TestRunLoop:
    def test_a_hung_renewal_ends_leadership_at_the_renew_deadline(self) -> None:
        e = Scripted(renew_seconds=1.0)
        e.script = ["ok", "hang"]
        stop = threading.Event()
        thread, times = run_in_thread(e, stop)
        try:
            thread.start()
            assert wait_for(lambda: "stopped" in times)
            # Lost ~1 s after the last successful renewal started, not after the hung
            # call returned (30 s) nor deadline + retry + call time.
            assert times["stopped"] - times["started"] < 5.0
            assert not e.is_leader()
            assert not e.released.is_set()  # lost, not stopped: never released
        finally:
            stop.set()
            e.unhang.set()
            thread.join(5)

    def test_the_write_fence_closes_at_the_deadline_by_the_clock_alone(self) -> None:
        # A stalled process: its elector thread has not run since the last renewal, yet
        # `is_leader()` (what every write asks) says no from the renew deadline on.
        clock = FakeClock()
        e = Scripted(renew_seconds=1.0, monotonic=clock)
        e.script = ["ok", "hang"]
        stop = threading.Event()
        thread, times = run_in_thread(e, stop)
        try:
            thread.start()
            assert wait_for(lambda: "started" in times)
            clock.now += 0.99
            assert e.is_leader()
            clock.now += 0.01
            assert not e.is_leader()
            assert "stopped" not in times  # the elector thread has not noticed yet
        finally:
            stop.set()
            e.unhang.set()
            thread.join(5)

    def test_the_first_deadline_runs_from_the_start_of_the_acquire_attempt(self) -> None:
        e = Scripted(renew_seconds=2.0)
        e.script = ["slow:1.8", "hang"]
        stop = threading.Event()
        thread, times = run_in_thread(e, stop)
        began = time.monotonic()
        try:
            thread.start()
            assert wait_for(lambda: "stopped" in times, 8)
            # deadline = attempt start + 2 s; counting from the end of the slow acquire
            # would end it at 3.8 s or later.
            assert times["stopped"] - began < 3.0
        finally:
            stop.set()
            e.unhang.set()
            thread.join(5)

    def test_a_slow_acquire_past_the_deadline_does_not_lead(self) -> None:
        e = Scripted(renew_seconds=0.5)
        e.script = ["slow:1.0", "fail"]
        stop = threading.Event()
        thread, times = run_in_thread(e, stop)
        try:
            thread.start()
            time.sleep(1.5)
            assert "started" not in times and not e.is_leader()
        finally:
            stop.set()
            thread.join(5)

    def test_stop_releases_after_on_stopped(self) -> None:
        e = Scripted()
        e.script = ["ok"]
        stop = threading.Event()
        thread, times = run_in_thread(e, stop)
        thread.start()
        assert wait_for(lambda: "started" in times)
        stop.set()
        thread.join(5)
        assert not thread.is_alive() and "stopped" in times and e.released.is_set()

    def test_leadership_lost_then_stop_does_not_release(self) -> None:
        e = Scripted(renew_seconds=0.5)
        e.script = ["ok", "fail"]
        stop = threading.Event()
        thread, times = run_in_thread(e, stop)
        thread.start()
        assert wait_for(lambda: "stopped" in times)
        stop.set()
        thread.join(5)
        assert not e.released.is_set()
