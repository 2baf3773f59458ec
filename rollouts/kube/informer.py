"""`Informer`: a local cache of one kind of object, kept current by list + watch.

Reconciles read the cache, never LIST in a loop (DESIGN section 4). One thread per
informer lists the objects, then watches from the list's resourceVersion:

- each watch event updates the cache, then calls the handlers from that thread with
  `(event_type, obj, old)` (`old` is the cached object before the change, or None);
- the server ends a watch after a few minutes: the informer watches again from the last
  resourceVersion it saw (BOOKMARK events only move that forward);
- `410 Gone` (the resourceVersion is too old) makes it list again; the difference
  between the old cache and the new list is delivered as synthesized ADDED / MODIFIED /
  DELETED events, so handlers miss nothing that happened while it was not watching;
- any other failure (API server down, timeouts) is logged and retried with exponential
  backoff from 0.5 s to 30 s, forever: the cache keeps serving its last state meanwhile.

With `transform`, each listed or watched object is passed through it before it is
cached and handed to handlers (`rollouts.kube.lean`: drop what no reader needs, share
strings), so handlers compare old and new copies made the same way.

Objects returned by `get`, `list` and `by_owner` are the cached dicts themselves: treat
them as read-only (copy before changing). `stop()` closes the open watch, so it returns
within a moment. Neighbours: built on `KubeClient.list/watch`; the runtime's manager
starts informers and turns handler calls into work-queue keys.
"""

from __future__ import annotations

import builtins
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from rollouts.kube.client import KubeClient
from rollouts.kube.errors import Gone, KubeError, Unavailable
from rollouts.kube.kinds import Kind
from rollouts.kube.stream import WatchStream
from rollouts.kube.watch import WatchEvent

__all__ = ["Change", "ChangeType", "Handler", "Informer", "Transform", "backoff_delay",
           "diff_snapshot"]

log = logging.getLogger(__name__)

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
Handler = Callable[[ChangeType, dict[str, Any], dict[str, Any] | None], None]
Transform = Callable[[dict[str, Any]], dict[str, Any]]
Key = tuple[str, str]  # (namespace or "", name)
Change = tuple[ChangeType, dict[str, Any], dict[str, Any] | None]

MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0


