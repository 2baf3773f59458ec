"""Watches on the kinds Applications manage, created on demand; and their lifecycle.

The Application controller cannot know up front which kinds it will apply (any CRD may
appear in Git), so `WatchRegistry.informer(kind, namespace)` starts an `Informer` the
first time a kind is needed: one per namespace for namespaced kinds (the namespaces the
apps deploy into, not the whole cluster), one cluster-wide for cluster-scoped kinds.
Every informer feeds the same handler, which maps a changed object to its Application
through the tracking annotation: drift is noticed from watch events within moments, and
reconciles read the caches (no LIST in a loop). Informers stay until the controller stops
(a kind an app stopped using keeps its watch; restarting the process drops it).
The registry also indexes every watched object by the Application its tracking
annotation names (`tracked(app, watches)`), so a compare finds an app's objects without
scanning every object of its kinds: with 1,000 apps in one namespace that scan made each
reconcile cost O(all objects).

`Background` is how these (and the webhook server) start and stop with the `Manager`:
the manager starts, polls and stops whatever a controller returns from `informers()`, so
the controller returns one `Background` among its informers. `start` starts the webhook
server, `has_synced` is always true (dynamic informers are waited for where they are
created), `stop` stops the webhook and every dynamic informer.

A watch the API server refuses for good (403: the reconciler is not bound in that
namespace) raises `WatchRefused`, which the Application shows as a ComparisonError
instead of waiting forever for a sync that cannot come.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from typing import Any, Protocol

from reconciler.tracking import TRACKING_ANNOTATION, is_tracked_by, parse_tracking_id
from rollouts.kube import Handler, Informer, Kind, KubeClient, KubeError

__all__ = ["Background", "WatchRefused", "WatchRegistry"]

log = logging.getLogger(__name__)

SYNC_POLL = 0.1
"""Seconds between looks at a new watch that has not synced: a refusal ends the wait."""

Obj = dict[str, Any]
WatchKey = tuple[Kind, str | None]
ObjKey = tuple[WatchKey, str, str]
"""(watch, namespace, name) of a cached object."""


def _tracking_app(obj: Obj | None) -> str | None:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    parsed = parse_tracking_id(str(annotations.get(TRACKING_ANNOTATION) or ""))
    return parsed.app if parsed is not None else None


class _Server(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class WatchRefused(Exception):
    """The API server refuses to list a kind in a namespace (RBAC, say): waiting for the
    watch to sync would never end, so the Application reports it instead."""

    temporary = False

    def __init__(self, kind: Kind, namespace: str | None, error: KubeError) -> None:
        where = f"in namespace {namespace}" if namespace else "cluster-wide"
        super().__init__(
            f"cannot watch {kind.plural} {where}: {error}; grant the reconciler's "
            "ServiceAccount get/list/watch there (manifests/install/namespaced binds "
            "rollouts-reconciler-apply per namespace)")


class WatchRegistry:
    """Informers per (kind, namespace), created when first asked for."""

    def __init__(self, client: KubeClient, handler: Handler, *, sync_timeout: float = 10.0
                 ) -> None:
        self.client = client
        self.handler = handler
        self.sync_timeout = sync_timeout
        self._informers: dict[WatchKey, Informer] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._by_app: dict[str, dict[ObjKey, Obj]] = {}
        """Tracking app name -> its watched objects (kept by `_index`)."""

    @staticmethod
    def key(kind: Kind, namespace: str | None) -> WatchKey:
        return (kind, (namespace or None) if kind.namespaced else None)

    def informer(self, kind: Kind, namespace: str | None) -> Informer | None:
        """The synced informer of `kind` in `namespace`; None if it has not synced in time.
        Raises `WatchRefused` when its list fails for good (403, 404 of the kind)."""
        key = self.key(kind, namespace)
        with self._lock:
            if self._stopped:
                return None
            informer = self._informers.get(key)
            created = informer is None
            if informer is None:
                informer = Informer(self.client, kind, key[1])
                informer.add_handler(self._indexer(key))  # first: the handler reads it
                informer.add_handler(self.handler)
                self._informers[key] = informer
                informer.start()
                log.info("watching %s in %s", kind.plural, key[1] or "all namespaces")
        # A new watch gets time for its first list; one that failed to list before (RBAC,
        # a kind being removed) is not waited for again at length by every reconcile.
        deadline = time.monotonic() + (self.sync_timeout if created else 0.5)
        while not informer.wait_for_sync(min(SYNC_POLL, max(0.0, deadline - time.monotonic()))):
            error = informer.last_error
            if error is not None and not error.temporary:
                raise WatchRefused(kind, key[1], error)
            if time.monotonic() >= deadline:
                return None
        return informer

    def _indexer(self, watch: WatchKey) -> Handler:
        def index(event_type: str, obj: Obj, old: Obj | None) -> None:
            metadata = obj.get("metadata") or {}
            key: ObjKey = (watch, str(metadata.get("namespace") or ""),
                           str(metadata.get("name") or ""))
            before, after = _tracking_app(old), _tracking_app(obj)
            if event_type == "DELETED":
                after = None
            with self._lock:
                if before is not None and before != after:
                    entries = self._by_app.get(before)
                    if entries is not None:
                        entries.pop(key, None)
                        if not entries:
                            del self._by_app[before]
                if after is not None:
                    self._by_app.setdefault(after, {})[key] = obj
        return index

    def tracked(self, app: str, watches: Collection[WatchKey]) -> list[Obj]:
        """The objects in `watches` whose tracking annotation names `app` for that very
        object (`reconciler.tracking.is_tracked_by`), from the index."""
        with self._lock:
            entries = list((self._by_app.get(app) or {}).items())
        return [obj for (watch, _, _), obj in entries
                if watch in watches and is_tracked_by(obj, app)]

    def cached(self, kind: Kind, namespace: str | None) -> Informer | None:
        """The informer if it exists and has synced (never creates one)."""
        with self._lock:
            informer = self._informers.get(self.key(kind, namespace))
        return informer if informer is not None and informer.has_synced() else None

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        informer = self.cached(kind, namespace)
        if informer is None:
            return None
        return informer.get(namespace if kind.namespaced else None, name)

    def watched(self) -> list[WatchKey]:
        with self._lock:
            return list(self._informers)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            informers = list(self._informers.values())
        for informer in informers:
            informer.stop()


class Background:
    """Runs the dynamic watches and the webhook server for as long as the manager runs."""

    def __init__(self, registry: WatchRegistry, server: _Server | None = None) -> None:
        self.registry = registry
        self.server = server

    def start(self) -> None:
        if self.server is not None:
            self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.registry.stop()

    def has_synced(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Background(watches={len(self.registry.watched())})"
