"""Kinds of Kubernetes objects and the REST paths they live at.

A `Kind` names everything needed to address one resource type (group, version, plural,
namespaced), so every request in `rollouts.kube.client`, CRDs included, goes through the
same code path: no generated API classes, no per-kind methods. Neighbours:
`rollouts.kube.request` turns a `Kind` plus a verb into a request; callers use the
constants below (`ROLLOUT`, `REPLICA_SET`, ...) or `kind_for(apiVersion, kind)`.

    >>> ROLLOUT.path("shop", "web", "status")
    '/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status'
    >>> POD.path(None)
    '/api/v1/pods'
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "ANALYSIS_RUN",
    "ANALYSIS_TEMPLATE",
    "APPLICATION",
    "APP_PROJECT",
    "CLUSTER_ANALYSIS_TEMPLATE",
    "CONFIG_MAP",
    "CUSTOM_RESOURCE_DEFINITION",
    "DAEMON_SET",
    "DEPLOYMENT",
    "EVENT",
    "EXPERIMENT",
    "INGRESS",
    "JOB",
    "KNOWN_KINDS",
    "LEASE",
    "NAMESPACE",
    "PERSISTENT_VOLUME_CLAIM",
    "POD",
    "REPLICA_SET",
    "ROLLOUT",
    "SECRET",
    "SERVICE",
    "SERVICE_ACCOUNT",
    "STATEFUL_SET",
    "Kind",
    "kind_for",
    "split_api_version",
]


@dataclass(frozen=True, slots=True)
class Kind:
    """One resource type of the API server; `group` is "" for the core group."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """The `apiVersion` objects of this kind carry (`apps/v1`, or `v1` for core)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path of the collection, or of one object (and one of its subresources).

        `namespace=None` on a namespaced kind addresses all namespaces (list and watch only);
        a namespace given for a cluster-scoped kind is ignored, so callers may pass
        `obj["metadata"].get("namespace")` without checking the scope.
        """
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            prefix = f"{prefix}/namespaces/{_segment(namespace)}"
        elif self.namespaced and name is not None:
            raise ValueError(
                f"{self.kind} {name!r} is namespaced: give its namespace to address it"
            )
        path = f"{prefix}/{self.plural}"
        if name is not None:
            path = f"{path}/{_segment(name)}"
        if subresource:
            if name is None:
                raise ValueError(f"subresource {subresource!r} of {self.kind} needs an object name")
            path = f"{path}/{_segment(subresource)}"
        return path


def _segment(value: str) -> str:
    if not value or value in (".", ".."):
        raise ValueError(f"{value!r} is not a valid name in a Kubernetes API path")
    return quote(value, safe="")


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`)."""
    group, _, version = api_version.rpartition("/")
    return group, version


_ARGO = "argoproj.io"

ROLLOUT = Kind(_ARGO, "v1alpha1", "rollouts", "Rollout")
ANALYSIS_RUN = Kind(_ARGO, "v1alpha1", "analysisruns", "AnalysisRun")
ANALYSIS_TEMPLATE = Kind(_ARGO, "v1alpha1", "analysistemplates", "AnalysisTemplate")
CLUSTER_ANALYSIS_TEMPLATE = Kind(
    _ARGO, "v1alpha1", "clusteranalysistemplates", "ClusterAnalysisTemplate", namespaced=False
)
EXPERIMENT = Kind(_ARGO, "v1alpha1", "experiments", "Experiment")
APPLICATION = Kind(_ARGO, "v1alpha1", "applications", "Application")
APP_PROJECT = Kind(_ARGO, "v1alpha1", "appprojects", "AppProject")

REPLICA_SET = Kind("apps", "v1", "replicasets", "ReplicaSet")
DEPLOYMENT = Kind("apps", "v1", "deployments", "Deployment")
STATEFUL_SET = Kind("apps", "v1", "statefulsets", "StatefulSet")
DAEMON_SET = Kind("apps", "v1", "daemonsets", "DaemonSet")

SERVICE = Kind("", "v1", "services", "Service")
POD = Kind("", "v1", "pods", "Pod")
SECRET = Kind("", "v1", "secrets", "Secret")
CONFIG_MAP = Kind("", "v1", "configmaps", "ConfigMap")
SERVICE_ACCOUNT = Kind("", "v1", "serviceaccounts", "ServiceAccount")
PERSISTENT_VOLUME_CLAIM = Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
NAMESPACE = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
EVENT = Kind("", "v1", "events", "Event")

JOB = Kind("batch", "v1", "jobs", "Job")
LEASE = Kind("coordination.k8s.io", "v1", "leases", "Lease")
INGRESS = Kind("networking.k8s.io", "v1", "ingresses", "Ingress")
CUSTOM_RESOURCE_DEFINITION = Kind(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
    namespaced=False,
)

KNOWN_KINDS: tuple[Kind, ...] = (
    ROLLOUT, ANALYSIS_RUN, ANALYSIS_TEMPLATE, CLUSTER_ANALYSIS_TEMPLATE, EXPERIMENT, APPLICATION,
    APP_PROJECT,
    REPLICA_SET, DEPLOYMENT, STATEFUL_SET, DAEMON_SET,
    SERVICE, POD, SECRET, CONFIG_MAP, SERVICE_ACCOUNT, PERSISTENT_VOLUME_CLAIM, NAMESPACE, EVENT,
    JOB, LEASE, INGRESS, CUSTOM_RESOURCE_DEFINITION,
)

_BY_TYPE: dict[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in KNOWN_KINDS}


def kind_for(api_version: str, kind: str) -> Kind | None:
    """The known `Kind` for an object's `apiVersion` and `kind`, or None when we don't know it.

    Unknown kinds (other CRDs, other built-ins) are resolved by
    `KubeClient.discover_kind`, which asks the API server.
    """
    return _BY_TYPE.get((api_version, kind))
