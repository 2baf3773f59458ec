"""Which registered cluster an Application's `spec.destination` names: pure, no I/O.

Argo CD's rules, with its messages as the guide:

- `server` and `name` both set is an error, even when they name the same cluster;
- `name` picks the cluster registered under that name (`in-cluster` is the local one
  unless a Secret registers the local server under another name);
- `server` picks the cluster registered at that URL (a trailing `/` does not matter;
  `https://kubernetes.default.svc` is the local one);
- neither set, or nothing registered under it, is an error: never a fallback to the local
  cluster, since applying a staging app to the control plane's own cluster is the one
  mistake worse than not applying it;
- a cluster registered with `namespaces` serves only those namespaces, and cluster-scoped
  kinds only with `clusterResources: "true"` (`scope_problem`, asked for every rendered
  object).

A broken cluster Secret (`ClusterProblem`) is named in the "not found" message: the
cluster the user meant is often the one whose Secret does not parse.

Neighbours: `reconciler.clusters.registry` (the clusters), the Application controller
(turns an error into an `InvalidSpecError` condition and applies nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.clusters.registry import Cluster, ClusterProblem

__all__ = ["DestinationError", "resolve_destination", "scope_problem"]


@dataclass(frozen=True)
class DestinationError:
    """Why a destination names no usable cluster; `message` is one line for a condition."""

    message: str


def resolve_destination(clusters: Sequence[Cluster], *, server: str | None, name: str | None,
                        namespace: str | None = None,
                        problems: Sequence[ClusterProblem] = ()) -> Cluster | DestinationError:
    """The cluster `spec.destination` names, or why none (see the module docstring)."""
    server = (server or "").strip().rstrip("/")
    name = (name or "").strip()
    if server and name:
        return DestinationError(
            f"application destination can't have both name and server defined: {name} "
            f"{server}; keep one of spec.destination.name and spec.destination.server")
    if not server and not name:
        return DestinationError("Destination server missing from app spec: set "
                                "spec.destination.server or spec.destination.name")
    if name:
        found = [c for c in clusters if c.name == name]
        if not found:
            return DestinationError(
                f"unable to find destination server: there are no clusters with this name: "
                f"{name}; register it (`rollouts cluster add CONTEXT --name {name}`) or fix "
                f"spec.destination.name{_unread(problems)}")
    else:
        found = [c for c in clusters if c.server == server]
        if not found:
            return DestinationError(
                f"cluster '{server}' has not been configured; register it (`rollouts "
                f"cluster add CONTEXT`) or fix spec.destination.server{_unread(problems)}")
    cluster = found[0]  # read_clusters keeps names and servers unique
    if cluster.namespaces and namespace and namespace not in cluster.namespaces:
        return DestinationError(
            f"namespace '{namespace}' is not managed by cluster '{cluster.name}' (its Secret "
            f"lists only {', '.join(cluster.namespaces)}); add it to the Secret's "
            "namespaces or deploy to a listed one")
    return cluster


def scope_problem(cluster: Cluster, *, namespace: str, namespaced: bool) -> str | None:
    """None when `cluster` serves an object there, else why not (namespaced clusters)."""
    if not cluster.namespaces:
        return None
    if not namespaced:
        if cluster.cluster_resources:
            return None
        return (f"cluster '{cluster.name}' is limited to namespaces "
                f"{', '.join(cluster.namespaces)} without clusterResources: cluster-scoped "
                "objects are not managed there")
    if namespace in cluster.namespaces:
        return None
    return (f"namespace '{namespace}' is not managed by cluster '{cluster.name}' (its Secret "
            f"lists only {', '.join(cluster.namespaces)})")


def _unread(problems: Sequence[ClusterProblem]) -> str:
    if not problems:
        return ""
    more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
    return f" (unreadable: {problems[0].message}{more})"
