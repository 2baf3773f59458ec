"""Destination clusters: the registry read from Argo CD's cluster Secrets, which one an
Application's destination names, and a connection per registered cluster.

Neighbours: the Application controller (`reconciler.destinations`), the ApplicationSet
`clusters` generator, `rollouts cluster`.
"""

from reconciler.clusters.connections import ClusterConnections, client_for
from reconciler.clusters.destination import (
    DestinationError,
    resolve_destination,
    scope_problem,
)
from reconciler.clusters.registry import (
    CLUSTER_SECRET_SELECTOR,
    LOCAL_NAME,
    LOCAL_SERVER,
    SECRET_TYPE_LABEL,
    Cluster,
    ClusterProblem,
    TLSConfig,
    local_cluster,
    read_clusters,
)

__all__ = [
    "CLUSTER_SECRET_SELECTOR",
    "LOCAL_NAME",
    "LOCAL_SERVER",
    "SECRET_TYPE_LABEL",
    "Cluster",
    "ClusterConnections",
    "ClusterProblem",
    "DestinationError",
    "TLSConfig",
    "client_for",
    "local_cluster",
    "read_clusters",
    "resolve_destination",
    "scope_problem",
]
