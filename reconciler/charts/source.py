"""The chart source: which version a `targetRevision` names, and that version's files.

`ChartSource` is to charts what `reconciler.source.GitSource` is to Git, and
`reconciler.app_source.AppSources` uses it for every Application whose source has
`chart:`:

    version = charts.resolve(repo_url, "guestbook", "1.x", credentials)   # "1.4.2"
    chart_dir = charts.fetch(repo_url, "guestbook", version, credentials)  # unpacked

`resolve` is Argo CD's: a version (`1.2.3`) is a pin, returned without asking anyone;
a constraint is matched (`reconciler.charts.semver.max_version`) against the versions
the repository lists: an HTTP repository's `index.yaml` or an OCI registry's tags.
Listings are kept for `index_ttl` seconds per (repository, credentials), so Applications
sharing a repository share one download; `max_age=0` (a refresh) asks again.

`fetch` downloads the archive once per (repository, chart, version): from the URL the
index lists (relative or absolute; its sha256 digest checked when the index has one;
credentials only to the repository's own origin, as Helm does) or from the registry's
chart layer, then unpacks it safely (`reconciler.charts.unpack`) into

    <cache_dir>/<sha256(repository, chart, version)[:32]>/chart/    the chart's files

built in a `.partial-*` directory and renamed into place, so a reader never sees half a
chart. The `keep_charts` most recently used charts stay; older ones are removed once
unused for `min_age` seconds. Downloads are bounded (`transport`: bytes, time,
redirects) and run at most `NETWORK_GIT_CONCURRENCY` at once, two per host. Every failure
is a `SourceError` (one line, credentials removed), `temporary` when a retry may help.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.charts.creds import HelmCredentials
from reconciler.charts.index import Index, IndexProblem, parse_index, pick_entry
from reconciler.charts.oci import OciRegistry
from reconciler.charts.semver import ConstraintProblem, is_version, max_version
from reconciler.charts.transport import FetchProblem, Response, get, tls_context, where
from reconciler.charts.unpack import UnpackLimits, UnpackProblem, unpack_chart
from reconciler.charts.urls import (
    ChartRepository,
    ChartURLProblem,
    chart_repository,
    chart_url,
    index_url,
    same_origin,
    shown,
)
from reconciler.source_cache import KeyedLocks, NetworkSlots, SlotBusy
from reconciler.source_git import SourceError
from reconciler.source_secrets import Redactor
from rollouts.devcluster.versions import cache_dir as rollouts_cache_dir

__all__ = ["INDEX_TTL_SECONDS", "MAX_ARCHIVE_BYTES", "MAX_INDEX_BYTES", "ChartSource",
           "default_chart_cache"]

INDEX_TTL_SECONDS = 60.0
"""How long a repository's listing (index.yaml, OCI tags) answers without asking again."""
MAX_INDEX_BYTES = 32 * 1024 * 1024
"""Largest index.yaml read (the largest public repositories' are a few MiB)."""
MAX_ARCHIVE_BYTES = 32 * 1024 * 1024
"""Largest chart archive downloaded (compressed; charts are rarely over 1 MiB)."""
_MAX_LISTINGS = 128
_SLOT_WAIT = 10.0


def default_chart_cache() -> Path:
    """`~/.cache/rollouts/charts` (or `$ROLLOUTS_CACHE/charts`)."""
    return rollouts_cache_dir() / "charts"


