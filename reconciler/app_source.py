"""Where each Application's manifests come from: polling Git and rendering, with caches.

`AppSources.target(key, app, ...)` answers "which commit should this app be at?". It asks
Git (`GitSource.fetch`: one `ls-remote`, and a fetch only when the commit is new) when
the app has not been looked at yet, its repoURL/targetRevision changed, its poll is due
(`resync` seconds + up to 10 % jitter after the last look) or a refresh was requested
(webhook, `argocd.argoproj.io/refresh` annotation); otherwise the last answer stands. The
controller turns `Target.next_poll` into a timer, so every app is looked at again on time
even when nothing else happens.

`render(app, ...)` renders a commit (the checkout is local once fetched) and remembers the
last renders by (commit, source spec, app name, namespace), since an Application is
reconciled on every watch event of its objects and its source changes far less often.

Credentials come from repository Secrets (`reconciler.repo_creds`). Nothing here is the
only copy of anything: after a restart the first reconcile polls again.
"""

from __future__ import annotations

import json
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.render import DEFAULT_POLICY, RenderPolicy, app_directory, render, source_type
from reconciler.repo_creds import credentials_for
from reconciler.source import Credentials, GitSource, SourceError
from reconciler.source_refs import RemoteRefs
from reconciler.source_secrets import Redactor
from rollouts.api.application import Application, ApplicationSource

__all__ = ["AppSources", "MeasuredGitSource", "Rendered", "Target"]

Obj = dict[str, Any]
SecretsLookup = Callable[[str], list[Obj]]
_RENDER_CACHE = 64


@dataclass(frozen=True)
class Target:
    """The commit an app's targetRevision names (or why it is unknown)."""

    fingerprint: str
    revision: str | None
    error: str | None
    next_poll: datetime
    polled: bool = False
    """True when Git was asked in this pass (a resync tick)."""


@dataclass(frozen=True)
class Rendered:
    objects: list[Obj]
    source_type: str


def _source_of(app: Application) -> ApplicationSource:
    if app.spec.source is None:
        raise SourceError("spec.source is missing (multiple sources are not implemented)",
                          temporary=False)
    return app.spec.source


class MeasuredGitSource(GitSource):
    """A `GitSource` that times each `git ls-remote` and `git fetch` for the metrics.

    `observer()` returns the metrics hook (`timed(repo, request_type)`, a context
    manager: `rollouts.metrics.app_metrics.GitMetrics`) or None; it is read at each
    request, because the metrics wiring sets it after the controller is built.
    """

    def __init__(self, cache_dir: Path | None = None, *,
                 observer: Callable[[], Any] = lambda: None, allow_local: bool = False) -> None:
        super().__init__(cache_dir, allow_local=allow_local)
        self.observer = observer

    def _timed(self, url: str, request_type: str) -> AbstractContextManager[Any]:
        metrics = self.observer()
        return metrics.timed(url, request_type) if metrics is not None else nullcontext()

    def _ls_remote(self, url: str, creds: Credentials | None, redactor: Redactor
                   ) -> RemoteRefs:
        with self._timed(url, "ls-remote"):
            return super()._ls_remote(url, creds, redactor)

    def _fetch(self, bare: Path, url: str, creds: Credentials | None, redactor: Redactor,
               extra_refspecs: list[str]) -> None:
        with self._timed(url, "fetch"):
            super()._fetch(bare, url, creds, redactor, extra_refspecs)


class AppSources:
    """Polling state and render cache for every Application (thread-safe)."""

    def __init__(self, source: GitSource, secrets: SecretsLookup, *, resync: float,
                 render_policy: RenderPolicy = DEFAULT_POLICY) -> None:
        self.source = source
        self.render_policy = render_policy
        self.secrets = secrets
        self.resync = resync
        self._targets: dict[str, Target] = {}
        self._refresh: set[str] = set()
        self._renders: OrderedDict[str, Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def request_refresh(self, key: str) -> None:
        with self._lock:
            self._refresh.add(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._targets.pop(key, None)
            self._refresh.discard(key)

    def credentials(self, app: Application, app_namespace: str) -> Credentials | None:
        return credentials_for(_source_of(app).repo_url, self.secrets(app_namespace))

    def target(self, key: str, app: Application, app_namespace: str, now: datetime, *,
               refresh: bool = False) -> Target:
        source = _source_of(app)
        fingerprint = json.dumps([source.repo_url, source.target_revision_or_default])
        with self._lock:
            current = self._targets.get(key)
            refresh = key in self._refresh or refresh
            self._refresh.discard(key)
        if current is not None and current.fingerprint == fingerprint and not refresh \
                and now < current.next_poll:
            return current if not current.polled else _unpolled(current)
        jitter = 1.0 + random.uniform(0.0, 0.1)
        next_poll = now + timedelta(seconds=self.resync * jitter)
        try:
            checkout = self.source.fetch(source.repo_url, source.target_revision_or_default,
                                         self.credentials(app, app_namespace))
            target = Target(fingerprint, checkout.revision, None, next_poll, polled=True)
        except SourceError as error:
            target = Target(fingerprint, None, str(error), next_poll, polled=True)
        with self._lock:
            self._targets[key] = target
        return target

    def resolve(self, app: Application, app_namespace: str, revision: str) -> str:
        """The commit sha of `revision` in the app's repository (a sync's `revision`)."""
        source = _source_of(app)
        return self.source.resolve(source.repo_url, revision,
                                   self.credentials(app, app_namespace))

    def render(self, app: Application, *, app_name: str, app_namespace: str, revision: str
               ) -> Rendered:
        """The objects of `app` at commit `revision`; `SourceError` or `RenderError`."""
        source = _source_of(app)
        destination = app.spec.destination.namespace or ""
        spec = source.model_dump(mode="json", by_alias=True, exclude_none=True)
        cache_key = json.dumps([revision, spec, app_name, destination], sort_keys=True)
        with self._lock:
            cached = self._renders.get(cache_key)
            if cached is not None:
                self._renders.move_to_end(cache_key)
                return cached
        checkout = self.source.fetch(source.repo_url, revision,
                                     self.credentials(app, app_namespace))
        objects = render(checkout.path, source, app_name=app_name, namespace=destination,
                         policy=self.render_policy)
        kind = source_type(source, app_directory(checkout.path.resolve(), source.path))
        rendered = Rendered(objects, kind.value)
        with self._lock:
            self._renders[cache_key] = rendered
            while len(self._renders) > _RENDER_CACHE:
                self._renders.popitem(last=False)
        return rendered


def _unpolled(target: Target) -> Target:
    return Target(target.fingerprint, target.revision, target.error, target.next_poll)
