"""Destination clusters: the registry read from Argo CD's cluster Secrets and which one an
Application's destination names. Pure: the ApplicationSet `clusters` generator imports
it. The connection per registered cluster (it needs the client) is the submodule
`reconciler.clusters.connections`, imported by name where it is used.

Neighbours: the Application controller (`reconciler.destinations`), the ApplicationSet
`clusters` generator, `rollouts cluster`.
"""

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
    "ClusterProblem",
    "DestinationError",
    "TLSConfig",
    "local_cluster",
    "read_clusters",
    "resolve_destination",
    "scope_problem",
]
