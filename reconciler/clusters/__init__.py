"""Destination clusters: the registry read from Argo CD's cluster Secrets.

Neighbours: the Application controller (destinations), the ApplicationSet `clusters`
generator, `rollouts cluster`.
"""

from reconciler.clusters.registry import (
    CLUSTER_SECRET_SELECTOR,
    LOCAL_NAME,
    LOCAL_SERVER,
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
    "Cluster",
    "ClusterProblem",
    "TLSConfig",
    "local_cluster",
    "read_clusters",
]
