"""What to do with the Applications of one ApplicationSet, and the status it shows (pure).

`check_desired(apps)` refuses a generated set that must not be applied at all: two
Applications of one name, or one that is not shaped like an Application (a bad template;
what the Application controller supports is for it to say in the Application's status).

`plan(desired, existing, owner=..., spec=...)` compares the generated Applications with
those in the ApplicationSet's namespace:

- an Application is **owned** when its `ownerReferences` name this ApplicationSet's uid
  with `controller: true` (the controller writes that reference on every Application it
  creates); one of a desired name with no controller owner at all is **adopted** (updated
  with our reference added, other references kept), as Argo CD's `SetControllerReference`
  does, when the policy allows updates; one controlled by anything else (or met under
  `create-only` / `create-delete`) is **never touched**: it is listed in `Plan.not_owned`
  and the status says so;
- desired and missing: **create** (every policy creates);
- desired, owned and different (spec, labels, annotations, finalizers): **update**, if
  `applicationsSync` is `create-update` or `sync` (the default). The update keeps the
  annotations Argo CD keeps (`argocd.argoproj.io/refresh`,
  `notified.notifications.argoproj.io`, and `preservedFields.annotations`), the labels of
  `preservedFields.labels`, `post-delete-finalizer.argocd.argoproj.io*` finalizers and a
  pending `operation`;
- owned and no longer desired: **delete**, if `applicationsSync` is `create-delete` or
  `sync`; the Application's own finalizer then decides whether its resources go with it
  (`reconciler.appset.render`: added unless `preserveResourcesOnDeletion`);
- an owned Application already being deleted is left to finish.

`requeues(type_, app, old)`: whether an event of an owned Application is worth a
reconcile of its ApplicationSet (Argo CD's `shouldRequeueForApplication`): not its
creation (most likely our own), a deletion always, an update only when what the
ApplicationSet writes (spec, labels, annotations, finalizers, owners, deletion) or shows
(`status.resources`: sync status, health status and message) changed; the Application
controller's other status writes would otherwise cost a whole reconcile each, O(N²) per
resync at N Applications.

`status(...)` builds `status.conditions` as Argo CD names them (`ErrorOccurred`,
`ParametersGenerated`, `ResourcesUpToDate`; reasons such as `ApplicationSetUpToDate`,
`ApplicationParamsGenerationError`, `RenderTemplateParamsError`,
`ApplicationValidationError`) and `status.resources` (each owned Application's sync and
health), keeping a condition's `lastTransitionTime` while its status stays.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from reconciler.appset.spec import AppSetSpec
from rollouts.api import Application
from rollouts.api.application import REFRESH_ANNOTATION

__all__ = [
    "APPLICATION_SET_KIND",
    "Failure",
    "Owner",
    "Plan",
    "check_desired",
    "is_owned",
    "owner_reference",
    "plan",
    "requeues",
    "status",
]

Obj = dict[str, Any]
APPLICATION_SET_KIND = "ApplicationSet"
API_VERSION = "argoproj.io/v1alpha1"
KEPT_ANNOTATIONS = ("notified.notifications.argoproj.io", REFRESH_ANNOTATION)
POST_DELETE_FINALIZER = "post-delete-finalizer.argocd.argoproj.io"


@dataclass(frozen=True)
class Owner:
    name: str
    uid: str


@dataclass(frozen=True)
class Failure:
    """Why nothing (or not everything) was applied: an Argo reason and one line."""

    reason: str
    message: str
    params_generated: bool = True


@dataclass
class Plan:
    creates: list[Obj] = field(default_factory=list)
    updates: list[Obj] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    """(name, uid) of owned Applications no longer generated."""
    not_owned: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.deletes)


def owner_reference(owner: Owner) -> Obj:
    return {"apiVersion": API_VERSION, "kind": APPLICATION_SET_KIND, "name": owner.name,
            "uid": owner.uid, "controller": True, "blockOwnerDeletion": True}


def is_owned(app: Mapping[str, Any], owner_uid: str) -> bool:
    for reference in (app.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("uid") == owner_uid and reference.get("controller") is True:
            return True
    return False


def _has_controller(app: Mapping[str, Any]) -> bool:
    return any(reference.get("controller") is True
               for reference in (app.get("metadata") or {}).get("ownerReferences") or [])


def check_desired(apps: Sequence[Mapping[str, Any]], appset_name: str) -> Failure | None:
    """None when every generated Application may be applied, else the first problem."""
    seen: set[str] = set()
    for app in apps:
        name = str(app["metadata"]["name"])
        if name in seen:
            return Failure("ApplicationValidationError",
                           f"ApplicationSet {appset_name} contains applications with duplicate "
                           f"name: {name}; make template.metadata.name differ per parameter "
                           "set (nothing was applied)")
        seen.add(name)
        # The shape only: what the Application controller supports (a destination, a
        # source type) is for it to say, in the Application's own conditions.
        try:
            Application.model_validate(dict(app), by_alias=True, by_name=False)
        except ValidationError as invalid:
            first = invalid.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            return Failure("ApplicationValidationError",
                           f"the template renders an invalid Application {name}: {where}: "
                           f"{first['msg']}; fix the template (nothing was applied)")
    return None


def _without_nulls(value: Any) -> Any:
    # The API server drops null fields: compare what it will keep.
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _updated(existing: Mapping[str, Any], desired: Mapping[str, Any], owner: Owner,
             spec: AppSetSpec) -> Obj:
    updated = copy.deepcopy(dict(existing))
    updated.pop("status", None)  # a PUT of the main resource cannot change it anyway
    metadata = updated.setdefault("metadata", {})
    old = existing.get("metadata") or {}
    wanted = desired["metadata"]
    annotations = dict(wanted.get("annotations") or {})
    for key in (*KEPT_ANNOTATIONS, *spec.preserved_annotations):
        if key in (old.get("annotations") or {}):
            annotations[key] = old["annotations"][key]
    labels = dict(wanted.get("labels") or {})
    for key in spec.preserved_labels:
        if key in (old.get("labels") or {}):
            labels[key] = old["labels"][key]
    finalizers = list(wanted.get("finalizers") or [])
    finalizers += [f for f in old.get("finalizers") or []
                   if f.startswith(POST_DELETE_FINALIZER) and f not in finalizers]
    for name, value in (("annotations", annotations), ("labels", labels),
                        ("finalizers", finalizers)):
        if value:
            metadata[name] = value
        else:
            metadata.pop(name, None)
    references = [r for r in old.get("ownerReferences") or []
                  if r.get("uid") != owner.uid]
    metadata["ownerReferences"] = [*references, owner_reference(owner)]
    updated["spec"] = _without_nulls(desired["spec"])
    return updated


def _significant(app: Mapping[str, Any]) -> tuple[Any, ...]:
    metadata = app.get("metadata") or {}
    return (_without_nulls(app.get("spec") or {}), metadata.get("labels") or {},
            metadata.get("annotations") or {}, list(metadata.get("finalizers") or []))


def _watched(app: Mapping[str, Any]) -> tuple[Any, ...]:
    metadata = app.get("metadata") or {}
    app_status = app.get("status") or {}
    health = app_status.get("health") or {}
    return (*_significant(app), metadata.get("ownerReferences") or [],
            bool(metadata.get("deletionTimestamp")),
            (app_status.get("sync") or {}).get("status"), health.get("status"),
            health.get("message"))


def requeues(type_: str, app: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """Whether this event of an owned Application calls for a reconcile of its
    ApplicationSet (see the module docstring)."""
    if type_ == "ADDED":
        return False
    if type_ == "DELETED" or old is None:
        return True
    return _watched(app) != _watched(old)


def plan(desired: Sequence[Mapping[str, Any]], existing: Mapping[str, Mapping[str, Any]], *,
         owner: Owner, spec: AppSetSpec) -> Plan:
    """Creates, updates and deletes (see the module docstring); `existing` maps names to
    the Applications of the ApplicationSet's namespace."""
    result = Plan()
    wanted = {str(app["metadata"]["name"]): app for app in desired}
    for name, app in wanted.items():
        current = existing.get(name)
        if current is None:
            body = copy.deepcopy(dict(app))
            body["metadata"]["ownerReferences"] = [owner_reference(owner)]
            body["spec"] = _without_nulls(body["spec"])
            result.creates.append(body)
        elif not is_owned(current, owner.uid) and (
                _has_controller(current) or not spec.policy.allows_update):
            result.not_owned.append(name)
        elif (current.get("metadata") or {}).get("deletionTimestamp"):
            continue  # being deleted: recreated once it is gone
        elif spec.policy.allows_update:
            updated = _updated(current, app, owner, spec)
            if _significant(updated) != _significant(current) or \
                    (current.get("metadata") or {}).get("ownerReferences") != \
                    updated["metadata"]["ownerReferences"]:
                result.updates.append(updated)
    if spec.policy.allows_delete:
        for name, current in sorted(existing.items()):
            metadata = current.get("metadata") or {}
            if name not in wanted and is_owned(current, owner.uid) and \
                    not metadata.get("deletionTimestamp"):
                result.deletes.append((name, str(metadata.get("uid") or "")))
    return result


