"""Drift of one object: server-side apply dry-run, compared on the fields we apply.

`diff_object(client, desired, live, field_manager=..., ignore=...)` asks the API server
what applying `desired` would make of the live object (an SSA dry-run, forced), then
compares the dry-run result ("predicted") with the live object **only on the fields our
field manager owns in the result**, i.e. the fields `desired` sets, as the server sees
them (defaulted, normalized). So:

- a field in `desired` whose live value differs is drift (someone ran `kubectl edit`),
  and so is a field we applied before that Git no longer sets (the next apply removes
  it): the compared set is our fields in the dry-run result plus our fields in the live
  object;
- defaulted fields (`dnsPolicy`, a Service's `clusterIP`) and fields set only by others
  (an HPA's `spec.replicas` when Git leaves it out) are outside the set: never drift;
- `status` is never compared;
- a field that Git *does* set but that another controller has taken over since our last
  apply (an HPA's `spec.replicas`, the Rollout controller's writes to a Service selector)
  is **foreign**: not drift, and listed in `ObjectDiff.foreign_fields` so the sync leaves
  it out of what it applies (`sync_body`) instead of fighting the controller. Who counts
  as a controller: any manager other than ours whose name does not start with one of
  `HUMAN_MANAGERS` (`kubectl`, `helm`, ...): changes made by people are drift. Fields are
  foreign only once our manager has applied the object: an object we adopt (created by
  `kubectl`, Helm, ...) is taken over whole on the first sync.
- `ignoreDifferences` rules (`IgnoreRule`) remove JSON-pointer / jq paths from both sides
  and subtract the fields of `managedFieldsManagers`.

An object our manager applied exactly as `desired` says, with every value still as
applied, is in sync without asking (`reconciler.diff_settled`): the dry run could only
return it unchanged. A server that records no managed fields for the dry run (an
aggregated API) is compared on the whole object but `status` and server metadata. A
missing live object is drift (no server call). A refused dry-run (`Invalid`: an
immutable field changed, a schema error; `Forbidden`; a kind the server does not serve)
is `changed=True` with `error` set, for the sync to report; errors worth retrying
(`Unavailable`, `Conflict`) are raised. `unified` is a unified diff of the compared parts
(`--- live` / `+++ desired`) with Secret values masked as Argo CD masks them
(`reconciler.secret_mask.hide_secret_data`: one run of `+` per distinct value, so a
change still shows); a refused dry run's message has the Secret's values scrubbed.

Neighbours: `reconciler.diff_fields` (field sets, projection), `reconciler.diff_ignore`
(ignore rules), `reconciler.syncplan` (reads `ObjectDiff.changed`).
"""

from __future__ import annotations

import base64
import copy
import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from reconciler.diff_fields import (
    FieldSet,
    drop_fields,
    field_paths,
    intersect,
    manager_fields,
    managers_of,
    project,
    strip_self,
    subtract,
    union,
)
from reconciler.diff_ignore import IgnoreRule, remove_ignored
from reconciler.diff_settled import already_applied
from reconciler.secret_mask import hide_secret_data, scrub, secret_values
from reconciler.tracking import ResourceKey, group_of, resource_key
from rollouts.kube import Kind, KubeError, NotFound

__all__ = [
    "HUMAN_MANAGERS",
    "DryRunClient",
    "IgnoreRule",
    "ObjectDiff",
    "apply_body",
    "diff_object",
    "foreign_fields",
    "sync_body",
]

HUMAN_MANAGERS: tuple[str, ...] = ("kubectl", "before-first-apply", "helm", "k9s", "Mozilla")
"""Prefixes of field managers that are people (CLIs, dashboards): their changes are drift."""

_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp",
                    "managedFields", "selfLink", "deletionTimestamp",
                    "deletionGracePeriodSeconds")


class DryRunClient(Protocol):
    """What the diff needs of `rollouts.kube.KubeClient`."""

    def discover_kind(self, api_version: str, kind: str) -> Kind: ...

    def apply(self, kind: Kind, namespace: str | None, body: dict[str, Any],
              field_manager: str, force: bool = True, dry_run: bool = False) -> dict[str, Any]:
        ...


@dataclass(frozen=True)
class ObjectDiff:
    """How one object in Git compares with the cluster."""

    key: ResourceKey
    live_exists: bool
    changed: bool
    predicted: dict[str, Any] | None
    """The server's dry-run result (None when there is no live object or it failed)."""
    live: dict[str, Any] | None
    unified: str
    """`--- live` / `+++ desired` unified diff of the compared fields; "" when unchanged."""
    error: str | None = None
    """Why the dry-run was refused (the sync will fail this object with it)."""
    foreign_fields: FieldSet = field(default_factory=dict)
    """Fields Git sets that another controller owns: not drift, not to be applied."""

    @property
    def foreign_paths(self) -> list[str]:
        return field_paths(self.foreign_fields)


def apply_body(desired: dict[str, Any]) -> dict[str, Any]:
    """What to send for `desired`: no `status`, no server-owned metadata, and a Secret's
    `stringData` folded into `data` (so the same fields are owned whichever was used)."""
    body = copy.deepcopy(desired)
    body.pop("status", None)
    metadata = body.get("metadata") or {}
    for name in _SERVER_METADATA:
        metadata.pop(name, None)
    if body.get("kind") == "Secret" and group_of(body) == "" and body.get("stringData"):
        data = dict(body.get("data") or {})
        for name, value in (body.pop("stringData") or {}).items():
            data[name] = base64.b64encode(str(value).encode()).decode()
        body["data"] = data
    return body


