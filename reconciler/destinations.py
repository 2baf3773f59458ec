"""The Application controller's one seam to clusters: "the destination of this app".

`Destinations.for_app(app)` resolves `spec.destination` against the clusters registered
as Secrets in the control namespace (`reconciler.clusters`: read from a label-selected
watch, `argocd.argoproj.io/secret-type=cluster`) and answers a `Destination`: the
cluster and everything the controller does there, bound to that cluster's client —
the watches that notice drift, the diff cache, the versions a sync wrote and the
`OperationRunner` that compares, syncs, self-heals and prunes. The controller never
asks which cluster it talks to; it asks its destination. An unknown destination is a
`DestinationError` (the controller shows it as `InvalidSpecError` and applies nothing
anywhere), never the local cluster.

Remote destinations are made on first use and remade when their Secret changes
(`ClusterConnections`); when the Secret goes, its watches stop and its client closes.
The local destination (`in-cluster`, `https://kubernetes.default.svc`) is the
controller's own client. `Destinations` starts and stops with the manager like an
informer (`start`, `has_synced`, `stop`).

Neighbours: `reconciler.controller` (asks it), `reconciler.operation_runner` (the work).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from reconciler.app_source import AppSources
from reconciler.clusters import (
    CLUSTER_SECRET_SELECTOR,
    Cluster,
    ClusterProblem,
    DestinationError,
    read_clusters,
    resolve_destination,
)
from reconciler.clusters.connections import ClusterConnections, ClusterGone, client_for
from reconciler.compare import DiffCache
from reconciler.operation_runner import OperationRunner
from reconciler.project_gate import ProjectGate
from reconciler.sync import AppliedVersions
from reconciler.watches import WatchRegistry
from rollouts.api import Application
from rollouts.kube import SECRET, Handler, KubeClient
from rollouts.kube.shared import SharedInformers

__all__ = ["Destination", "Destinations"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Destination:
    """A cluster and the controller's machinery bound to its client: the runner holds
    the client, the watches, the diff cache and the versions a sync wrote."""

    cluster: Cluster
    runner: OperationRunner

    @property
    def client(self) -> KubeClient:
        return self.runner.client

    @property
    def watches(self) -> WatchRegistry:
        return self.runner.watches

    @property
    def diffs(self) -> DiffCache:
        return self.runner.diffs

    def close(self) -> None:
        self.watches.stop()
        self.client.close()


class Destinations:
    """Resolves Applications' destinations to `Destination`s (see the module docstring)."""

    def __init__(self, client: KubeClient, *, control_namespace: str, local: Destination,
                 sources: AppSources, gate: ProjectGate | None, field_manager: str,
                 on_tracked_change: Handler, informers: SharedInformers | None = None) -> None:
        # Shared: the ApplicationSet `clusters` generator reads the same Secrets.
        self.informer = (informers or SharedInformers(client)).informer(
            SECRET, control_namespace, CLUSTER_SECRET_SELECTOR)
        self.local = local
        self._sources, self._gate = sources, gate
        self._field_manager, self._control_namespace = field_manager, control_namespace
        self._on_tracked_change = on_tracked_change
        self._connections: ClusterConnections[Destination] = ClusterConnections(
            local=local, build=self._build, close=Destination.close)
        self._read: tuple[tuple[tuple[str, str], ...],
                          tuple[list[Cluster], list[ClusterProblem]]] | None = None
        self._local_view: Destination | None = None
        self._lock = threading.Lock()
        self._parse_lock = threading.Lock()
        self.informer.add_handler(self._on_secret)

    # -- what the controller asks -----------------------------------------------------------

    def clusters(self) -> tuple[list[Cluster], list[ClusterProblem]]:
        """The registered clusters (parsed again only when a Secret changed; each new list
        is handed to the connections at once, in the order the lists were read, so none
        is kept or made for a Secret that went)."""
        with self._parse_lock:
            secrets = self.informer.list()
            versions = tuple(sorted((str((s.get("metadata") or {}).get("name")),
                                     str((s.get("metadata") or {}).get("resourceVersion")))
                                    for s in secrets))
            with self._lock:
                if self._read is not None and self._read[0] == versions:
                    return self._read[1]
            parsed = read_clusters(secrets)
            with self._lock:
                self._read = (versions, parsed)
            self._connections.retain(parsed[0])
            return parsed

    def for_app(self, app: Application) -> Destination | DestinationError:
        destination = app.spec.destination
        name = destination.name or destination.server
        for _ in range(3):  # a Secret that changes between the read and the connection
            clusters, problems = self.clusters()
            found = resolve_destination(clusters, server=destination.server,
                                        name=destination.name,
                                        namespace=destination.namespace, problems=problems)
            if isinstance(found, DestinationError):
                return found
            if found.local:
                return self._local_as(found)
            try:
                return self._connections.get(found)
            except ClusterGone:
                continue  # a newer list was read meanwhile: resolve against it
        return DestinationError(f"cluster '{name}': its Secret keeps changing while "
                                "it is read; the app is compared again on its next change")

    def _local_as(self, found: Cluster) -> Destination:
        """The local machinery under the name it is registered with now (a Secret may
        rename it): projects judge rendered objects against that name and server. The
        runner made for it shares everything with the local one, the Secret values its
        compares saw included (`OperationRunner.for_cluster`)."""
        with self._lock:
            view = self._local_view
            if view is None or view.cluster != found:
                view = Destination(found, self.local.runner.for_cluster(found))
                self._local_view = view
            return view

    def forget(self, app_key: str) -> None:
        """The app is gone: drop what every destination remembers of it."""
        for destination in [self.local, *self._connections.connected()]:
            destination.diffs.forget(app_key)
            destination.runner.forget(app_key)

    def secret_values_of(self, app_key: str) -> frozenset[str]:
        """The Secret values the app's last compares saw, on whichever cluster they ran:
        what no message of ours may show."""
        return frozenset[str]().union(*(
            destination.runner.secret_values_of(app_key)
            for destination in [self.local, *self._connections.connected()]))

    def add_handler(self, handler: Handler) -> None:
        self.informer.add_handler(handler)

    # -- lifecycle, as an informer of the manager -----------------------------------------

    def start(self) -> None:
        self.informer.start()

    def has_synced(self) -> bool:
        return self.informer.has_synced()

    def stop(self) -> None:
        self.informer.stop()
        self._connections.stop()

    def __repr__(self) -> str:
        return f"Destinations(connected={len(self._connections.connected())})"

    # -- inside -------------------------------------------------------------------------

    def _on_secret(self, _type: str, _obj: Obj, _old: Obj | None) -> None:
        # Handlers run in the informer's thread after its cache changed: a deleted Secret
        # is no longer listed, so reading the list closes its connection (if no worker
        # read it first).
        self.clusters()

    def _build(self, cluster: Cluster) -> Destination:
        client = client_for(cluster, field_manager=self._field_manager)
        watches = WatchRegistry(client, self._on_tracked_change)
        diffs = DiffCache(client, self._field_manager)
        applied = AppliedVersions()
        runner = OperationRunner(client, watches, self._sources, diffs, applied,
                                 field_manager=self._field_manager,
                                 control_namespace=self._control_namespace, gate=self._gate,
                                 cluster=cluster)
        return Destination(cluster, runner)

