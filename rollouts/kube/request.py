"""Building requests to the API server, apart from sending them.

`request_for(verb, kind, namespace, name, ...)` is a pure function that returns the
method, path, query, body and content type of one call; `KubeClient` only sends what it
builds, so everything about *what* is asked (paths, dry-run, field managers, patch
content types, watch parameters) is unit-tested without a server.

    request_for(Verb.PATCH, ROLLOUT, "shop", "web", body={"status": {}}, subresource="status")
    # -> Request(verb=PATCH, method="PATCH",
    #            path="/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web/status",
    #            content_type="application/merge-patch+json", ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from rollouts.kube.kinds import Kind

__all__ = ["PatchType", "Request", "Verb", "request_for"]

JSON = "application/json"


class Verb(StrEnum):
    """What a request does; the value is the name requests are counted under."""

    GET = "get"
    LIST = "list"
    WATCH = "watch"
    CREATE = "create"
    REPLACE = "replace"
    PATCH = "patch"
    APPLY = "apply"
    DELETE = "delete"

    @property
    def method(self) -> str:
        return _METHODS[self]

    @property
    def needs_name(self) -> bool:
        """Whether the request addresses one object (rather than a collection)."""
        return self in (Verb.GET, Verb.REPLACE, Verb.PATCH, Verb.APPLY, Verb.DELETE)

    @property
    def needs_body(self) -> bool:
        return self in (Verb.CREATE, Verb.REPLACE, Verb.PATCH, Verb.APPLY)


_METHODS = {
    Verb.GET: "GET", Verb.LIST: "GET", Verb.WATCH: "GET", Verb.CREATE: "POST",
    Verb.REPLACE: "PUT", Verb.PATCH: "PATCH", Verb.APPLY: "PATCH", Verb.DELETE: "DELETE",
}


class PatchType(StrEnum):
    """The three patch formats of `KubeClient.patch`; the value is what callers pass."""

    MERGE = "merge"  # RFC 7386 JSON merge patch: works for every kind, CRDs included
    JSON = "json"  # RFC 6902 list of operations (test, replace, add, remove ...)
    STRATEGIC = "strategic"  # built-in kinds only: merges lists by key (containers by name)

    @property
    def content_type(self) -> str:
        return _PATCH_CONTENT_TYPES[self]


_PATCH_CONTENT_TYPES = {
    PatchType.MERGE: "application/merge-patch+json",
    PatchType.JSON: "application/json-patch+json",
    PatchType.STRATEGIC: "application/strategic-merge-patch+json",
}
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request to the API server, ready to send (the body is not yet serialized)."""

    verb: Verb
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str | None = None

    @property
    def url(self) -> str:
        """Path and query string, to append to the server's address."""
        return f"{self.path}?{urlencode(self.query)}" if self.query else self.path


def request_for(
    verb: Verb | str,
    kind: Kind,
    namespace: str | None = None,
    name: str | None = None,
    *,
    body: Any = None,
    subresource: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    resource_version: str | None = None,
    timeout_seconds: int | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
    patch_type: PatchType | str = PatchType.MERGE,
    field_manager: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    propagation: str | None = None,
    uid: str | None = None,
) -> Request:
    """The request for `verb` on `kind`; raises ValueError when the arguments cannot work.

    - LIST and WATCH take the selectors; WATCH always asks for bookmarks.
    - CREATE posts to the collection (or to `name/subresource`, e.g. a pod's eviction).
    - APPLY is server-side apply: a PATCH whose body is the JSON of the whole intent,
      sent as `application/apply-patch+yaml` (JSON is YAML), with a field manager.
    - DELETE carries `DeleteOptions` with the propagation policy, and with `uid` a
      precondition: the server deletes only that very object (409 for a namesake).
    """
    verb = Verb(verb)
    if verb.needs_name and not name:
        raise ValueError(f"{verb.value} of a {kind.kind} needs the object's name")
    if verb.needs_body and body is None:
        raise ValueError(f"{verb.value} of a {kind.kind} needs a body")
    if kind.namespaced and not namespace and verb not in (Verb.LIST, Verb.WATCH):
        raise ValueError(f"{kind.kind} is namespaced: give a namespace to {verb.value} one")
    if verb is Verb.APPLY and not field_manager:
        raise ValueError("server-side apply needs a field manager (who owns the fields)")

    object_name = None if verb in (Verb.LIST, Verb.WATCH) else name
    if verb is Verb.CREATE and not subresource:
        object_name = None
    path = kind.path(namespace, object_name, subresource)

    query: list[tuple[str, str]] = []
    content_type: str | None = JSON if verb.needs_body else None
    if verb in (Verb.LIST, Verb.WATCH):
        query += _selectors(label_selector, field_selector)
        if verb is Verb.WATCH:
            query += [("watch", "true"), ("allowWatchBookmarks", "true")]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if timeout_seconds is not None:
            query.append(("timeoutSeconds", str(int(timeout_seconds))))
        if verb is Verb.LIST and limit:
            query.append(("limit", str(int(limit))))
        if verb is Verb.LIST and continue_token:
            query.append(("continue", continue_token))
    if verb is Verb.PATCH:
        kind_of_patch = PatchType(patch_type)
        if kind_of_patch is PatchType.JSON and not isinstance(body, list):
            raise ValueError("a JSON patch is a list of operations")
        if kind_of_patch is not PatchType.JSON and not isinstance(body, dict):
            raise ValueError(f"a {kind_of_patch.value} patch is an object")
        content_type = kind_of_patch.content_type
    if verb is Verb.APPLY:
        content_type = APPLY_CONTENT_TYPE
    if verb in (Verb.CREATE, Verb.REPLACE, Verb.PATCH, Verb.APPLY):
        if dry_run:
            query.append(("dryRun", "All"))
        if field_manager:
            query.append(("fieldManager", field_manager))
        if verb is Verb.APPLY and force:
            query.append(("force", "true"))
    if verb is Verb.DELETE:
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation:
            options["propagationPolicy"] = propagation
        if uid:
            options["preconditions"] = {"uid": uid}
        if dry_run:
            options["dryRun"] = ["All"]
        body, content_type = options, JSON
    return Request(verb, verb.method, path, tuple(query), body, content_type)


def _selectors(label_selector: str | None, field_selector: str | None) -> list[tuple[str, str]]:
    query = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query