def _condition(type_: str, status_: str, reason: str, message: str) -> Obj:
    return {"type": type_, "status": status_, "reason": reason, "message": message}


def status(old: Mapping[str, Any], *, failure: Failure | None,
           owned: Sequence[Mapping[str, Any]], now: datetime) -> Obj:
    """The ApplicationSet's new `status` (conditions and resources)."""
    if failure is None:
        generated = "Successfully generated parameters for all Applications"
        wanted = [
            _condition("ErrorOccurred", "False", "ApplicationSetUpToDate", generated),
            _condition("ParametersGenerated", "True", "ParametersGenerated", generated),
            _condition("ResourcesUpToDate", "True", "ApplicationSetUpToDate",
                       "All applications have been generated successfully"),
        ]
    else:
        params = _condition("ParametersGenerated", "True", "ParametersGenerated",
                            "Successfully generated parameters for all Applications") \
            if failure.params_generated else \
            _condition("ParametersGenerated", "False", "ErrorOccurred", failure.message)
        wanted = [
            _condition("ErrorOccurred", "True", failure.reason, failure.message),
            params,
            _condition("ResourcesUpToDate", "False", failure.reason, failure.message),
        ]
    before = {c.get("type"): c for c in old.get("conditions") or [] if isinstance(c, Mapping)}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in wanted:
        previous = before.get(condition["type"])
        kept = previous is not None and previous.get("status") == condition["status"] and \
            previous.get("lastTransitionTime")
        condition["lastTransitionTime"] = previous["lastTransitionTime"] if kept and \
            previous is not None else stamp
    resources = []
    for app in sorted(owned, key=lambda a: str((a.get("metadata") or {}).get("name"))):
        metadata, app_status = app.get("metadata") or {}, app.get("status") or {}
        entry: Obj = {"group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
                      "name": metadata.get("name"), "namespace": metadata.get("namespace")}
        sync = (app_status.get("sync") or {}).get("status")
        if sync:
            entry["status"] = sync
        health = app_status.get("health") or {}
        if health.get("status"):
            entry["health"] = {k: health[k] for k in ("status", "message") if health.get(k)}
        resources.append(entry)
    out: Obj = {"conditions": wanted}
    if resources:
        out["resources"] = resources
    return out