def sync_body(desired: dict[str, Any], diff: ObjectDiff | None) -> dict[str, Any]:
    """The body the sync applies: `apply_body` without the diff's foreign fields."""
    body = apply_body(desired)
    if diff is None or not diff.foreign_fields:
        return body
    return dict(drop_fields(body, diff.foreign_fields))


def foreign_fields(
    ours_predicted: FieldSet, live: dict[str, Any], field_manager: str,
    human_managers: Sequence[str] = HUMAN_MANAGERS,
) -> FieldSet:
    """Fields we would apply that a controller (not a person) owns and we no longer do."""
    ours_live = manager_fields(live, field_manager, include_subresources=False)
    if not ours_live:
        return {}  # never applied by us: adopt the object whole
    others: FieldSet = {}
    for manager in managers_of(live) - {field_manager}:
        if not manager.startswith(tuple(human_managers)):
            others = union(others, manager_fields(live, manager))
    return strip_self(subtract(intersect(ours_predicted, others), ours_live))


def diff_object(
    client: DryRunClient,
    desired: dict[str, Any],
    live: dict[str, Any] | None,
    *,
    field_manager: str,
    ignore: Sequence[IgnoreRule] = (),
    human_managers: Sequence[str] = HUMAN_MANAGERS,
    skip_settled: bool = True,
) -> ObjectDiff:
    """Compare `desired` with `live` (None: not in the cluster).

    `desired` is the object as the sync will apply it: namespace and tracking annotation
    set (`reconciler.tracking.with_tracking`). Only `ignore` rules matching its key apply.
    With `skip_settled` (the default) an object that is provably what applying `desired`
    made of it (`reconciler.diff_settled.already_applied`) is in sync without a dry run.
    """
    key = resource_key(desired)
    body = apply_body(desired)
    if live is None:
        shown, _ = hide_secret_data(body, None)
        return ObjectDiff(key, False, True, None, None, _unified(None, shown))

    if skip_settled and already_applied(body, live, field_manager):
        return ObjectDiff(key, True, False, live, live, "")

    def refused(message: str) -> ObjectDiff:
        # The API server (or an admission webhook) may quote the object it refused.
        message = scrub(message, secret_values([desired, live]))
        return ObjectDiff(key, True, True, None, live, "", error=message)

    try:
        kind = client.discover_kind(str(body.get("apiVersion") or ""), str(body.get("kind")))
        namespace = None
        if kind.namespaced:
            namespace = (body.get("metadata") or {}).get("namespace") or key.namespace or \
                (live.get("metadata") or {}).get("namespace")
        predicted = client.apply(kind, namespace, body, field_manager, force=True, dry_run=True)
    except NotFound as exc:
        return refused(str(exc))
    except KubeError as exc:
        if exc.temporary:
            raise
        return refused(f"the API server refused a dry run of {key}: {exc}")
    except ValueError as exc:
        return refused(f"cannot address {key}: {exc}")

    rules = [rule for rule in ignore if rule.matches(key)]
    ours = manager_fields(predicted, field_manager, include_subresources=False)
    foreign = foreign_fields(ours, live, field_manager, human_managers)
    # What we applied before counts too: a field Git no longer sets is removed by the
    # next apply (unless someone else also owns it, and then the dry run keeps it).
    ours_before = manager_fields(live, field_manager, include_subresources=False)
    compared = subtract(union(ours, ours_before), foreign)
    compared.pop("f:status", None)
    for rule in rules:
        for manager in rule.managed_fields_managers:
            owned = union(manager_fields(live, manager), manager_fields(predicted, manager))
            compared = subtract(compared, owned)
    if ours:
        live_view = project(remove_ignored(live, rules), compared)
        predicted_view = project(remove_ignored(predicted, rules), compared)
    else:  # a server that keeps no managedFields: compare everything but status
        live_view = apply_body(remove_ignored(live, rules))
        predicted_view = apply_body(remove_ignored(predicted, rules))
    changed = live_view != predicted_view
    unified = ""
    if changed:
        api_version = str(predicted.get("apiVersion") or body.get("apiVersion"))
        shown_predicted, shown_live = hide_secret_data(
            _identified(predicted_view, key, api_version),
            _identified(live_view, key, api_version))
        unified = _unified(shown_live, shown_predicted)
    return ObjectDiff(key, True, changed, predicted, live, unified, foreign_fields=foreign)


def _identified(view: Any, key: ResourceKey, api_version: str) -> Any:
    """The compared fields, headed by the object's identity (the same on both sides)."""
    if not isinstance(view, dict):
        return view
    metadata = {"name": key.name, **({"namespace": key.namespace} if key.namespace else {}),
                **(view.get("metadata") or {})}
    return {**view, "apiVersion": api_version, "kind": key.kind, "metadata": metadata}


def _dump(obj: Any) -> list[str]:
    if obj is None:
        return []
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).splitlines()


def _unified(live: Any, predicted: Any) -> str:
    lines = difflib.unified_diff(_dump(live), _dump(predicted), "live", "desired", lineterm="")
    return "\n".join(lines)