class ChartSource:
    """Listings in memory, unpacked charts on disk; thread-safe (see the module docstring)."""

    def __init__(self, cache_dir: Path | None = None, *, index_ttl: float = INDEX_TTL_SECONDS,
                 timeout: float = 60.0, max_index_bytes: int = MAX_INDEX_BYTES,
                 max_archive_bytes: int = MAX_ARCHIVE_BYTES,
                 limits: UnpackLimits | None = None, keep_charts: int = 64,
                 min_age: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cache_dir = (cache_dir or default_chart_cache()).expanduser().resolve()
        self.index_ttl = index_ttl
        self.timeout = timeout
        self.max_index_bytes = max_index_bytes
        self.max_archive_bytes = max_archive_bytes
        self.limits = limits or UnpackLimits()
        self.keep_charts = keep_charts
        self.min_age = min_age
        self.clock = clock
        self.listing_count = 0
        """Listings downloaded (index.yaml or an OCI tag list): the poll cost."""
        self.download_count = 0
        """Chart archives downloaded."""
        self._listings: OrderedDict[str, tuple[float, Index | list[str]]] = OrderedDict()
        self._locks = KeyedLocks()
        self._slots = NetworkSlots()
        self._schemes: dict[str, str] = {}
        self._guard = threading.Lock()

    # -- public API ---------------------------------------------------------------------

    def resolve(self, repo_url: str, chart: str, revision: str,
                credentials: HelmCredentials | None = None, *,
                max_age: float | None = None) -> str:
        """The chart version `revision` names (a pin as written, a constraint matched)."""
        with self._errors(repo_url, chart, credentials):
            repo = self._repository(repo_url, chart, credentials)
            wanted = (revision or "").strip()
            if not wanted or wanted == "HEAD":
                raise ConstraintProblem(
                    "spec.source.targetRevision must be a chart version or a constraint "
                    "for a Helm chart (e.g. 1.2.3, 1.2.x, >=1.0 <2.0, *)")
            if is_version(wanted):
                return wanted
            return max_version(wanted, self._versions(repo, chart, credentials, max_age))

    def fetch(self, repo_url: str, chart: str, version: str,
              credentials: HelmCredentials | None = None) -> Path:
        """The unpacked chart `chart` at exactly `version` (downloaded once, then cached)."""
        with self._errors(repo_url, chart, credentials):
            repo = self._repository(repo_url, chart, credentials)
            material = json.dumps([repo.cache_key(), chart, version])
            key = hashlib.sha256(material.encode()).hexdigest()[:32]
            final = self.cache_dir / key
            with self._locks.hold(key, -1):
                if not (final / "chart").is_dir():
                    self._download(repo, chart, version, credentials, final)
                    self.download_count += 1
                (final / ".used").touch()
            self._prune(keep=final)
            return final / "chart"

    # -- listings ---------------------------------------------------------------------

    def _versions(self, repo: ChartRepository, chart: str,
                  credentials: HelmCredentials | None, max_age: float | None) -> list[str]:
        if repo.kind == "oci":
            name = repo.oci_name(chart)
            listing = self._listing(f"oci {repo.cache_key()} {name}", credentials, max_age,
                                    lambda: self._registry(repo, credentials).tags(name))
            assert isinstance(listing, list)
            return listing
        index = self._index(repo, credentials, max_age)
        return [entry.version for entry in index.chart(chart)]

    def _index(self, repo: ChartRepository, credentials: HelmCredentials | None,
               max_age: float | None) -> Index:
        listing = self._listing(f"index {repo.cache_key()}", credentials, max_age,
                                lambda: self._download_index(repo, credentials))
        assert isinstance(listing, Index)
        return listing

    def _listing(self, what: str, credentials: HelmCredentials | None,
                 max_age: float | None, load: Callable[[], Index | list[str]]
                 ) -> Index | list[str]:
        key = f"{what} {(credentials or HelmCredentials()).fingerprint()}"
        age_limit = self.index_ttl if max_age is None else max_age
        with self._locks.hold(f"listing {key}", -1):
            with self._guard:
                cached = self._listings.get(key)
            if cached is not None and self.clock() - cached[0] < age_limit:
                return cached[1]
            asked = self.clock()
            value = load()
            self.listing_count += 1
            with self._guard:
                self._listings[key] = (asked, value)
                self._listings.move_to_end(key)
                while len(self._listings) > _MAX_LISTINGS:
                    self._listings.popitem(last=False)
            return value

    def _download_index(self, repo: ChartRepository,
                        credentials: HelmCredentials | None) -> Index:
        url = index_url(repo)
        response = self._get(repo, url, credentials, self.max_index_bytes)
        if response.status == 404:
            raise FetchProblem(f"there is no index.yaml at {where(url)}: is it a Helm "
                               "repository?", temporary=False)
        _check(response.status, url, credentials)
        return parse_index(response.body)

    # -- archives ---------------------------------------------------------------------

    def _download(self, repo: ChartRepository, chart: str, version: str,
                  credentials: HelmCredentials | None, final: Path) -> None:
        if repo.kind == "oci":
            archive = self._registry(repo, credentials).chart_archive(
                repo.oci_name(chart), version, self.max_archive_bytes)
        else:
            archive = self._http_archive(repo, chart, version, credentials)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = self.cache_dir / f".partial-{uuid.uuid4().hex}"
        try:
            (partial / "files").mkdir(parents=True)
            found = unpack_chart(archive, partial / "files", chart=chart, limits=self.limits)
            found.rename(partial / "chart")
            shutil.rmtree(partial / "files", ignore_errors=True)
            try:
                partial.rename(final)
            except OSError:
                if not (final / "chart").is_dir():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _http_archive(self, repo: ChartRepository, chart: str, version: str,
                      credentials: HelmCredentials | None) -> bytes:
        try:
            entry = pick_entry(self._index(repo, credentials, None).chart(chart), version,
                               chart)
        except IndexProblem:  # published since the listing was kept: look once more
            entry = pick_entry(self._index(repo, credentials, 0.0).chart(chart), version,
                               chart)
        url = chart_url(repo, entry.urls[0])
        response = self._get(repo, url, credentials, self.max_archive_bytes)
        _check(response.status, url, credentials)
        if entry.digest and hashlib.sha256(response.body).hexdigest() != entry.digest:
            raise FetchProblem(f"chart '{chart}' {version} from {where(url)} does not match "
                               "the digest in the repository's index; refused",
                               temporary=True)
        return response.body

    # -- plumbing ---------------------------------------------------------------------

    def _repository(self, repo_url: str, chart: str,
                    credentials: HelmCredentials | None) -> ChartRepository:
        if not chart.strip() or chart.startswith(("/", ".")) or ".." in chart.split("/"):
            raise ChartURLProblem(f"spec.source.chart {chart[:100]!r} is not a chart name")
        return chart_repository(repo_url, enable_oci=bool(credentials and
                                                          credentials.enable_oci))

    def _registry(self, repo: ChartRepository,
                  credentials: HelmCredentials | None) -> OciRegistry:
        return _SlottedRegistry(self, repo, credentials)

    def _get(self, repo: ChartRepository, url: str, credentials: HelmCredentials | None,
             max_bytes: int) -> Response:
        authorization = (credentials or HelmCredentials()).basic_authorization()
        with self.slot(repo.authority):
            return get(url, deadline=time.monotonic() + self.timeout, max_bytes=max_bytes,
                       context=tls_context(credentials), authorization=authorization,
                       send_auth=lambda target: same_origin(target, repo))

    @contextmanager
    def slot(self, authority: str) -> Iterator[None]:
        try:
            with self._slots.slot(authority, _SLOT_WAIT):
                yield
        except SlotBusy as busy:
            reason = busy.reason.replace("git operations", "downloads")
            raise FetchProblem(f"{reason}; will retry", temporary=True) from None

    @contextmanager
    def _errors(self, repo_url: str, chart: str,
                credentials: HelmCredentials | None) -> Iterator[None]:
        redact = Redactor(credentials.secrets() if credentials else [])
        prefix = f"chart '{chart[:100]}' from {shown(repo_url)}"
        try:
            yield
        except FetchProblem as problem:
            raise SourceError(redact(f"{prefix}: {problem}"), temporary=problem.temporary
                              ) from None
        except (IndexProblem, UnpackProblem, ChartURLProblem, ConstraintProblem) as problem:
            raise SourceError(redact(f"{prefix}: {problem}"), temporary=False) from None
        except OSError as error:
            raise SourceError(redact(f"{prefix}: the chart cache failed ({error.strerror})"),
                              temporary=True) from None

    def _prune(self, *, keep: Path) -> None:
        """Remove the least recently used charts beyond `keep_charts` (unused a while)."""
        now = time.time()
        try:
            entries = [path for path in self.cache_dir.iterdir() if path.is_dir()]
        except OSError:
            return
        for path in entries:  # what a killed download left behind
            with contextlib.suppress(OSError):
                if path.name.startswith(".partial-") and now - path.stat().st_mtime > 3600:
                    shutil.rmtree(path, ignore_errors=True)
        entries = [path for path in entries if not path.name.startswith(".")]
        if len(entries) <= self.keep_charts:
            return

        def used(path: Path) -> float:
            try:
                return (path / ".used").stat().st_mtime
            except OSError:
                return 0.0

        for path in sorted(entries, key=used)[: len(entries) - self.keep_charts]:
            if path != keep and now - used(path) > self.min_age:
                shutil.rmtree(path, ignore_errors=True)


class _SlottedRegistry(OciRegistry):
    """An `OciRegistry` whose requests hold one of the chart source's network slots."""

    def __init__(self, owner: ChartSource, repo: ChartRepository,
                 credentials: HelmCredentials | None) -> None:
        super().__init__(repo, credentials, deadline=time.monotonic() + owner.timeout,
                         schemes_seen=owner._schemes)
        self._owner = owner

    def tags(self, name: str) -> list[str]:
        with self._owner.slot(self.repo.authority):
            return super().tags(name)

    def chart_archive(self, name: str, version: str, max_bytes: int) -> bytes:
        with self._owner.slot(self.repo.authority):
            return super().chart_archive(name, version, max_bytes)


def _check(status: int, url: str, credentials: HelmCredentials | None) -> None:
    if status == 200:
        return
    if status in (401, 403):
        hint = "check username and password in the repository Secret" if \
            credentials is not None and credentials.has_basic_auth else \
            "add a repository Secret (type: helm) with credentials"
        raise FetchProblem(f"{where(url)} answered {status}; {hint}", temporary=False)
    raise FetchProblem(f"{where(url)} answered {status}",
                       temporary=status >= 500 or status in (404, 429))
