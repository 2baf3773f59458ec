"""Timers that wake a controller up later: APScheduler jobs that only enqueue a key.

A reconcile that must look again at an object at a known time (pause expiry, next
measurement, scale-down delay, progress deadline, Git poll) calls
`timers.at(key, when, reason)`. When the time comes the job calls
`queue.add(key, urgent=True)` (a moment someone planned comes before the churn of
status events), nothing else: the timer carries no decision. The reconcile recomputes
what is due from the timestamps stored in the object's status, so a timer lost in a
restart costs nothing (the first reconcile after the restart schedules it again) and a
timer that fires early or twice is harmless.

There is one job per `(key, reason)`: scheduling the same pair again replaces the job.
`when` is measured on the `Clock` given: the job runs `when - clock.now()` seconds of
real time from now (identical to `when` with the `SystemClock`), and a `when` that is
not in the future enqueues the key at once, without going through the scheduler.

Neighbours: the `WorkQueue` it feeds, the `Manager` that starts and stops it, and the
controllers that call `at` / `cancel` from `reconcile`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerAlreadyRunningError, SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from .clock import Clock, SystemClock
from .queue import WorkQueue

__all__ = ["Timers"]

log = logging.getLogger(__name__)

_SAME_RUN_DATE = timedelta(milliseconds=10)


@dataclass(frozen=True, slots=True)
class _Pending:
    when: datetime
    job_id: str
    generation: int
    run_date: datetime  # when the scheduler runs the job (real time)


class Timers:
    """Per-(key, reason) one-shot timers feeding a `WorkQueue`; state is in memory only."""

    def __init__(self, queue: WorkQueue, clock: Clock | None = None) -> None:
        self._queue = queue
        self._clock: Clock = clock or SystemClock()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                # A late timer still fires: skipping it could stall a rollout forever.
                "misfire_grace_time": None,
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, _Pending]] = {}
        self._generation = 0
        self._closed = False

    def start(self) -> None:
        """Start the scheduler thread (jobs added before `start` are kept)."""
        with contextlib.suppress(SchedulerAlreadyRunningError):
            self._scheduler.start()

    def shutdown(self) -> None:
        """Stop the scheduler without waiting for running jobs; forget all timers."""
        with contextlib.suppress(SchedulerNotRunningError):
            # Pause and empty the job store first: `remove_all_jobs` waits for a pass of
            # the scheduler loop in progress, so that pass cannot meet a stopped scheduler
            # (APScheduler 3 then raises JobLookupError in its own thread).
            self._scheduler.pause()
            self._scheduler.remove_all_jobs()
            self._scheduler.shutdown(wait=False)
        with self._lock:
            self._closed = True
            self._pending.clear()

    def at(self, key: str, when: datetime, reason: str) -> None:
        """Enqueue `key` at `when` (aware); replaces this key's timer for `reason`."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(
                f"timer {reason!r} for {key}: naive datetime {when.isoformat()}; "
                "pass a timezone-aware one"
            )
        delay = when - self._clock.now()
        job_id = json.dumps([key, reason])
        with self._lock:
            if self._closed:
                return  # shutting down: the next process recomputes every timer
            run_date = datetime.now(UTC) + delay
            current = self._pending.get(key, {}).get(reason)
            if (current is not None and current.when == when.astimezone(UTC)
                    and delay.total_seconds() > 0
                    and run_date >= current.run_date - _SAME_RUN_DATE):
                # Planned again for the same time (most passes re-plan the same wake-ups):
                # the job in the scheduler stands, as replacing it costs a scheduler
                # wake-up. (A clock moved forward since makes the new run date earlier:
                # then the job is replaced.)
                return
            self._cancel_locked(key, reason)
            if delay.total_seconds() <= 0:
                fire_now = True
            else:
                fire_now = False
                self._generation += 1
                generation = self._generation
                self._pending.setdefault(key, {})[reason] = _Pending(
                    when.astimezone(UTC), job_id, generation, run_date
                )
                self._scheduler.add_job(
                    self._fire,
                    trigger="date",
                    run_date=run_date,
                    args=(key, reason, generation),
                    id=job_id,
                    name=f"{reason} {key}",
                    replace_existing=True,
                )
        if fire_now:
            log.debug("timer %s for %s is due already", reason, key, extra={"key": key})
            self._queue.add(key, urgent=True)

    def plan(self, key: str, wake_at: Mapping[str, datetime]) -> None:
        """Make `wake_at` the whole set of `key`'s timers: each is set (`at`), and the
        key's timers for other reasons are cancelled (a Healthy Rollout no longer waits
        for the progress deadline it planned while progressing)."""
        for reason in set(self.pending(key)) - set(wake_at):
            self.cancel(key, reason)
        for reason, when in wake_at.items():
            self.at(key, when, reason)

    def cancel(self, key: str, reason: str | None = None) -> None:
        """Remove `key`'s timer for `reason`, or all of its timers when `reason` is None."""
        with self._lock:
            if reason is not None:
                self._cancel_locked(key, reason)
                return
            for each in list(self._pending.get(key, {})):
                self._cancel_locked(key, each)

    def pending(self, key: str) -> dict[str, datetime]:
        """`{reason: when}` of `key`'s timers that have not fired yet."""
        with self._lock:
            return {reason: p.when for reason, p in self._pending.get(key, {}).items()}

    def __repr__(self) -> str:
        with self._lock:
            count = sum(len(reasons) for reasons in self._pending.values())
        return f"Timers(queue={self._queue.name!r}, pending={count})"

    # -- internals ------------------------------------------------------------------

    def _fire(self, key: str, reason: str, generation: int) -> None:
        with self._lock:
            reasons = self._pending.get(key, {})
            current = reasons.get(reason)
            if current is not None and current.generation == generation:
                del reasons[reason]
                if not reasons:
                    self._pending.pop(key, None)
        log.debug("timer %s fired for %s", reason, key, extra={"key": key})
        self._queue.add(key, urgent=True)

    def _cancel_locked(self, key: str, reason: str) -> None:
        reasons = self._pending.get(key)
        if not reasons or reason not in reasons:
            return
        pending = reasons.pop(reason)
        if not reasons:
            del self._pending[key]
        # If it fired (or is firing) already, the lookup fails: an extra reconcile is harmless.
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(pending.job_id)
