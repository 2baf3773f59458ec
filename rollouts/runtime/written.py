"""Read-your-writes for controllers that plan from an informer cache.

After a controller writes an object's status, its cache may still hold the older copy
for a moment; a reconcile planned from that copy would undo or repeat the write. So
each controller remembers the `resourceVersion` its last write returned, per key, and
a reconcile whose cached copy is older waits instead of planning.

It waits for the write itself: the write arriving on the controller's own watch queues
the key again, so the reconcile returns with only a fallback requeue,
`CATCH_UP_FALLBACK` seconds, for a watch that lost the event. (A short fixed requeue
cost a step up to its length: a run's verdict arriving right after the Rollout's status
write waited 100 ms for no reason.)

Otherwise our own write coming back plans nothing new: the reconcile that wrote it
planned from the state it wrote and set its timers. A controller that skips those
echoes asks `echo_wanted` whether one must be queued after all: when a reconcile waits
for it (`catch_up`), or when the writer said it wants another look (`record(...,
echo=True)`, e.g. it stopped planning before the status settled). `waited_urgently`
says whether the waiting reconcile had come from the work queue's urgent lane, so the
echo can keep that urgency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["CATCH_UP_FALLBACK", "WrittenVersions", "resource_version"]

CATCH_UP_FALLBACK = 2.0
"""Seconds before a reconcile that waited for the cache is tried again without an event."""


def resource_version(obj: dict[str, Any]) -> int:
    """An object's `metadata.resourceVersion` as a number (0 when absent or opaque)."""
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class WrittenVersions:
    """The resourceVersion of our last write, per work-queue key. Thread-safe."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        # keys whose reconcile waits for our write's event -> that reconcile was urgent
        self._waiting: dict[str, bool] = {}
        self._echo: set[str] = set()  # keys whose writer wants its write's event queued
        self._lock = threading.Lock()

    def record(self, key: str, written: dict[str, Any], *, echo: bool = False) -> None:
        """Remember our write of `key`; `echo`: its watch event must queue the key."""
        with self._lock:
            self._versions[key] = resource_version(written)
            if echo:
                self._echo.add(key)
            else:
                self._echo.discard(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._versions.pop(key, None)
            self._waiting.pop(key, None)
            self._echo.discard(key)

    def echo_wanted(self, key: str) -> bool:
        """For our own write coming back: whether it must queue `key` (a reconcile waits
        for it, or the writer asked); answers True once per such write."""
        with self._lock:
            wanted = key in self._waiting or key in self._echo
            self._waiting.pop(key, None)
            self._echo.discard(key)
        return wanted

    def waited_urgently(self, key: str) -> bool:
        """Whether the reconcile waiting for our write of `key` was urgent (ask before
        `echo_wanted`, which ends the wait)."""
        with self._lock:
            return self._waiting.get(key, False)

    def catch_up(self, key: str, cached: dict[str, Any],
                 reread: Callable[[], dict[str, Any] | None], *, urgent: bool = False
                 ) -> dict[str, Any] | None:
        """`cached`, or a fresher copy (`reread`), to plan from; None while the cache is
        behind our last write for `key`: that write's event will queue the key (as
        `echo_wanted` then says), so the caller waits with a `CATCH_UP_FALLBACK` requeue.
        `urgent`: the caller came from the urgent lane (`waited_urgently` tells)."""
        if not self.cache_is_behind(key, cached):
            return cached
        with self._lock:
            self._waiting[key] = urgent
        # Looked at again: the event may have come (and not been queued) meanwhile.
        fresh = reread()
        if fresh is None or self.cache_is_behind(key, fresh):
            return None
        with self._lock:
            self._waiting.pop(key, None)
        return fresh

    def wrote(self, key: str, obj: dict[str, Any]) -> bool:
        """True when `obj` is the copy our last write for `key` returned (its watch
        event coming back), as far as that write is still remembered."""
        with self._lock:
            written = self._versions.get(key)
        return written is not None and resource_version(obj) == written

    def cache_is_behind(self, key: str, cached: dict[str, Any]) -> bool:
        """True while `cached` is older than our last write for `key` (then wait); once
        it has caught up the record is dropped."""
        with self._lock:
            written = self._versions.get(key)
        if written is None:
            return False
        if resource_version(cached) < written:
            return True
        self.forget(key)
        return False
