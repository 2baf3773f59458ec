"""`KubeClient`: every call this project makes to the API server.

Objects are plain `dict`s exactly as the API server sends them (list items also get the
`apiVersion` and `kind` the server leaves out of them, so every cached object looks the
same). The `kubernetes` package provides only configuration, credentials and TLS
(`load_kube_config`, `load_incluster_config`) and its `ApiClient`'s REST layer for the
HTTP exchange; paths, queries and bodies come from the pure `request_for` in
`rollouts.kube.request`, so CRDs and built-in kinds go through the same code path.

Failures are raised as the `KubeError` tree of `rollouts.kube.errors`; a refused
connection or a timeout is `Unavailable`. Every call has connect and read timeouts.
Neighbours: `Informer` (list + watch caches) and `LeaderElector` are built on this class;
controllers get one `KubeClient` from the manager.
"""

from __future__ import annotations

import builtins
import copy
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import urllib3
import yaml
from kubernetes import client as _k8s_client
from kubernetes import config as _k8s_config

from rollouts.kube.errors import (
    AlreadyExists,
    KubeError,
    NotFound,
    NotLeader,
    Unauthorized,
    Unavailable,
    error_from_response,
)
from rollouts.kube.events import event_for
from rollouts.kube.kinds import EVENT, Kind, kind_for, split_api_version
from rollouts.kube.request import PatchType, Request, Verb, request_for
from rollouts.kube.stream import WatchStream, describe_transport_error

__all__ = ["DEFAULT_TIMEOUT", "KubeClient", "ListResult"]

log = logging.getLogger(__name__)

# The kubernetes package is only partly typed: treat it as untyped at this one boundary.
k8s_client: Any = _k8s_client
k8s_config: Any = _k8s_config

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
LIST_PAGE_SIZE = 500
FIELD_MANAGER = "rollouts-controller"
AUTH_TTL = 1.0  # seconds credential headers are reused before the configuration is asked again
WRITE_VERBS = frozenset({Verb.CREATE, Verb.REPLACE, Verb.PATCH, Verb.APPLY, Verb.DELETE})


@dataclass(frozen=True, slots=True)
class ListResult:
    """The items of a list and the resourceVersion to start a watch from."""

    items: list[dict[str, Any]]
    resource_version: str


