"""Compare rendered objects with the cluster: the "observe" half of an Application reconcile.

- `prepare_desired` turns rendered objects into what a sync applies: the destination
  namespace set on namespaced kinds (asking the API server's discovery, or a CRD in the
  same render, which kinds are namespaced), cluster-scoped kinds without one, and the
  tracking annotation (`reconciler.tracking.with_tracking`). Problems (a kind nobody
  serves, no namespace to put an object in, the same object twice) become conditions.
- `DiffCache.diff` is `reconciler.diff.diff_object` remembered per object: the server's
  dry run is asked again only when the desired object or the live one (outside `status`,
  `resourceVersion` and managed-field timestamps) changed. Status updates of a
  Deployment rolling out therefore cost no request at all. `DiffCache.seed` records what
  a sync's apply answered, so the compare right after the sync asks no dry run either.

Neighbours: `reconciler.controller` (drives it), `reconciler.watches` (live objects).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.diff import IgnoreRule, ObjectDiff, apply_body, diff_object
from reconciler.tracking import ResourceKey, resource_key, with_tracking
from rollouts.kube import Kind, KubeClient, NotFound

__all__ = ["DiffCache", "Prepared", "prepare_desired"]

Obj = dict[str, Any]
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")


@dataclass
class Prepared:
    """Desired objects ready to diff and apply, with the kind of each."""

    objects: list[Obj]
    kinds: dict[ResourceKey, Kind] = field(default_factory=dict)
    conditions: list[tuple[str, str]] = field(default_factory=list)


def _crd_scopes(objects: Sequence[Obj]) -> dict[tuple[str, str], bool]:
    """`(group, kind) -> namespaced` for CRDs in the render (not served yet, maybe)."""
    scopes: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if (str(obj.get("apiVersion") or "").split("/")[0], obj.get("kind")) != _CRD:
            continue
        spec = obj.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        if spec.get("group") and kind:
            scopes[(str(spec["group"]), str(kind))] = spec.get("scope", "Namespaced") == \
                "Namespaced"
    return scopes


def prepare_desired(client: KubeClient, rendered: Sequence[Obj], *, app_name: str,
                    destination_namespace: str | None) -> Prepared:
    """Rendered objects with namespaces and tracking set (see the module docstring)."""
    scopes = _crd_scopes(rendered)
    prepared = Prepared([])
    seen: dict[ResourceKey, int] = {}
    for original in rendered:
        obj = copy.deepcopy(original)
        api_version, kind_name = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
        metadata = obj.setdefault("metadata", {})
        kind: Kind | None
        try:
            kind = client.discover_kind(api_version, kind_name)
            namespaced = kind.namespaced
        except NotFound:
            kind = None
            group = api_version.rpartition("/")[0]
            namespaced = scopes.get((group, kind_name), True)
            if (group, kind_name) not in scopes:
                prepared.conditions.append((
                    "ComparisonError",
                    f"{kind_name} {metadata.get('name') or metadata.get('generateName')}: the "
                    f"API server serves no kind {kind_name} in {api_version}; install its CRD"))
        if namespaced:
            if not metadata.get("namespace"):
                if not destination_namespace:
                    prepared.conditions.append((
                        "ComparisonError",
                        f"{kind_name} {metadata.get('name')}: names no namespace and "
                        "spec.destination.namespace is empty; set one of them"))
                    continue
                metadata["namespace"] = destination_namespace
        else:
            metadata.pop("namespace", None)
        tracked = with_tracking(obj, app_name)
        key = resource_key(tracked)
        if key in seen:
            prepared.conditions.append(("RepeatedResourceWarning",
                                        f"{key} is rendered more than once; the last one wins"))
            prepared.objects[seen[key]] = tracked
        else:
            seen[key] = len(prepared.objects)
            prepared.objects.append(tracked)
        if kind is not None:
            prepared.kinds[key] = kind
    return prepared


def _fingerprint(desired: Obj, live: Obj) -> str:
    """What the dry run depends on: desired, and live without status and bookkeeping."""
    view = {k: v for k, v in live.items() if k != "status"}
    metadata = dict(view.get("metadata") or {})
    metadata.pop("resourceVersion", None)
    managed = []
    for entry in metadata.pop("managedFields", None) or []:
        if isinstance(entry, dict) and entry.get("subresource") != "status":
            managed.append({k: v for k, v in entry.items() if k != "time"})
    view["metadata"] = {**metadata, "managedFields": managed}
    data = json.dumps([desired, view], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


@dataclass(frozen=True)
class _Entry:
    fingerprint: str
    rules: str | None
    """The ignore rules the diff was computed with; None: it holds under any rules (a
    seeded "no change")."""
    diff: ObjectDiff


class DiffCache:
    """`diff_object`, asked again only when its inputs changed (see the module docstring)."""

    def __init__(self, client: KubeClient, field_manager: str) -> None:
        self.client = client
        self.field_manager = field_manager
        self._entries: dict[tuple[str, ResourceKey], _Entry] = {}
        self._lock = threading.Lock()
        self.seeded = 0
        """Entries seeded from an apply's answer (`seed`)."""

    def diff(self, app_key: str, desired: Obj, live: Obj | None,
             rules: Sequence[IgnoreRule]) -> ObjectDiff:
        if live is None:
            return diff_object(self.client, desired, None, field_manager=self.field_manager,
                               ignore=rules)
        entry_key = (app_key, resource_key(desired))
        fingerprint = _fingerprint(desired, live)
        rules_key = repr([repr(rule) for rule in rules])
        with self._lock:
            cached = self._entries.get(entry_key)
        if cached is not None and cached.fingerprint == fingerprint and \
                cached.rules in (None, rules_key):
            return cached.diff
        result = diff_object(self.client, desired, live, field_manager=self.field_manager,
                             ignore=rules)
        if result.error is None:
            with self._lock:
                self._entries[entry_key] = _Entry(fingerprint, rules_key, result)
        return result

    def seed(self, app_key: str, desired: Obj, body: Obj, written: Obj) -> None:
        """Remember that `desired` is in sync with `written`, the answer of a forced apply
        of `body` by our field manager: applying it again (the dry run) would change
        nothing, so the compare after a sync asks no dry run while the live object is
        still `written`. Only when `body` is all of `desired` (`apply_body`): a body
        without the fields another controller owns leaves those to the dry run."""
        if body != apply_body(desired):
            return
        key = resource_key(desired)
        diff = ObjectDiff(key, True, False, written, written, "")
        with self._lock:
            self._entries[(app_key, key)] = _Entry(_fingerprint(desired, written), None, diff)
            self.seeded += 1

    def forget(self, app_key: str, keep: set[ResourceKey] | None = None) -> None:
        """Drop the app's entries (all, or those not in `keep`)."""
        with self._lock:
            for entry_key in [k for k in self._entries if k[0] == app_key
                              and (keep is None or k[1] not in keep)]:
                del self._entries[entry_key]
