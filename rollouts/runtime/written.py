"""Read-your-writes for controllers that plan from an informer cache.

After a controller writes an object's status, its cache may still hold the older copy
for a moment; a reconcile planned from that copy would undo or repeat the write. So
each controller remembers the `resourceVersion` its last write returned, per key, and
a reconcile whose cached copy is older waits (a short requeue) instead of planning.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["WrittenVersions", "resource_version"]


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
