"""Which live objects belong to which Application: Argo CD's tracking annotation.

Every object the reconciler applies carries

    argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>

for example `guestbook:/Service:default/guestbook-ui` (the core group is empty) or
`guestbook:apps/Deployment:default/guestbook-ui`; a cluster-scoped object has an empty
namespace (`infra:/Namespace:/shop`). Only objects whose annotation names the Application
*and the object itself* are ever pruned: a Deployment's ReplicaSets inherit its
annotations, so an id that names another object (the Deployment) does not make the
ReplicaSet ours. Pure functions; neighbours: `reconciler.diff` and `reconciler.syncplan`
key their results by `resource_key`.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

__all__ = [
    "TRACKING_ANNOTATION",
    "ResourceKey",
    "TrackingId",
    "group_of",
    "is_tracked_by",
    "parse_tracking_id",
    "resource_key",
    "tracking_id",
    "with_tracking",
]

TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"


class ResourceKey(NamedTuple):
    """The identity of one object: `(group, kind, namespace, name)`; "" when absent.

    The version is left out on purpose: `apps/v1` and `apps/v1beta2` name the same object.
    """

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        kind = f"{self.group}/{self.kind}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"


class TrackingId(NamedTuple):
    """A parsed tracking annotation: the Application and the object it was written for."""

    app: str
    key: ResourceKey


def group_of(obj: dict[str, Any]) -> str:
    """The API group of an object (`apps` for `apps/v1`, "" for `v1`)."""
    api_version = str(obj.get("apiVersion") or "")
    group, _, _ = api_version.rpartition("/")
    return group


def resource_key(obj: dict[str, Any]) -> ResourceKey:
    """`(group, kind, namespace, name)` of an object (a hook with only `generateName`
    is keyed by its generateName)."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or metadata.get("generateName") or "")
    return ResourceKey(group_of(obj), str(obj.get("kind") or ""),
                       str(metadata.get("namespace") or ""), name)


def tracking_id(app: str, obj: dict[str, Any]) -> str:
    """The annotation value that marks `obj` as applied by Application `app`."""
    key = resource_key(obj)
    return f"{app}:{key.group}/{key.kind}:{key.namespace}/{key.name}"


def parse_tracking_id(value: str) -> TrackingId | None:
    """The Application and object named by an annotation value; None when malformed.

    Object names may contain ':' (RBAC names such as `system:aggregate-to-view`), app
    names, groups and kinds may not, so the value is split from the left.
    """
    app, sep, rest = value.partition(":")
    group_kind, sep2, namespace_name = rest.partition(":")
    if not (sep and sep2 and app and "/" in group_kind and "/" in namespace_name):
        return None
    group, _, kind = group_kind.rpartition("/")
    namespace, _, name = namespace_name.partition("/")
    if not kind or not name:
        return None
    return TrackingId(app, ResourceKey(group, kind, namespace, name))


def is_tracked_by(obj: dict[str, Any], app: str) -> bool:
    """Whether `obj` carries a tracking id of `app` written for this very object."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    parsed = parse_tracking_id(str(annotations.get(TRACKING_ANNOTATION) or ""))
    return parsed is not None and parsed.app == app and parsed.key == resource_key(obj)


def with_tracking(obj: dict[str, Any], app: str) -> dict[str, Any]:
    """A copy of `obj` with the tracking annotation of `app` set (to apply it).

    Set `metadata.namespace` first: the id names the namespace, and an id that does not
    match the live object's identity does not count as tracking (`is_tracked_by`).
    """
    tracked = copy.deepcopy(obj)
    metadata = tracked.setdefault("metadata", {})
    annotations = metadata.get("annotations") or {}
    metadata["annotations"] = {**annotations, TRACKING_ANNOTATION: tracking_id(app, tracked)}
    return tracked
