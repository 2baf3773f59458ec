"""Lean cache entries: what an informer keeps of each object it caches.

A decoded object takes several times its JSON size in Python objects, and with
10,000 Rollouts the caches are most of the controller's memory. `lean` makes the copy
an informer caches:

- `metadata.managedFields` is dropped: half of an object, and read by none of the
  controllers that cache through it (server-side-apply bookkeeping; an update that
  omits it keeps it on the server, and no controller replaces a cached object anyway);
- the `kubectl.kubernetes.io/last-applied-configuration` annotation is dropped: a
  second copy of the whole object for `kubectl apply`, read by no controller;
- dict keys are interned (`sys.intern`: the field names of every object, label and
  annotation keys), and short string values are shared through a `StringTable`
  (namespaces, kinds, apiVersions, images, label values, reasons, phases), so the
  10,000th Rollout does not bring its own copy of each.

Values that are unique to one object (uids, resourceVersions, timestamps) are shared
only within the object, never put into the process-wide table, so it does not grow
with every update. `tests/unit/test_kube_lean.py` checks what is kept and dropped, and
that many lean copies of a real Rollout and ReplicaSet take well under half the memory
of the decoded originals.

Everything else is kept, so an informer with this transform serves the same reads as
one without (handlers compare old and new copies made the same way). Neighbours:
`Informer(transform=...)` applies it; `SharedInformers` builds informers with it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "DROPPED_ANNOTATIONS",
    "SHARED_MAX_LENGTH",
    "StringTable",
    "lean",
    "lean_transform",
]

DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
"""Annotations no controller reads that may be as large as the object itself."""

SHARED_MAX_LENGTH = 64
"""Longer strings (messages, JSON in annotations) are kept as they are."""

PER_OBJECT_KEYS = frozenset({
    "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
    "lastTransitionTime", "lastUpdateTime", "lastHeartbeatTime", "startTime", "startedAt",
    "finishedAt", "time", "restartedAt", "abortedAt",
})
"""Fields whose values differ in every object or every update: shared within one object
only (a condition's times repeat inside it), never in the process-wide table."""

DEFAULT_TABLE_LIMIT = 200_000


class StringTable:
    """Hands out one copy of each equal short string; bounded.

    Past `limit` distinct strings the table is emptied and starts over: sharing is an
    optimisation, never needed for correctness, and this keeps the table from growing
    forever as objects come and go (names of deleted Rollouts, old image tags).
    """

    def __init__(self, limit: int = DEFAULT_TABLE_LIMIT) -> None:
        self.limit = limit
        self._strings: dict[str, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._strings)

    def __contains__(self, text: object) -> bool:
        return text in self._strings

    def share(self, text: str) -> str:
        found = self._strings.get(text)
        if found is not None:
            return found
        with self._lock:
            if len(self._strings) >= self.limit:
                self._strings = {}
            return self._strings.setdefault(text, text)


def lean(obj: dict[str, Any], table: StringTable) -> dict[str, Any]:
    """A copy of the API object `obj` to cache: see the module docstring for what changes."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and ("managedFields" in metadata or _drops(metadata)):
        metadata = {key: value for key, value in metadata.items() if key != "managedFields"}
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations = {k: v for k, v in annotations.items() if k not in DROPPED_ANNOTATIONS}
            if annotations:
                metadata["annotations"] = annotations
            else:
                del metadata["annotations"]
        obj = {**obj, "metadata": metadata}
    local: dict[str, str] = {}
    return _share_dict(obj, table, local)


def lean_transform(table: StringTable | None = None
                   ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """`lean` bound to `table` (a new one when None), as `Informer(transform=...)` takes."""
    chosen = table if table is not None else StringTable()
    return lambda obj: lean(obj, chosen)


def _drops(metadata: dict[str, Any]) -> bool:
    annotations = metadata.get("annotations")
    return isinstance(annotations, dict) and any(a in annotations for a in DROPPED_ANNOTATIONS)


def _share_dict(value: dict[str, Any], table: StringTable, local: dict[str, str]
                ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        shared_key = sys.intern(key) if isinstance(key, str) else key
        if isinstance(item, str):
            if len(item) <= SHARED_MAX_LENGTH:
                item = (local.setdefault(item, item) if key in PER_OBJECT_KEYS
                        else table.share(item))
        elif isinstance(item, dict):
            item = _share_dict(item, table, local)
        elif isinstance(item, list):
            item = _share_list(item, table, local)
        out[shared_key] = item
    return out


def _share_list(value: list[Any], table: StringTable, local: dict[str, str]) -> list[Any]:
    out: list[Any] = []
    for item in value:
        if isinstance(item, str) and len(item) <= SHARED_MAX_LENGTH:
            item = table.share(item)
        elif isinstance(item, dict):
            item = _share_dict(item, table, local)
        elif isinstance(item, list):
            item = _share_list(item, table, local)
        out.append(item)
    return out
