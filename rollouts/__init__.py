"""rollouts: progressive delivery and GitOps for Kubernetes.

Packages: `rollouts.api` (models of our CRDs), `rollouts.kube` (the only user of the
kubernetes client), `rollouts.runtime` (queue, timers, manager), `rollouts.cli`
(click commands), `rollouts.devcluster` (the local control plane). Analysis lives in
the top-level `analysis` package and the Git reconciler in `reconciler`.
"""

__version__ = "0.1.0"