class KubeClient:
    """A thread-safe connection to one API server (one kubeconfig context)."""

    def __init__(
        self,
        configuration: Any,
        *,
        field_manager: str = FIELD_MANAGER,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        # Watches hold a pooled connection each: a larger pool keeps urllib3 from
        # discarding (and warning about) connections when many informers run.
        configuration.connection_pool_maxsize = max(
            configuration.connection_pool_maxsize or 0, 64
        )
        if configuration.retries is None:
            # One quick reconnect (a dropped keep-alive connection), nothing more: callers
            # own the retry policy (work queue, informer backoff), and a request that may
            # have reached the server is never sent twice behind their back.
            configuration.retries = urllib3.Retry(
                total=1, connect=1, read=0, status=0, redirect=0, other=0
            )
        self._configuration = configuration
        self._api = k8s_client.ApiClient(configuration)
        self._api.user_agent = "rollouts/0.1.0"
        self.field_manager = field_manager
        self.timeout = timeout
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._discovered: dict[tuple[str, str], Kind] = {}
        self._may_write: Callable[[], bool] | None = None
        self._auth: tuple[float, dict[str, str]] | None = None  # (when asked, headers)
        self._scratch: weakref.finalize[Any, Any] | None = None
        """Removes for_server's client certificate files: at `close()`, when the client is
        collected, or at interpreter exit, whichever comes first."""

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        context: str | None = None,
        *,
        field_manager: str = FIELD_MANAGER,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> KubeClient:
        """A client for `context` (default: the current one) of a kubeconfig.

        `path` defaults to `$KUBECONFIG` (which may list several files) or `~/.kube/config`.
        """
        source = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
        files = [os.path.expanduser(p) for p in source.split(os.pathsep) if p]
        if not any(os.path.exists(f) for f in files):
            raise KubeError(
                f"kubeconfig {source} does not exist; pass --kubeconfig or set KUBECONFIG "
                "(`rollouts dev up` writes one for the local cluster)"
            )
        if context is None and len(files) > 1:
            # kubectl takes the first file's current-context; the kubernetes package the
            # last one's, which would point a merged KUBECONFIG at another cluster.
            context = _first_current_context(files)
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_kube_config(
                config_file=os.pathsep.join(files), context=context,
                client_configuration=configuration, persist_config=False,
            )
        except (k8s_config.ConfigException, OSError, ValueError, TypeError, KeyError,
                AttributeError) as exc:
            raise KubeError(
                f"kubeconfig {source} is not usable"
                + (f" with context {context}" if context else "")
                + f" ({exc}); fix the file or pass another --kubeconfig/--context"
            ) from None
        return cls(configuration, field_manager=field_manager, timeout=timeout)

    @classmethod
    def in_cluster(
        cls,
        *,
        field_manager: str = FIELD_MANAGER,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> KubeClient:
        """A client from the pod's service account (token and CA mounted by Kubernetes)."""
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except (k8s_config.ConfigException, OSError) as exc:
            raise KubeError(
                f"not running in a cluster ({exc}); use a kubeconfig instead"
            ) from None
        return cls(configuration, field_manager=field_manager, timeout=timeout)

    @classmethod
    def for_server(
        cls,
        server: str,
        *,
        bearer_token: str | None = None,
        ca_data: bytes | None = None,
        cert_data: bytes | None = None,
        key_data: bytes | None = None,
        insecure: bool = False,
        server_name: str | None = None,
        field_manager: str = FIELD_MANAGER,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> KubeClient:
        """A client for an API server given by URL and credentials (a registered cluster:
        Argo CD's cluster Secret holds exactly these). PEM data stays in memory except a
        client certificate and key, which urllib3 reads from files: those go to a private
        directory removed by `close()`."""
        configuration = k8s_client.Configuration()
        configuration.host = server.rstrip("/")
        if bearer_token:
            configuration.api_key = {"authorization": f"Bearer {bearer_token}"}
        configuration.verify_ssl = not insecure
        if ca_data:
            configuration.ca_cert_data = ca_data.decode("ascii", errors="replace")
        if server_name:
            configuration.tls_server_name = server_name
        scratch: str | None = None
        try:
            if cert_data and key_data:
                scratch = tempfile.mkdtemp(prefix="rollouts-cluster-")
                configuration.cert_file = _private_file(scratch, "client.crt", cert_data)
                configuration.key_file = _private_file(scratch, "client.key", key_data)
            made = cls(configuration, field_manager=field_manager, timeout=timeout)
        except BaseException:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        if scratch is not None:
            # A caller that forgets close(), or a process that dies of an exception, must
            # not leave the private key behind.
            made._scratch = weakref.finalize(made, shutil.rmtree, scratch, ignore_errors=True)
        return made

    @property
    def host(self) -> str:
        return str(self._configuration.host)

    def certificate_authority(self) -> bytes | None:
        """The PEM bundle this client verifies the server with (None: the system's, or
        verification is off), e.g. for registering this cluster elsewhere."""
        configuration = self._configuration
        if configuration.ca_cert_data:
            data = configuration.ca_cert_data
            return data.encode() if isinstance(data, str) else bytes(data)
        if configuration.ssl_ca_cert:
            try:
                with open(configuration.ssl_ca_cert, "rb") as handle:
                    return handle.read()
            except OSError:
                return None
        return None

    @property
    def verifies_tls(self) -> bool:
        return bool(self._configuration.verify_ssl)

    def close(self) -> None:
        self._api.close()
        if self._scratch is not None:
            self._scratch()  # runs once; later calls and the finalizer do nothing

    # --- reading -----------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        """The object; raises `NotFound` when it does not exist."""
        return _as_object(self.request(request_for(Verb.GET, kind, namespace, name)))

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> ListResult:
        """All matching objects (fetched in pages), in all namespaces when `namespace` is None.

        With `transform`, each item is replaced by `transform(item)` as its page arrives
        (after `apiVersion` and `kind` are filled in), so a large list is never held whole
        in its decoded form: only one page of originals at a time.
        """
        try:
            return self._list_pages(kind, namespace, label_selector, field_selector,
                                    LIST_PAGE_SIZE, transform)
        except KubeError as exc:
            if exc.status != 410:
                raise
            # The continue token expired between pages: one unpaged list is consistent.
            return self._list_pages(kind, namespace, label_selector, field_selector, None,
                                    transform)

    def _list_pages(
        self, kind: Kind, namespace: str | None, label_selector: str | None,
        field_selector: str | None, limit: int | None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> ListResult:
        items: builtins.list[dict[str, Any]] = []
        continue_token: str | None = None
        while True:
            page = _as_object(self.request(request_for(
                Verb.LIST, kind, namespace, label_selector=label_selector,
                field_selector=field_selector, limit=limit, continue_token=continue_token,
            )))
            raw_items = page.pop("items", None) or []
            for index, item in enumerate(raw_items):
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
                items.append(item if transform is None else transform(item))
                raw_items[index] = None  # each decoded original is freed once transformed
            del raw_items
            metadata = page.get("metadata") or {}
            continue_token = metadata.get("continue") or None
            if not continue_token:
                return ListResult(items, str(metadata.get("resourceVersion") or ""))

    def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> WatchStream:
        """Changes after `resource_version`, as they happen, until the server ends the watch.

        The server ends it after `timeout_seconds`; `WatchStream.close()` ends it at once
        from any thread. An ERROR event with 410 raises `Gone` (list again).
        """
        req = request_for(
            Verb.WATCH, kind, namespace, resource_version=resource_version,
            timeout_seconds=timeout_seconds, label_selector=label_selector,
            field_selector=field_selector,
        )
        read_timeout = timeout_seconds + self.timeout[1]
        response = self._send(req, (self.timeout[0], read_timeout))
        if response.status != 200:
            try:
                body = response.read()
            finally:
                response.response.release_conn()
            raise error_from_response(response.status, body)
        return WatchStream(response.response, f"{kind.plural} in {namespace or 'all namespaces'}")

    def discover_kind(self, api_version: str, kind: str) -> Kind:
        """The `Kind` for any type the server serves (CRDs included), asking it when unknown."""
        known = kind_for(api_version, kind) or self._discovered.get((api_version, kind))
        if known is not None:
            return known
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        resources = _as_object(self.request(Request(Verb.GET, "GET", path)))
        for resource in resources.get("resources") or []:
            if resource.get("kind") == kind and "/" not in str(resource.get("name")):
                found = Kind(group, version, str(resource["name"]), kind,
                             bool(resource.get("namespaced")))
                self._discovered[(api_version, kind)] = found
                return found
        raise NotFound(
            f"the API server serves no kind {kind} in {api_version}; is its CRD installed?",
            404, "NotFound",
        )

    def served_versions(self, group: str) -> builtins.list[str]:
        """The versions the API server serves for `group`, the preferred one first (empty
        when it serves none: no CRD of that group is installed)."""
        try:
            answer = _as_object(self.request(Request(Verb.GET, "GET", f"/apis/{group}")))
        except NotFound:
            return []
        preferred = str((answer.get("preferredVersion") or {}).get("version") or "")
        versions = [str(v.get("version")) for v in answer.get("versions") or []
                    if v.get("version")]
        return sorted(versions, key=lambda v: v != preferred)

    # --- writing -----------------------------------------------------------------------

    def create(
        self, kind: Kind, namespace: str | None, body: dict[str, Any], dry_run: bool = False
    ) -> dict[str, Any]:
        """Create the object; raises `AlreadyExists` when the name is taken."""
        req = request_for(Verb.CREATE, kind, namespace, body=_typed(kind, body),
                          dry_run=dry_run, field_manager=self.field_manager)
        return _as_object(self.request(req))

    def replace(
        self, kind: Kind, namespace: str | None, body: dict[str, Any], dry_run: bool = False
    ) -> dict[str, Any]:
        """PUT the whole object; a stale `metadata.resourceVersion` raises `Conflict`."""
        req = request_for(Verb.REPLACE, kind, namespace, _name_of(body), body=_typed(kind, body),
                          dry_run=dry_run, field_manager=self.field_manager)
        return _as_object(self.request(req))

    def apply(
        self,
        kind: Kind,
        namespace: str | None,
        body: dict[str, Any],
        field_manager: str,
        force: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply of `body` (the manager's whole intent); returns the merged object."""
        req = request_for(Verb.APPLY, kind, namespace, _name_of(body), body=_typed(kind, body),
                          field_manager=field_manager, force=force, dry_run=dry_run)
        return _as_object(self.request(req))

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: dict[str, Any] | builtins.list[dict[str, Any]],
        patch_type: Literal["merge", "json", "strategic"] | PatchType = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Patch the object (merge, JSON or strategic-merge); returns the patched object."""
        req = request_for(Verb.PATCH, kind, namespace, name, body=patch, patch_type=patch_type,
                          subresource=subresource, dry_run=dry_run,
                          field_manager=self.field_manager)
        return _as_object(self.request(req))

    def patch_status(
        self, kind: Kind, namespace: str | None, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource (`patch` is `{"status": {...}}`)."""
        return self.patch(kind, namespace, name, patch, "merge", subresource="status")

    def delete(
        self, kind: Kind, namespace: str | None, name: str, propagation: str = "Background",
        *, uid: str | None = None,
    ) -> bool:
        """Delete the object; False when it was already gone. With `uid`, only that very
        object is deleted (a namesake created since raises `Conflict`)."""
        try:
            self.request(request_for(Verb.DELETE, kind, namespace, name, propagation=propagation,
                                     uid=uid))
        except NotFound:
            return False
        return True

    def emit_event(
        self,
        regarding: dict[str, Any],
        type_: Literal["Normal", "Warning"],
        reason: str,
        message: str,
        component: str = "rollouts-controller",
        *,
        key: str | None = None,
    ) -> bool:
        """Record a core/v1 Event about `regarding`; a failure is logged, never raised.

        With `key`, the Event is recorded at most once per object and key (False when it
        already was)."""
        metadata = regarding.get("metadata") or {}
        try:
            event = event_for(regarding, type_, reason, message, component, datetime.now(UTC),
                              key=key)
            self.create(EVENT, event["metadata"]["namespace"], event)
        except (KubeError, ValueError) as exc:
            if key is not None and isinstance(exc, AlreadyExists):
                return False  # recorded before: by this process or the previous leader
            log.warning(
                "could not record event %s on %s %s/%s: %s", reason, regarding.get("kind"),
                metadata.get("namespace", ""), metadata.get("name", ""), exc,
            )
            return False
        return True

    def may_write(self) -> bool:
        """Whether a write sent now would leave the process (False once a fenced view's
        leader lost its lease): for side effects outside the API server, such as the
        notifications' HTTP deliveries, which the fence itself cannot stop."""
        return self._may_write is None or self._may_write()

    def fenced(self, may_write: Callable[[], bool]) -> KubeClient:
        """This connection, but every write first asks `may_write()` and is not sent
        (`NotLeader`) when it says no: the controllers' view under leader election, so a
        deposed leader's in-flight reconciles cannot write on. Reads, watches and the
        request counts are shared with this client; the elector keeps the unfenced one.
        """
        view = copy.copy(self)
        view._may_write = may_write
        return view

    # --- sending -----------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """Requests sent so far (all verbs)."""
        with self._counts_lock:
            return sum(self._counts.values())

    def requests_by_verb(self) -> dict[str, int]:
        """Requests sent so far, by verb (`get`, `list`, `watch`, `patch`, ...)."""
        with self._counts_lock:
            return dict(self._counts)

    def request(self, req: Request, *, timeout: float | None = None) -> Any:
        """Send one request; the decoded JSON answer, or a `KubeError`.

        `timeout` bounds both connecting and reading (default: the client's timeouts).
        """
        if self._may_write is not None and req.verb in WRITE_VERBS and not self._may_write():
            raise NotLeader(f"{req.method} {req.path}: not sent, this replica no longer "
                            "holds the leader Lease")
        started = time.monotonic()
        response = self._send(req, (timeout, timeout) if timeout else self.timeout)
        try:
            body = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(
                f"{req.method} {req.path}: reading the answer of {self.host} failed: "
                f"{describe_transport_error(exc)}"
            ) from None
        finally:
            response.response.release_conn()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: %d in %.1f ms", req.method, req.path, response.status,
                      (time.monotonic() - started) * 1000)
        if not 200 <= response.status < 300:
            raise error_from_response(response.status, body)
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise Unavailable(f"{req.method} {req.path}: the answer is not JSON") from None

    def _auth_headers(self) -> dict[str, str]:
        """The credential headers, asked of the configuration at most every `AUTH_TTL`
        seconds: asking may refresh an expiring token (exec plugin, projected service
        account token), and with a kubeconfig token it re-applies the whole kubeconfig
        each time, ~5% of a busy controller's CPU when done per request."""
        now = time.monotonic()
        cached = self._auth
        if cached is not None and now - cached[0] < AUTH_TTL:
            return cached[1]
        try:
            auth = self._configuration.auth_settings()
        except Exception as exc:
            raise Unauthorized(f"could not get credentials for {self.host}: {exc}") from None
        headers = {str(setting["key"]): str(setting["value"]) for setting in auth.values()
                   if setting.get("in") == "header" and setting.get("value")}
        self._auth = (now, headers)
        return headers

    def _send(self, req: Request, timeout: tuple[float | None, float | None]) -> Any:
        headers = {"Accept": "application/json", **self._api.default_headers}
        if req.content_type:
            headers["Content-Type"] = req.content_type
        headers.update(self._auth_headers())
        with self._counts_lock:
            self._counts[req.verb.value] += 1
        try:
            return self._api.call_api(
                req.method, self.host + req.url, header_params=headers, body=req.body,
                _request_timeout=timeout,
            )
        except k8s_client.ApiException as exc:  # the REST layer's wrapping of TLS errors
            raise Unavailable(
                f"{req.method} {req.path}: TLS with {self.host} failed: {exc.reason}; "
                "check the kubeconfig's certificate authority"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(
                f"{req.method} {req.path}: cannot reach the API server at {self.host}: "
                f"{describe_transport_error(exc)}"
            ) from None


def _first_current_context(files: builtins.list[str]) -> str | None:
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(loaded, dict) and loaded.get("current-context"):
            return str(loaded["current-context"])
    return None


def _private_file(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


def _typed(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    """The body with `apiVersion` and `kind` (which the server requires) filled in."""
    if body.get("apiVersion") and body.get("kind"):
        return body
    return {"apiVersion": kind.api_version, "kind": kind.kind, **body}


def _name_of(body: dict[str, Any]) -> str:
    name = (body.get("metadata") or {}).get("name")
    if not name:
        raise ValueError("the object has no metadata.name")
    return str(name)


def _as_object(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise Unavailable("the API server answered with something that is not an object")
    return answer
