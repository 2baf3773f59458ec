"""Orphaned objects: live objects in an Application's namespace that nothing tracks.

Argo CD's rules, applied to lists the caller passes in (no I/O here): monitoring is on
only when the project has `orphanedResources`; an object is orphaned when it is
namespaced, top-level (no ownerReferences: a ReplicaSet's pods belong to it, not to
nobody), not among the keys the caller tracks or desires, of a kind and namespace the
project permits (what the project forbids is the cluster admin's, not a tenant's), not one
that every namespace has (`ServiceAccount default`, `ConfigMap kube-root-ca.crt`,
`Service kubernetes` in `default`), and not matched by `orphanedResources.ignore`
(group, kind and name globs; an empty kind or name matches any).

`orphan_warning` is the text of the Application's `OrphanedResourceWarning` condition when
`warn` is on (the default), else None. Neighbours: `rules` (the kind and destination
rules), `reconciler.tracking` (`ResourceKey`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from reconciler.projects.rules import check_destination, check_resource
from reconciler.tracking import ResourceKey, resource_key
from rollouts.api.appproject import AppProject
from rollouts.api.globs import glob_match

__all__ = ["ORPHANED_CONDITION", "orphan_warning", "orphaned_objects"]

ORPHANED_CONDITION = "OrphanedResourceWarning"
"""The Application condition type Argo CD uses for orphaned objects."""

_EVERY_NAMESPACE_HAS = (
    ("", "ServiceAccount", None, "default"),
    ("", "ConfigMap", None, "kube-root-ca.crt"),
    ("", "Service", "default", "kubernetes"),
)


def _known_exclusion(key: ResourceKey) -> bool:
    return any(key.group == group and key.kind == kind and key.name == name
               and (namespace is None or key.namespace == namespace)
               for group, kind, namespace, name in _EVERY_NAMESPACE_HAS)


def _ignored(project: AppProject, key: ResourceKey) -> bool:
    settings = project.spec.orphaned_resources
    for item in (settings.ignore or []) if settings is not None else []:
        if ((not item.kind or glob_match(item.kind, key.kind))
                and glob_match(item.group or "", key.group)
                and (not item.name or glob_match(item.name, key.name))):
            return True
    return False


def orphaned_objects(project: AppProject, *, tracked_or_desired_keys: Collection[ResourceKey],
                     live_objects: Iterable[dict[str, Any]], server: str | None = None,
                     name: str | None = None) -> list[ResourceKey]:
    """Keys of the orphaned objects among `live_objects`, sorted; [] when not monitored.

    `live_objects` are the live objects of the Application's destination namespace;
    `server`/`name` its destination cluster (the local one when both are None).
    """
    if project.spec.orphaned_resources is None:
        return []
    found: set[ResourceKey] = set()
    for obj in live_objects:
        key = resource_key(obj)
        if not key.namespace or key in tracked_or_desired_keys:
            continue
        if (obj.get("metadata") or {}).get("ownerReferences"):
            continue
        if _known_exclusion(key) or _ignored(project, key):
            continue
        if check_resource(project, group=key.group, kind=key.kind, namespaced=True) is not None:
            continue
        if check_destination(project, server=server, name=name,
                             namespace=key.namespace) is not None:
            continue
        found.add(key)
    return sorted(found)


def orphan_warning(project: AppProject, orphans: Collection[ResourceKey]) -> str | None:
    """The OrphanedResourceWarning message, or None (no orphans, or `warn: false`)."""
    settings = project.spec.orphaned_resources
    if settings is None or not settings.warn_or_default or not orphans:
        return None
    first = ", ".join(str(key) for key in sorted(orphans)[:3])
    more = ", ..." if len(orphans) > 3 else ""
    return f"{len(orphans)} orphaned object(s) in the namespace: {first}{more}"
