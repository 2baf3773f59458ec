"""A rate-limited work queue of object keys, after client-go's `workqueue`.

Informer handlers and `Timers` put keys (`"namespace/name"`) in; the `Manager`'s
workers take them out and call the controller's `reconcile(key)`. The queue promises:

- **dedup**: a key waits in the queue at most once, however often it is added;
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
from collections.abc import Callable
from datetime import datetime, timedelta

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
        self._ready: deque[str] = deque()  # keys to hand out, in order
        self._dirty: set[str] = set()  # keys that need a reconcile (queued or re-added)
        self._processing: set[str] = set()  # keys handed out and not yet done
        self._waiting: dict[str, datetime] = {}  # key -> when it becomes ready
        self._heap: list[tuple[datetime, int, str]] = []  # may hold stale entries
        self._sequence = itertools.count()
        self._failures: dict[str, dict[ErrorKind, int]] = {}
        self._shutting_down = False
        self._added_at: dict[str, float] = {}  # dirty key -> when (monotonic) it was added
        self.on_wait: Callable[[float], None] | None = None
        """Called with each handed-out key's seconds in the queue (see the module doc)."""

    # -- adding ---------------------------------------------------------------------

    def add(self, key: str) -> None:
        """Queue `key` now (no-op if already queued, or after shutdown)."""
        with self._cond:
            self._add_locked(key)

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
                if self._ready:
                    key = self._ready.popleft()
                    self._processing.add(key)
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

    def done(self, key: str) -> None:
        """Mark `key` finished; if it was added while processing, queue it again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._ready.append(key)
                self._cond.notify()

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
            return len(self._ready)

    def __len__(self) -> int:
        return self.len()

    def __repr__(self) -> str:
        with self._cond:
            return (
                f"WorkQueue({self.name!r}, ready={len(self._ready)}, "
                f"processing={len(self._processing)}, waiting={len(self._waiting)})"
            )

    # -- internals (caller holds self._cond) ----------------------------------------

    def _add_locked(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._added_at[key] = time.monotonic()
        if key in self._processing:
            return  # `done` re-queues it: one worker per key
        self._ready.append(key)
        self._cond.notify()

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


def split_key(key: str) -> tuple[str, str]:
    """`(namespace, name)` from a queue key; namespace is `""` for cluster-scoped keys."""
    namespace, _, name = key.rpartition("/")
    if not name or "/" in namespace:
        raise ValueError(f"bad queue key {key!r}: expected 'namespace/name' or 'name'")
    return namespace, name
