"""Where each Application's manifests come from: polling Git and rendering, with caches.

`AppSources.target(key, app, ...)` answers "which commit should this app be at?". It asks
Git (`GitSource.fetch`: one `ls-remote`, and a fetch only when the commit is new) when
the app has not been looked at yet, its repoURL/targetRevision changed, its poll is due
(`resync` seconds + up to 10 % jitter after the last look) or a refresh was requested
(webhook, `argocd.argoproj.io/refresh` annotation); otherwise the last answer stands. The
controller turns `Target.next_poll` into a timer, so every app is looked at again on time
even when nothing else happens.

Polls are shared (`SharedPolls`): one answer per (repository, revision, credentials)
serves every Application whose poll falls due within `share_seconds` of the moment Git
was asked (at most `POLL_SHARE_SECONDS`, and a quarter of the resync), and Applications
whose polls fall due together wait for one `ls-remote` instead of each running its own.
A refresh (webhook, annotation) takes only an answer Git gave after it was asked for. So
1,000 Applications of one repository cost a few `ls-remote` per resync, not 1,000.

`render(app, ...)` renders a commit (the checkout is local once fetched) and remembers
renders by (repository, commit, source spec: path and render options; plus the app name
and namespace for Helm, the only renderer that reads them), up to `RENDER_CACHE_OBJECTS`
objects in all: an Application is reconciled on every watch event of its objects and its
source changes far less often, and Applications of one path at one commit share it.
`forget_render` drops an app's renders (Argo CD's hard refresh: the next compare renders
again from the checkout instead of trusting the cache).

A source with `chart:` is a chart from a Helm repository or OCI registry
(`reconciler.charts.ChartSource`): its "commit" is the chart version `targetRevision`
names (a pin, or the greatest version a constraint admits in the repository's listing),
polled and shared the same way, and a render unpacks that version and runs Helm on it.

A multi-source app (`spec.sources`, `reconciler.multisource`) is the same, source by
source: each is polled (its answer shared like any other), its "commit" is the
per-source revisions joined into one string, and a render fetches every `ref` source's
checkout first, renders the other sources in order (Helm's `$ref/...` value files read
from those checkouts) and keeps the combined objects as one cache entry per app.
Messages name the source they are about (`source 2 of 3: ...`).

Credentials come from repository Secrets (`reconciler.repo_creds`). Nothing here is the
only copy of anything: after a restart the first reconcile polls again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.charts import ChartSource, HelmCredentials
from reconciler.multisource import (
    join_revisions,
    shown_revision,
    source_label,
    sources_of,
    split_revisions,
)
from reconciler.render import (
    DEFAULT_POLICY,
    RenderError,
    RenderPolicy,
    SourceType,
    app_directory,
    render,
    source_type,
)
from reconciler.repo_creds import credentials_for, helm_credentials_for
from reconciler.source import Credentials, GitSource, SourceError
from reconciler.source_refs import RemoteRefs
from reconciler.source_secrets import Redactor, redact_url
from reconciler.source_url import RepoURLProblem, parse_repo_url
from rollouts.api.application import Application, ApplicationSource

__all__ = ["POLL_SHARE_SECONDS", "RENDER_CACHE_OBJECTS", "AppSources", "MeasuredGitSource",
           "Rendered", "SharedPolls", "Target", "poll_key"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SecretsLookup = Callable[[str], list[Obj]]
RENDER_CACHE_OBJECTS = 200_000
"""Rendered objects kept in all (whole renders are dropped, least recently used first)."""
POLL_SHARE_SECONDS = 5.0
"""How old a Git answer may be for an app whose poll falls due (never for a refresh)."""


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
    source_types: tuple[str, ...] = ()
    """A multi-source app: each source's type, in order (Argo CD's `status.sourceTypes`)."""


def _sources(app: Application) -> list[ApplicationSource]:
    sources = sources_of(app)
    if not sources:
        raise SourceError("spec.source or spec.sources is required", temporary=False)
    return sources


def _split(app: Application, revision: str) -> list[str]:
    """The per-source revisions of `revision` (one source: the revision itself)."""
    if not app.spec.has_multiple_sources:
        return [revision]
    try:
        return split_revisions(revision, len(_sources(app)))
    except ValueError as error:
        raise SourceError(f"revision '{shown_revision(revision)}' does not fit spec.sources: "
                          f"{error}; give one revision per source", temporary=False) from error


def _join(app: Application, revisions: list[str]) -> str:
    if not app.spec.has_multiple_sources:
        return revisions[0]
    try:
        return join_revisions(revisions)
    except ValueError as error:
        raise SourceError(f"{error}; name each revision without it", temporary=False) from error


def _labelled(app: Application, index: int, message: str) -> str:
    """`message` naming the source it is about, for a multi-source app (Argo CD's form)."""
    if not app.spec.has_multiple_sources:
        return message
    return f"{source_label(index, _sources(app))}: {message}"


def _spec_key(source: ApplicationSource) -> Obj:
    spec = source.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec.pop("repoURL", None)
    spec.pop("targetRevision", None)
    spec.pop("name", None)  # a label for messages; renders nothing
    return spec


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


@dataclass(frozen=True)
class _Answer:
    asked: float
    """`time.monotonic()` when Git was asked."""
    revision: str | None
    error: str | None


class _Slot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answer: _Answer | None = None


class SharedPolls:
    """One Git answer per key for everyone who can use it (see the module docstring).

    `answer(key, not_before, ask)` returns the last answer for `key` if Git was asked at
    or after `not_before` (`time.monotonic()`), else calls `ask()` (one caller per key at
    a time: the others wait for its answer and take it). `asked` counts the calls of
    `ask`, `shared` the answers given without one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.asked = 0
        self.shared = 0
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def answer(self, key: str, not_before: float,
               ask: Callable[[], tuple[str | None, str | None]]) -> _Answer:
        with self._lock:
            slot = self._slots.setdefault(key, _Slot())
        with slot.lock:
            if slot.answer is not None and slot.answer.asked >= not_before:
                with self._lock:
                    self.shared += 1
                return slot.answer
            asked = self.clock()
            revision, error = ask()
            slot.answer = _Answer(asked, revision, error)
            with self._lock:
                self.asked += 1
            return slot.answer


def _repo_key(url: str) -> str:
    try:
        return parse_repo_url(url, allow_local=True).cache_key()
    except RepoURLProblem:
        return url


def _creds_key(creds: Credentials | HelmCredentials | None) -> str:
    if creds is None:
        return ""
    if isinstance(creds, HelmCredentials):
        return creds.fingerprint()
    material = json.dumps([creds.username, creds.password, creds.ssh_private_key,
                           creds.ssh_known_hosts])
    return hashlib.sha256(material.encode()).hexdigest()


def poll_key(repo_url: str, revision: str, creds: Credentials | HelmCredentials | None,
             chart: str | None = None) -> str:
    """The `SharedPolls` key of one question to a repository: the normalized URL, the
    revision, a fingerprint of the credentials (and the chart name)."""
    return json.dumps([_repo_key(repo_url), revision, _creds_key(creds),
                       *([chart] if chart else [])])


class AppSources:
    """Polling state and render cache for every Application (thread-safe)."""

    def __init__(self, source: GitSource, secrets: SecretsLookup, *, resync: float,
                 render_policy: RenderPolicy = DEFAULT_POLICY,
                 share_seconds: float = POLL_SHARE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 charts: ChartSource | None = None) -> None:
        self.source = source
        self.charts = charts or ChartSource(source.cache_dir / "charts")
        self.render_policy = render_policy
        self.secrets = secrets
        self.resync = resync
        self.share_seconds = min(share_seconds, resync / 4)
        self.clock = clock
        self.polls = SharedPolls(clock)
        self._targets: dict[str, Target] = {}
        self._refresh: dict[str, float] = {}
        """key -> when a refresh was asked for (`clock()`): only a newer answer serves."""
        self._renders: OrderedDict[str, Rendered] = OrderedDict()
        self._rendered_objects = 0
        self._lock = threading.Lock()

    def request_refresh(self, key: str) -> None:
        with self._lock:
            self._refresh.setdefault(key, self.clock())

    def forget(self, key: str) -> None:
        with self._lock:
            self._targets.pop(key, None)
            self._refresh.pop(key, None)

    def credentials(self, source: ApplicationSource, app_namespace: str
                    ) -> Credentials | None:
        return credentials_for(source.repo_url, self.secrets(app_namespace))

    def helm_credentials(self, source: ApplicationSource, app_namespace: str
                         ) -> HelmCredentials | None:
        """The repository Secret's settings for a chart source (`chart:`)."""
        return helm_credentials_for(source.repo_url, self.secrets(app_namespace))

    def target(self, key: str, app: Application, app_namespace: str, now: datetime, *,
               refresh: bool = False) -> Target:
        sources = _sources(app)
        fingerprint = json.dumps([[source.repo_url, source.target_revision_or_default,
                                   *([source.chart] if source.chart else [])]
                                  for source in sources])
        with self._lock:
            current = self._targets.get(key)
            refreshed_at = self._refresh.pop(key, None)
        if refresh and refreshed_at is None:
            refreshed_at = self.clock()
        if current is not None and current.fingerprint == fingerprint and \
                refreshed_at is None and now < current.next_poll:
            return current if not current.polled else _unpolled(current)
        jitter = 1.0 + random.uniform(0.0, 0.1)
        next_poll = now + timedelta(seconds=self.resync * jitter)
        revisions: list[str] = []
        error: str | None = None
        for index, source in enumerate(sources):  # a multi-source app: each, in order
            answer = self._poll(key, source, app_namespace, refreshed_at)
            if answer.error is not None or answer.revision is None:
                error = _labelled(app, index, answer.error or "no revision")
                break
            revisions.append(answer.revision)
        revision = None
        if error is None:
            try:
                revision = _join(app, revisions)
            except SourceError as problem:
                error = str(problem)
        target = Target(fingerprint, revision, error, next_poll, polled=True)
        with self._lock:
            self._targets[key] = target
        return target

    def _poll(self, key: str, source: ApplicationSource, app_namespace: str,
              refreshed_at: float | None) -> _Answer:
        """What the revision of one source names now (shared; see the module docstring)."""
        chart_name = source.chart
        # A chart's targetRevision has no default (Argo CD: a version or a constraint).
        revision = source.target_revision or "" if chart_name else \
            source.target_revision_or_default
        git_creds = None if chart_name else self.credentials(source, app_namespace)
        helm_creds = self.helm_credentials(source, app_namespace) if chart_name else None
        fresh = refreshed_at is not None

        def ask() -> tuple[str | None, str | None]:
            try:
                if chart_name:
                    return self.charts.resolve(source.repo_url, chart_name, revision,
                                               helm_creds, max_age=0.0 if fresh else None), None
                return self.source.fetch(source.repo_url, revision, git_creds).revision, None
            except SourceError as error:
                return None, str(error)

        not_before = refreshed_at if refreshed_at is not None else \
            self.clock() - self.share_seconds
        shared_key = poll_key(source.repo_url, revision, helm_creds or git_creds, chart_name)
        answer = self.polls.answer(shared_key, not_before, ask)
        log.debug("%s: polled %s %s: %s", key, redact_url(source.repo_url), revision,
                  answer.revision or answer.error)
        return answer

    def resolve(self, app: Application, app_namespace: str, revision: str) -> str:
        """The commit sha of `revision` in the app's repository (a sync's `revision`); for
        a chart, the version it names now. A multi-source app's `revision` is one per
        source (`reconciler.multisource.join_revisions`), each resolved in its source."""
        sources = _sources(app)
        wanted = _split(app, revision)
        resolved = []
        for index, (source, one) in enumerate(zip(sources, wanted, strict=True)):
            try:
                if source.chart:
                    resolved.append(self.charts.resolve(
                        source.repo_url, source.chart, one,
                        self.helm_credentials(source, app_namespace), max_age=0.0))
                else:
                    resolved.append(self.source.resolve(
                        source.repo_url, one, self.credentials(source, app_namespace)))
            except SourceError as error:
                raise SourceError(_labelled(app, index, str(error)),
                                  temporary=error.temporary) from error
        return _join(app, resolved)

    @staticmethod
    def _render_keys(app: Application, app_name: str, revision: str) -> tuple[str, str]:
        """The render cache's keys of `app` at `revision`: (any renderer, Helm)."""
        destination = app.spec.destination.namespace or ""
        sources = _sources(app)
        if app.spec.has_multiple_sources:
            # Kept whole, per app: a source's render may read another's checkout ($ref).
            parts = [[_repo_key(source.repo_url), one, _spec_key(source)]
                     for source, one in zip(sources, _split(app, revision), strict=True)]
            whole = json.dumps([parts, app_name, destination], sort_keys=True)
            return whole, whole
        source = sources[0]
        # Only Helm reads the app's name and namespace (release name, .Release.Namespace):
        # a Helm render is kept per app, under a marker saying the path is a chart.
        base_key = json.dumps([_repo_key(source.repo_url), revision, _spec_key(source)],
                              sort_keys=True)
        return base_key, json.dumps([base_key, app_name, destination])

    def forget_render(self, key: str, app: Application, *, app_name: str,
                      revisions: tuple[str, ...] = ()) -> None:
        """Drop the cached renders of `app` at its last target commit and at `revisions`
        (Argo CD's hard refresh: the next compare renders them again)."""
        with self._lock:
            target = self._targets.get(key)
            wanted = {*revisions, *([target.revision] if target and target.revision else [])}
            cache_keys: set[str] = set()
            for revision in wanted:
                try:
                    cache_keys.update(self._render_keys(app, app_name, revision))
                except SourceError:
                    continue  # a revision of another shape (the sources changed)
            for cache_key in cache_keys:
                old = self._renders.pop(cache_key, None)
                if old is not None:
                    self._rendered_objects -= len(old.objects)

    def render(self, app: Application, *, app_name: str, app_namespace: str, revision: str
               ) -> Rendered:
        """The objects of `app` at commit `revision`; `SourceError` or `RenderError`."""
        base_key, helm_key = self._render_keys(app, app_name, revision)
        with self._lock:
            cached = self._renders.get(base_key)
            if cached is not None and cached.source_type == SourceType.HELM.value:
                self._renders.move_to_end(base_key)
                cached = self._renders.get(helm_key)
            if cached is not None:
                self._renders.move_to_end(helm_key if cached.source_type ==
                                          SourceType.HELM.value else base_key)
                return cached
        if app.spec.has_multiple_sources:
            rendered = self._render_sources(app, app_name=app_name,
                                            app_namespace=app_namespace, revision=revision)
            with self._lock:
                self._remember(base_key, rendered)
            return rendered
        source = _sources(app)[0]
        objects, kind = self._render_one(source, app, app_name=app_name,
                                         app_namespace=app_namespace, revision=revision)
        rendered = Rendered(objects, kind.value)
        with self._lock:
            if kind is SourceType.HELM:
                self._remember(base_key, Rendered([], kind.value))
                self._remember(helm_key, rendered)
            else:
                self._remember(base_key, rendered)
        return rendered

    def _checkout(self, source: ApplicationSource, app_namespace: str, revision: str
                  ) -> Path:
        """The local directory of `source` at `revision`: the unpacked chart, or the
        Git checkout."""
        if source.chart:
            return self.charts.fetch(source.repo_url, source.chart, revision,
                                     self.helm_credentials(source, app_namespace))
        return self.source.fetch(source.repo_url, revision,
                                 self.credentials(source, app_namespace)).path

    def _render_one(self, source: ApplicationSource, app: Application, *, app_name: str,
                    app_namespace: str, revision: str,
                    refs: Mapping[str, Path] | None = None) -> tuple[list[Obj], SourceType]:
        directory = self._checkout(source, app_namespace, revision)
        destination = app.spec.destination.namespace or ""
        objects = render(directory, source, app_name=app_name, namespace=destination,
                         policy=self.render_policy, refs=refs)
        kind = SourceType.HELM if source.chart else \
            source_type(source, app_directory(directory.resolve(), source.path))
        return objects, kind

    def _render_sources(self, app: Application, *, app_name: str, app_namespace: str,
                        revision: str) -> Rendered:
        """Every source of a multi-source app rendered, objects combined in order (ref
        sources lend their checkouts to the others' `$ref/...` value files)."""
        sources = _sources(app)
        revisions = _split(app, revision)
        refs: dict[str, Path] = {}
        for index, (source, one) in enumerate(zip(sources, revisions, strict=True)):
            if source.ref:
                try:
                    refs[source.ref] = self._checkout(source, app_namespace, one)
                except SourceError as error:
                    raise SourceError(_labelled(app, index, str(error)),
                                      temporary=error.temporary) from error
        objects: list[Obj] = []
        kinds: list[str] = []
        for index, (source, one) in enumerate(zip(sources, revisions, strict=True)):
            if source.is_ref_only:
                root = refs[str(source.ref)].resolve()
                try:
                    kinds.append(source_type(source, root).value)
                except RenderError:
                    kinds.append(SourceType.DIRECTORY.value)
                continue
            try:
                rendered, kind = self._render_one(source, app, app_name=app_name,
                                                  app_namespace=app_namespace, revision=one,
                                                  refs=refs)
            except SourceError as error:
                raise SourceError(_labelled(app, index, str(error)),
                                  temporary=error.temporary) from error
            except RenderError as error:
                raise RenderError(_labelled(app, index, str(error))) from error
            objects += rendered
            kinds.append(kind.value)
            if len(objects) > self.render_policy.max_objects:
                raise RenderError(f"the sources render {len(objects)} objects, more than "
                                  f"{self.render_policy.max_objects}; split the application")
        return Rendered(objects, kinds[0] if kinds else SourceType.DIRECTORY.value,
                        tuple(kinds))

    def _remember(self, cache_key: str, rendered: Rendered) -> None:
        old = self._renders.pop(cache_key, None)
        self._rendered_objects += len(rendered.objects) - (len(old.objects) if old else 0)
        self._renders[cache_key] = rendered
        while self._rendered_objects > RENDER_CACHE_OBJECTS and len(self._renders) > 1:
            _, dropped = self._renders.popitem(last=False)
            self._rendered_objects -= len(dropped.objects)


def _unpolled(target: Target) -> Target:
    return Target(target.fingerprint, target.revision, target.error, target.next_poll)
