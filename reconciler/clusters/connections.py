"""A connection per registered cluster: made on first use, remade when its Secret changes,
closed when its Secret goes.

`ClusterConnections` is generic over what hangs on a connection (the Application
controller keeps a client, its watches and its diff cache per cluster: see
`reconciler.destinations`), so this module knows nothing of them and is tested with a
trivial builder. `client_for` makes the `rollouts.kube.KubeClient` of a cluster from its
Secret's server, bearer token and TLS data.

A connection is keyed by the cluster Secret's name and remembered with the Secret's
`resourceVersion` and server: a rotated token or a new CA is a new client, and the old
one is closed (its watches stop). Once `retain` has named the registered clusters, `get`
builds only those, at those versions (`ClusterGone` otherwise): a worker holding a list
read before a Secret went cannot open a connection that nothing would close. The local
cluster is never built: the controller's own client serves it. Neighbours:
`reconciler.clusters.registry` (the clusters), `rollouts.kube` (the client).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from reconciler.clusters.registry import Cluster
from rollouts.kube import KubeClient

__all__ = ["ClusterConnections", "ClusterGone", "client_for"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def client_for(cluster: Cluster, *, field_manager: str) -> KubeClient:
    """A client for `cluster` from what its Secret says (token, CA, client certificate)."""
    tls = cluster.tls
    # The client's default timeouts, as the local cluster's: an unreachable cluster holds
    # a worker no longer than the local one would.
    return KubeClient.for_server(
        cluster.server, bearer_token=cluster.bearer_token, ca_data=tls.ca_data,
        cert_data=tls.cert_data, key_data=tls.key_data, insecure=tls.insecure,
        server_name=tls.server_name, field_manager=field_manager)


class ClusterGone(LookupError):
    """`get` of a cluster the last `retain` did not name (at that version): read the
    clusters again."""


@dataclass
class _Entry(Generic[T]):
    version: tuple[str | None, str]
    value: T


class ClusterConnections(Generic[T]):
    """`get(cluster)`: the connection of a registered cluster (see the module docstring)."""

    def __init__(self, *, local: T, build: Callable[[Cluster], T],
                 close: Callable[[T], None]) -> None:
        self.local = local
        self._build = build
        self._close = close
        self._entries: dict[str, _Entry[T]] = {}
        self._registered: dict[str, tuple[str | None, str]] | None = None
        """key -> version of the clusters the last `retain` named (None: not yet told)."""
        self._lock = threading.Lock()
        self._stopped = False

    @staticmethod
    def _key(cluster: Cluster) -> str:
        return cluster.secret or cluster.server

    def get(self, cluster: Cluster) -> T:
        if cluster.local:
            return self.local
        key, version = self._key(cluster), (cluster.resource_version, cluster.server)
        stale: T | None = None
        with self._lock:
            if self._stopped:
                raise RuntimeError("the cluster connections are stopped")
            if self._registered is not None and self._registered.get(key) != version:
                raise ClusterGone(f"cluster Secret {key} changed or went since it was read")
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                return entry.value
            if entry is not None:
                stale = entry.value
            value = self._build(cluster)
            self._entries[key] = _Entry(version, value)
            log.info("connected to cluster %s at %s", cluster.name, cluster.server)
        if stale is not None:
            self._close(stale)
        return value

    def retain(self, clusters: Iterable[Cluster]) -> None:
        """Close the connections of clusters no longer registered (their Secret went)."""
        keep = {self._key(c): (c.resource_version, c.server) for c in clusters if not c.local}
        with self._lock:
            self._registered = keep
            gone = [k for k in self._entries if k not in keep]
            closed = [self._entries.pop(k).value for k in gone]
        for key, value in zip(gone, closed, strict=True):
            log.info("cluster Secret %s is gone; its connection is closed", key)
            self._close(value)

    def connected(self) -> list[T]:
        with self._lock:
            return [entry.value for entry in self._entries.values()]

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            closed = [entry.value for entry in self._entries.values()]
            self._entries.clear()
        for value in closed:
            self._close(value)
