"""The work queue: dedup, one worker per key, re-queue after done, backoff, delays."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import pytest

from rollouts.runtime import ErrorKind, FakeClock, WorkQueue, object_key, split_key

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _queue() -> tuple[WorkQueue, FakeClock]:
    clock = FakeClock(START)
    return WorkQueue("test", clock=clock), clock


def _drain(queue: WorkQueue) -> list[str]:
    keys = []
    while (key := queue.get(timeout=0)) is not None:
        keys.append(key)
        queue.done(key)
    return keys


class TestDedup:
    def test_given_a_key_added_twice_when_workers_take_keys_then_it_is_handed_out_once(
        self,
    ) -> None:
        queue, _ = _queue()
        queue.add("shop/web")
        queue.add("shop/web")
        queue.add("shop/api")
        assert queue.len() == 2
        assert _drain(queue) == ["shop/web", "shop/api"]

    def test_given_an_empty_queue_when_getting_with_a_timeout_then_none_comes_back(
        self,
    ) -> None:
        queue, _ = _queue()
        assert queue.get(timeout=0) is None
        assert queue.get(timeout=0.01) is None


class TestOneWorkerPerKey:
    def test_given_a_key_being_processed_when_it_is_added_again_then_no_other_worker_gets_it(
        self,
    ) -> None:
        queue, _ = _queue()
        queue.add("shop/web")
        assert queue.get(timeout=0) == "shop/web"
        queue.add("shop/web")
        assert queue.get(timeout=0) is None
        assert queue.len() == 0

    def test_given_a_key_re_added_while_processing_when_done_then_it_is_queued_once_more(
        self,
    ) -> None:
        queue, _ = _queue()
        queue.add("shop/web")
        key = queue.get(timeout=0)
        assert key == "shop/web"
        queue.add(key)
        queue.add(key)
        queue.done(key)
        assert _drain(queue) == ["shop/web"]

    def test_given_a_key_not_re_added_when_done_then_it_is_not_queued_again(self) -> None:
        queue, _ = _queue()
        queue.add("shop/web")
        key = queue.get(timeout=0)
        assert key is not None
        queue.done(key)
        assert queue.get(timeout=0) is None

    def test_given_many_workers_and_a_storm_of_adds_then_no_key_is_processed_twice_at_once(
        self,
    ) -> None:
        queue = WorkQueue("storm")
        keys = [f"ns/obj-{i}" for i in range(5)]
        in_flight: dict[str, int] = dict.fromkeys(keys, 0)
        overlaps: list[str] = []
        processed = 0
        lock = threading.Lock()

        def worker() -> None:
            nonlocal processed
            while (key := queue.get()) is not None:
                with lock:
                    in_flight[key] += 1
                    if in_flight[key] > 1:
                        overlaps.append(key)
                time.sleep(0.0005)
                with lock:
                    in_flight[key] -= 1
                    processed += 1
                queue.done(key)

        workers = [threading.Thread(target=worker) for _ in range(8)]
        for thread in workers:
            thread.start()
        rng = random.Random(7)
        for _ in range(2000):
            queue.add(rng.choice(keys))
        deadline = time.monotonic() + 5
        while queue.len() and time.monotonic() < deadline:
            time.sleep(0.01)
        queue.shutdown()
        for thread in workers:
            thread.join(timeout=5)
        assert overlaps == []
        assert processed > 0


class TestBackoff:
    def test_given_repeated_failures_then_the_delay_doubles_per_failure(self) -> None:
        queue, _ = _queue()
        delays = [queue.add_rate_limited("shop/web") for _ in range(4)]
        assert delays == [0.05, 0.1, 0.2, 0.4]
        assert queue.num_requeues("shop/web") == 4

    def test_given_a_backed_off_key_when_forgotten_then_its_next_delay_starts_over(self) -> None:
        queue, _ = _queue()
        for _ in range(3):
            queue.add_rate_limited("shop/web")
        queue.forget("shop/web")
        assert queue.num_requeues("shop/web") == 0
        assert queue.add_rate_limited("shop/web") == 0.05

    def test_given_permanent_failures_then_they_back_off_slowly_and_apart_from_temporary(
        self,
    ) -> None:
        queue, _ = _queue()
        assert queue.add_rate_limited("shop/web") == 0.05
        permanent = [queue.add_rate_limited("shop/web", kind=ErrorKind.PERMANENT)
                     for _ in range(3)]
        assert permanent == [30.0, 60.0, 120.0]  # counted apart from the temporary one
        assert queue.num_requeues("shop/web", ErrorKind.PERMANENT) == 3
        assert queue.num_requeues("shop/web") == 4
        queue.forget("shop/web")
        assert queue.add_rate_limited("shop/web", kind=ErrorKind.PERMANENT) == 30.0

    def test_backoff_is_per_key(self) -> None:
        queue, _ = _queue()
        queue.add_rate_limited("shop/web")
        queue.add_rate_limited("shop/web")
        assert queue.add_rate_limited("shop/api") == 0.05

    def test_given_custom_limits_then_the_delay_is_capped_at_max_delay(self) -> None:
        queue = WorkQueue("capped", clock=FakeClock(START), base_delay=1, max_delay=3)
        assert [queue.add_rate_limited("k") for _ in range(4)] == [1, 2, 3, 3]

    def test_given_a_rate_limited_key_then_it_is_ready_only_after_its_delay(self) -> None:
        queue, clock = _queue()
        queue.add_rate_limited("shop/web")
        assert queue.get(timeout=0) is None
        clock.advance(0.05)
        assert queue.get(timeout=0) == "shop/web"

    def test_given_a_server_asking_to_wait_longer_then_the_longer_wait_wins(self) -> None:
        queue, clock = _queue()
        assert queue.add_rate_limited("shop/web", at_least=2.0) == 2.0
        clock.advance(1.9)
        assert queue.get(timeout=0) is None
        clock.advance(0.1)
        assert queue.get(timeout=0) == "shop/web"

    def test_nonsense_limits_are_refused(self) -> None:
        with pytest.raises(ValueError, match="base_delay"):
            WorkQueue(base_delay=0)
        with pytest.raises(ValueError, match="max_delay"):
            WorkQueue(base_delay=2, max_delay=1)


class TestAddAfter:
    def test_given_a_key_added_after_five_seconds_then_it_waits_that_long_on_the_clock(
        self,
    ) -> None:
        queue, clock = _queue()
        queue.add_after("shop/web", 5)
        clock.advance(4.9)
        assert queue.get(timeout=0) is None
        assert queue.len() == 0
        clock.advance(0.1)
        assert queue.len() == 1
        assert queue.get(timeout=0) == "shop/web"

    def test_given_two_delays_for_one_key_then_the_earlier_wins_and_it_comes_once(self) -> None:
        queue, clock = _queue()
        queue.add_after("shop/web", 30)
        queue.add_after("shop/web", 10)
        queue.add_after("shop/web", 20)
        clock.advance(10)
        assert _drain(queue) == ["shop/web"]
        clock.advance(30)
        assert _drain(queue) == []

    def test_given_a_zero_delay_then_the_key_is_ready_at_once(self) -> None:
        queue, _ = _queue()
        queue.add_after("shop/web", 0)
        assert queue.get(timeout=0) == "shop/web"

    def test_given_a_worker_blocked_in_get_when_a_short_delay_passes_then_it_gets_the_key(
        self,
    ) -> None:
        queue = WorkQueue("real-time")
        queue.add_after("shop/web", 0.05)
        assert queue.get(timeout=2) == "shop/web"


class TestShutdown:
    def test_given_a_worker_blocked_in_get_when_the_queue_shuts_down_then_get_returns_none(
        self,
    ) -> None:
        queue, _ = _queue()
        got: list[str | None] = []
        worker = threading.Thread(target=lambda: got.append(queue.get()))
        worker.start()
        time.sleep(0.02)
        queue.shutdown()
        worker.join(timeout=2)
        assert not worker.is_alive()
        assert got == [None]
        assert queue.shutting_down

    def test_given_a_shut_down_queue_then_adds_are_ignored(self) -> None:
        queue, _ = _queue()
        queue.shutdown()
        queue.add("shop/web")
        queue.add_after("shop/web", 1)
        assert queue.len() == 0
        assert queue.get(timeout=0) is None


class TestKeys:
    def test_namespaced_and_cluster_scoped_keys_round_trip(self) -> None:
        assert object_key("shop", "web") == "shop/web"
        assert split_key("shop/web") == ("shop", "web")
        assert object_key(None, "prod-template") == "prod-template"
        assert split_key("prod-template") == ("", "prod-template")

    def test_a_malformed_key_is_refused_with_the_expected_shape(self) -> None:
        with pytest.raises(ValueError, match="namespace/name"):
            split_key("a/b/c")
        with pytest.raises(ValueError, match="namespace/name"):
            split_key("shop/")


class TestTimeInQueue:
    def test_each_handed_out_key_reports_how_long_it_waited_once(self) -> None:
        queue, _ = _queue()
        waits: list[float] = []
        queue.on_wait = waits.append
        queue.add("shop/web")
        queue.add("shop/web")  # dedup: still one wait
        time.sleep(0.05)
        assert queue.get(timeout=0) == "shop/web"
        queue.done("shop/web")
        assert len(waits) == 1 and 0.05 <= waits[0] < 5

    def test_a_key_added_while_processing_waits_from_that_add(self) -> None:
        queue, _ = _queue()
        waits: list[float] = []
        queue.on_wait = waits.append
        queue.add("shop/web")
        assert queue.get(timeout=0) == "shop/web"
        queue.add("shop/web")  # while a worker has it
        time.sleep(0.05)
        queue.done("shop/web")
        assert queue.get(timeout=0) == "shop/web"
        assert len(waits) == 2 and waits[1] >= 0.05

    def test_a_key_waiting_for_its_delay_counts_from_when_it_became_ready(self) -> None:
        queue, clock = _queue()
        waits: list[float] = []
        queue.on_wait = waits.append
        queue.add_after("shop/web", 30)
        clock.advance(31)
        assert queue.get(timeout=0) == "shop/web"
        assert waits and waits[0] < 1


class TestUrgentLane:
    def test_urgent_keys_are_handed_out_before_the_others_oldest_first(self) -> None:
        queue, _ = _queue()
        queue.add("shop/churn-1")
        queue.add("shop/due-1", urgent=True)
        queue.add("shop/churn-2")
        queue.add("shop/due-2", urgent=True)
        assert queue.len() == 4
        assert _drain(queue) == ["shop/due-1", "shop/due-2", "shop/churn-1", "shop/churn-2"]

    def test_a_worker_can_ask_whether_its_key_came_from_the_urgent_lane(self) -> None:
        queue, _ = _queue()
        queue.add("shop/churn")
        queue.add("shop/due", urgent=True)
        due, churn = queue.get(timeout=0), queue.get(timeout=0)
        assert (due, churn) == ("shop/due", "shop/churn")
        assert queue.handed_out_urgent("shop/due") and not queue.handed_out_urgent("shop/churn")
        queue.done("shop/due")
        assert not queue.handed_out_urgent("shop/due")

    def test_a_waiting_key_made_urgent_moves_up_once(self) -> None:
        queue, _ = _queue()
        queue.add("shop/a")
        queue.add("shop/b")
        queue.add("shop/b", urgent=True)
        queue.add("shop/b", urgent=True)
        assert queue.len() == 2
        assert _drain(queue) == ["shop/b", "shop/a"]  # b's old place is skipped

    def test_an_urgent_key_added_plainly_again_stays_urgent(self) -> None:
        queue, _ = _queue()
        queue.add("shop/a")
        queue.add("shop/b", urgent=True)
        queue.add("shop/b")
        assert _drain(queue) == ["shop/b", "shop/a"]

    def test_urgent_while_a_worker_has_it_is_queued_urgent_after_done(self) -> None:
        queue, _ = _queue()
        queue.add("shop/web")
        assert queue.get(timeout=0) == "shop/web"
        queue.add("shop/other")
        queue.add("shop/web", urgent=True)
        queue.done("shop/web")
        assert _drain(queue) == ["shop/web", "shop/other"]

    def test_urgency_is_not_kept_past_the_key_it_was_given_for(self) -> None:
        queue, _ = _queue()
        queue.add("shop/web")
        assert queue.get(timeout=0) == "shop/web"
        queue.add("shop/web", urgent=True)
        queue.done("shop/web")
        assert queue.get(timeout=0) == "shop/web"
        queue.add("shop/other")
        queue.add("shop/web")  # plain this time
        queue.done("shop/web")
        assert _drain(queue) == ["shop/other", "shop/web"]
