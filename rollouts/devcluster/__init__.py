"""The local control plane (DESIGN.md section 9): real Kubernetes without Docker.

kube-apiserver, kube-controller-manager, kube-scheduler and kubectl built from
`k8s.io/kubernetes`, etcd from `go.etcd.io/etcd/server/v3` and kwok from
`sigs.k8s.io/kwok` (see `versions`), plus Debian's Prometheus. Standard library only:
it must run before anything else of ours can.
"""

from rollouts.devcluster.cluster import (
    Cluster,
    down,
    restart_component,
    start_component,
    stop_component,
    up,
)
from rollouts.devcluster.errors import DevClusterError

__all__ = ["Cluster", "DevClusterError", "down", "restart_component", "start_component",
           "stop_component", "up"]
