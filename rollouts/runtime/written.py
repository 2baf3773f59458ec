"""Read-your-writes for controllers that plan from an informer cache.

After a controller writes an object's status, its cache may still hold the older copy
for a moment; a reconcile planned from that copy would undo or repeat the write. So
each controller remembers the `resourceVersion` its last write returned, per key, and
a reconcile whose cached copy is older waits instead of planning.

It waits for the write itself: the write arriving on the controller's own watch queues
the key again (every event of the watched kind does), so the reconcile returns with only
a fallback requeue, `CATCH_UP_FALLBACK` seconds, for a watch that lost the event. (A
short fixed requeue cost a step up to its length: a run's verdict arriving right after
the Rollout's status write waited 100 ms for no reason.)
"""

from __future__ import annotations

import threading
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
        self._lock = threading.Lock()

    def record(self, key: str, written: dict[str, Any]) -> None:
        with self._lock:
            self._versions[key] = resource_version(written)

    def forget(self, key: str) -> None:
        with self._lock:
            self._versions.pop(key, None)

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