def backoff_delay(attempt: int, base: float = MIN_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait before retry number `attempt` (0-based): 0.5, 1, 2, 4 ... 30, 30."""
    return min(cap, base * float(2 ** min(attempt, 32)))


def object_key(obj: Mapping[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def diff_snapshot(
    old: Mapping[Key, dict[str, Any]], new: Mapping[Key, dict[str, Any]]
) -> builtins.list[Change]:
    """The events that turn cache `old` into list result `new` (pure).

    Same name with another uid means the object was deleted and created again while we
    were not watching: that is a DELETED then an ADDED, not a MODIFIED.
    """
    changes: builtins.list[Change] = []
    for key, before in old.items():
        after = new.get(key)
        if after is None or _uid(after) != _uid(before):
            changes.append(("DELETED", before, before))
    for key, after in new.items():
        previous = old.get(key)
        if previous is None or _uid(after) != _uid(previous):
            changes.append(("ADDED", after, None))
        elif _resource_version(after) != _resource_version(previous):
            changes.append(("MODIFIED", after, previous))
    return changes


class Informer:
    """A watched cache of `kind` objects (in `namespace`, or all namespaces)."""

    def __init__(
        self,
        client: KubeClient,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        watch_timeout_seconds: int = 300,
        transform: Transform | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.client = client
        self.field_selector = field_selector
        self.transform = transform
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.watch_timeout_seconds = watch_timeout_seconds
        self._cache: dict[Key, dict[str, Any]] = {}
        self._owned: dict[str, set[Key]] = {}  # owner uid -> keys of the objects it owns
        self._lock = threading.RLock()
        self._handlers: builtins.list[Handler] = []
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._stream: WatchStream | None = None
        self._thread: threading.Thread | None = None
        self._resource_version = ""
        self._last_error: KubeError | None = None

    # --- reading the cache --------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._cache.get((namespace or "", name))

    def list(self, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        with self._lock:
            if namespace is None:
                return builtins.list(self._cache.values())
            return [obj for (ns, _), obj in self._cache.items() if ns == namespace]

    def by_owner(self, uid: str) -> builtins.list[dict[str, Any]]:
        """The cached objects whose ownerReferences name `uid`."""
        with self._lock:
            return [self._cache[key] for key in self._owned.get(uid, ()) if key in self._cache]

    @property
    def resource_version(self) -> str:
        """The last resourceVersion seen (from a list, an event or a bookmark)."""
        return self._resource_version

    def has_synced(self) -> bool:
        """True once the first list is in the cache and its ADDED events were delivered."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    @property
    def last_error(self) -> KubeError | None:
        """Why the last list or watch failed (None once a list succeeded since): lets a
        caller tell "not synced yet" from "refused" (a 403 is not worth waiting for)."""
        return self._last_error

    # --- running ------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Call `handler(event_type, obj, old)` on every change, from the informer's thread.

        Add handlers before `start()` to see the first list's ADDED events.
        """
        self._handlers.append(handler)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"informer-{self.kind.plural}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        where = self.namespace or "all namespaces"
        selector = "".join(f", {s}" for s in (self.label_selector, self.field_selector) if s)
        return f"Informer({self.kind.plural} in {where}{selector})"

    def stop(self, timeout: float = 2.0) -> None:
        """Stop watching; returns once the thread ended (or after `timeout` seconds)."""
        self._stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        attempt = 0
        must_list = True
        while not self._stopping.is_set():
            try:
                if must_list:
                    self._relist()
                    must_list = False
                started = time.monotonic()
                delivered = self._watch()
                if delivered or time.monotonic() - started >= 1.0:
                    attempt = 0
                    continue
                # A watch that ends at once with nothing in it is a failure in disguise.
                raise Unavailable("the API server ended the watch at once")
            except Gone:
                log.info("%s: resourceVersion %s is too old, listing again",
                         self.kind.plural, self._resource_version)
                must_list = True
                if attempt == 0:
                    attempt = 1
                    continue
            except Exception as exc:
                if isinstance(exc, KubeError):
                    self._last_error = exc
                log.warning("%s informer: %s; retrying in %.1fs", self.kind.plural, exc,
                            backoff_delay(attempt))
            self._stopping.wait(backoff_delay(attempt))
            attempt += 1

    def _relist(self) -> None:
        # Transformed page by page: a relist never holds the whole raw list of a kind.
        result = self.client.list(self.kind, self.namespace,
                                  label_selector=self.label_selector,
                                  field_selector=self.field_selector,
                                  transform=self.transform)
        self._last_error = None
        items, version = result.items, result.resource_version
        del result
        fresh = {object_key(obj): obj for obj in items}
        del items
        with self._lock:
            old = self._cache
            self._cache = fresh
            self._owned = {}
            for key, obj in fresh.items():
                self._index(key, obj)
            self._resource_version = version
        for change in diff_snapshot(old, fresh):
            self._dispatch(*change)
        self._synced.set()

    def _watch(self) -> int:
        timeout = random.randint(self.watch_timeout_seconds, 2 * self.watch_timeout_seconds)
        stream = self.client.watch(
            self.kind, self.namespace, self._resource_version, timeout,
            label_selector=self.label_selector, field_selector=self.field_selector,
        )
        with self._lock:
            self._stream = stream
        if self._stopping.is_set():  # stop() ran before the stream was registered
            stream.close()
        delivered = 0
        try:
            for event in stream:
                if self._stopping.is_set():
                    break
                self._apply(event)
                delivered += 1
        finally:
            with self._lock:
                self._stream = None
            stream.close()
        return delivered

    def _apply(self, event: WatchEvent) -> None:
        if event.resource_version:
            self._resource_version = event.resource_version
        if event.type == "BOOKMARK":
            return
        obj = event.object if self.transform is None else self.transform(event.object)
        obj.setdefault("apiVersion", self.kind.api_version)
        obj.setdefault("kind", self.kind.kind)
        key = object_key(obj)
        with self._lock:
            old = self._cache.get(key)
            if old is not None:
                self._unindex(key, old)
            if event.type == "DELETED":
                self._cache.pop(key, None)
            else:
                self._cache[key] = obj
                self._index(key, obj)
        self._dispatch(event.type, obj, old)

    def _dispatch(
        self, event_type: ChangeType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        for handler in builtins.list(self._handlers):
            try:
                handler(event_type, obj, old)
            except Exception:
                log.exception("%s informer: a handler failed on %s %s/%s", self.kind.plural,
                              event_type, *object_key(obj))

    def _index(self, key: Key, obj: dict[str, Any]) -> None:
        for uid in _owner_uids(obj):
            self._owned.setdefault(uid, set()).add(key)

    def _unindex(self, key: Key, obj: dict[str, Any]) -> None:
        for uid in _owner_uids(obj):
            keys = self._owned.get(uid)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._owned[uid]


def _owner_uids(obj: Mapping[str, Any]) -> builtins.list[str]:
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(ref["uid"]) for ref in references if isinstance(ref, dict) and ref.get("uid")]


def _uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
