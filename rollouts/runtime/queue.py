"""A rate-limited work queue of object keys, after client-go's `workqueue`.

Informer handlers and `Timers` put keys (`"namespace/name"`) in; the `Manager`'s
workers take them out and call the controller's `reconcile(key)`. The queue promises:

- **dedup**: a key waits in the queue at most once, however often it is added;
- **an urgent lane**: `add(key, urgent=True)` (a timer that came due, a user's change,
  an analysis verdict) hands the key out before every key added without it (the churn
  of owned objects' status, our own writes coming back), oldest first in each lane; a
  key already waiting in the other lane moves up;
- **one worker per key**: a key handed out by `get` is not handed out again until
  `done(key)`; if it is added meanwhile, it is queued (once) when `done` is called, so
  the change that arrived during the reconcile is not lost;
- **per-key exponential backoff**: `add_rate_limited(key, kind=...)` waits
  `retry_delay(kind, n)` seconds (n = failures of that kind since the last
  `forget(key)`): quick for temporary errors, slow for permanent ones (`retry.py`);
- **delays use the `Clock`**: `add_after` and backoff are measured with the clock
  given, so tests with a `FakeClock` advance time and call `get(timeout=0)`;
- **time in the queue is reported**: `on_wait`, when set (the metrics wiring sets it),
  is called with the seconds each handed-out key waited since it was added (ready to
  run), on the monotonic clock, outside the queue's lock.

Waiting keys are promoted lazily by `get` and `len`, so the queue needs no thread of
its own. Everything is guarded by one `threading.Condition`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .clock import Clock, SystemClock
from .retry import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    PERMANENT_BASE_DELAY,
    PERMANENT_MAX_DELAY,
    ErrorKind,
    retry_delay,
)

__all__ = ["WorkQueue", "object_key", "split_key"]

# While keys wait for a delay, a blocked `get` re-reads the clock at least this often,
# so a jump of the clock (a FakeClock advanced by a test, NTP) is noticed.
_MAX_WAIT_SLICE = 0.5


class WorkQueue:
    """Keys to reconcile; see the module docstring for the guarantees."""

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        permanent_base_delay: float = PERMANENT_BASE_DELAY,
        permanent_max_delay: float = PERMANENT_MAX_DELAY,
    ) -> None:
        for low, high, what in ((base_delay, max_delay, ""),
                                (permanent_base_delay, permanent_max_delay, "permanent_")):
            if low <= 0 or high < low:
                raise ValueError(
                    f"need 0 < {what}base_delay <= {what}max_delay, got {what}base_delay="
                    f"{low}, {what}max_delay={high}"
                )
        self.name = name
        self._clock: Clock = clock or SystemClock()
        self._delays = {
            "base_delay": base_delay,
            "max_delay": max_delay,
            "permanent_base_delay": permanent_base_delay,
            "permanent_max_delay": permanent_max_delay,
        }
        self._cond = threading.Condition()
        # Keys to hand out, in order, per lane: (token, key), live while `_entry[key]`
        # holds that token (moving a key to the urgent lane leaves a dead entry behind).
        self._urgent: deque[tuple[int, str]] = deque()
        self._ready: deque[tuple[int, str]] = deque()
        self._entry: dict[str, tuple[int, bool]] = {}  # ready key -> (token, urgent)
        self._urgent_later: set[str] = set()  # added urgent while a worker had it
        self._dirty: set[str] = set()  # keys that need a reconcile (queued or re-added)
        self._processing: set[str] = set()  # keys handed out and not yet done
        self._processing_urgent: set[str] = set()  # of those, the ones from the urgent lane
        self._waiting: dict[str, datetime] = {}  # key -> when it becomes ready
        self._heap: list[tuple[datetime, int, str]] = []  # may hold stale entries
        self._sequence = itertools.count()
        self._failures: dict[str, dict[ErrorKind, int]] = {}
        self._shutting_down = False
        self._added_at: dict[str, float] = {}  # dirty key -> when (monotonic) it was added
        self.on_wait: Callable[[float], None] | None = None
        """Called with each handed-out key's seconds in the queue (see the module doc)."""

    # -- adding ---------------------------------------------------------------------

    def add(self, key: str, *, urgent: bool = False) -> None:
        """Queue `key` now (no-op if already queued, or after shutdown); `urgent` puts
        it in the lane handed out first (moving it there if it waits in the other)."""
        with self._cond:
            self._add_locked(key, urgent)

    def add_after(self, key: str, seconds: float) -> None:
        """Queue `key` once `seconds` have passed on the clock (at once if <= 0).

        If the key is already waiting, the earlier of the two times wins.
        """
        with self._cond:
            if self._shutting_down:
                return
            if seconds <= 0:
                self._add_locked(key)
                return
            ready_at = self._clock.now() + timedelta(seconds=seconds)
            current = self._waiting.get(key)
            if current is not None and current <= ready_at:
                return
            self._waiting[key] = ready_at
            heapq.heappush(self._heap, (ready_at, next(self._sequence), key))
            # A blocked `get` may be sleeping towards a later deadline: let it recompute.
            self._cond.notify_all()

    def add_rate_limited(
        self, key: str, at_least: float = 0.0, *, kind: ErrorKind = ErrorKind.TEMPORARY
    ) -> float:
        """Queue `key` after its backoff delay, and count the failure; returns the delay.

        The delay is `retry_delay(kind, n)`, n = earlier failures of this kind since the
        last `forget(key)`. `at_least` lengthens it, e.g. to honour a `Retry-After`.
        """
        with self._cond:
            counts = self._failures.setdefault(key, {})
            attempt = counts.get(kind, 0)
            counts[kind] = attempt + 1
        delay = max(retry_delay(kind, attempt, **self._delays), at_least)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset `key`'s backoff (after a successful reconcile, or when giving up)."""
        with self._cond:
            self._failures.pop(key, None)

    def num_requeues(self, key: str, kind: ErrorKind | None = None) -> int:
        """How many times `key` was rate-limited (for `kind`, or in all) since `forget`."""
        with self._cond:
            counts = self._failures.get(key, {})
            return counts.get(kind, 0) if kind is not None else sum(counts.values())

    # -- processing -----------------------------------------------------------------

    def get(self, timeout: float | None = None) -> str | None:
        """The next key to reconcile, marked as processing; blocks until one is ready.

        Returns None when `timeout` seconds pass first (0 = do not block) or when the
        queue is shut down. The caller must call `done(key)` when finished with it.
        """
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                self._promote_due_locked()
                key, urgent = self._pop_locked()
                if key is not None:
                    self._processing.add(key)
                    if urgent:
                        self._processing_urgent.add(key)
                    self._dirty.discard(key)
                    added = self._added_at.pop(key, None)
                    break
                wait = self._wait_seconds_locked(deadline)
                if wait is not None and wait <= 0:
                    return None
                self._cond.wait(wait)
        on_wait = self.on_wait
        if on_wait is not None and added is not None:
            on_wait(max(0.0, time.monotonic() - added))
        return key

    def handed_out_urgent(self, key: str) -> bool:
        """True while `key` is processing and was handed out from the urgent lane (a
        reconcile that must wait can keep that urgency for when it is queued again)."""
        with self._cond:
            return key in self._processing_urgent

    def done(self, key: str) -> None:
        """Mark `key` finished; if it was added while processing, queue it again."""
        with self._cond:
            self._processing.discard(key)
            self._processing_urgent.discard(key)
            urgent = key in self._urgent_later
            self._urgent_later.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._push_locked(key, urgent)

    def shutdown(self) -> None:
        """Stop handing out keys: every blocked and later `get` returns None."""
        with self._cond:
            self._shutting_down = True
            self._waiting.clear()
            self._heap.clear()
            self._added_at.clear()
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        with self._cond:
            return self._shutting_down

    def len(self) -> int:
        """Keys ready to be handed out (not counting waiting or processing ones)."""
        with self._cond:
            self._promote_due_locked()
            return len(self._entry)

    def __len__(self) -> int:
        return self.len()

    def __repr__(self) -> str:
        with self._cond:
            return (
                f"WorkQueue({self.name!r}, ready={len(self._entry)}, "
                f"processing={len(self._processing)}, waiting={len(self._waiting)})"
            )

    # -- internals (caller holds self._cond) ----------------------------------------

    def _add_locked(self, key: str, urgent: bool = False) -> None:
        if self._shutting_down:
            return
        if key in self._dirty:
            if urgent and key in self._processing:
                self._urgent_later.add(key)
            elif urgent and not self._entry.get(key, (0, True))[1]:
                self._push_locked(key, urgent=True)  # moves up; the old entry is dead
            return
        self._dirty.add(key)
        self._added_at[key] = time.monotonic()
        if key in self._processing:  # `done` re-queues it: one worker per key
            if urgent:
                self._urgent_later.add(key)
            return
        self._push_locked(key, urgent)

    def _push_locked(self, key: str, urgent: bool) -> None:
        token = next(self._sequence)
        self._entry[key] = (token, urgent)
        (self._urgent if urgent else self._ready).append((token, key))
        self._cond.notify()

    def _pop_locked(self) -> tuple[str | None, bool]:
        """The next live key, urgent lane first, and whether it came from that lane."""
        for lane in (self._urgent, self._ready):
            while lane:
                token, key = lane.popleft()
                if self._entry.get(key, (None, False))[0] == token:
                    del self._entry[key]
                    return key, lane is self._urgent
        return None, False

    def _promote_due_locked(self) -> None:
        if not self._heap:
            return
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            ready_at, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) != ready_at:
                continue  # superseded by an earlier add_after
            del self._waiting[key]
            self._add_locked(key)

    def _wait_seconds_locked(self, deadline: float | None) -> float | None:
        """How long `get` may sleep: until the deadline or the next waiting key."""
        waits: list[float] = []
        if deadline is not None:
            waits.append(deadline - time.monotonic())
        if self._heap:
            due_in = (self._heap[0][0] - self._clock.now()).total_seconds()
            waits.append(min(max(due_in, 0.001), _MAX_WAIT_SLICE))
        return min(waits) if waits else None


def object_key(namespace: str | None, name: str) -> str:
    """The queue key of an object: `"namespace/name"`, or `"name"` if cluster-scoped."""
    return f"{namespace}/{name}" if namespace else name


def key_of(obj: Mapping[str, Any]) -> str:
    """The queue key of an object given whole (its `metadata.namespace` and `name`)."""
    meta = obj.get("metadata") or {}
    return object_key(meta.get("namespace"), str(meta.get("name")))


def split_key(key: str) -> tuple[str, str]:
    """`(namespace, name)` from a queue key; namespace is `""` for cluster-scoped keys."""
    namespace, _, name = key.rpartition("/")
    if not name or "/" in namespace:
        raise ValueError(f"bad queue key {key!r}: expected 'namespace/name' or 'name'")
    return namespace, name
