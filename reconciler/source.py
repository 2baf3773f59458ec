"""The Git source: resolve a revision, fetch only what changed, check out one commit.

`GitSource.fetch(repo_url, revision, credentials) -> Checkout` is the seam the
Application controller uses (tests swap in a fake with the same method). On disk, under
`cache_dir` (default `~/.cache/rollouts/git`, outside any work tree):

    repos/<sha256(key)[:16]>/   one bare clone per repository, keyed by the normalized URL
                                (`source_url.RepoURL.cache_key`: host case, `.git`, a
                                trailing `/`, the default port and userinfo do not count);
                                `origin` records the URL without credentials
    checkouts/<commit sha>/     a read-only tree per commit (files are not writable),
                                shared by every Application at that commit and reused
    known_hosts/<key>           ssh host keys trusted on first use, one file per repository
    home/                       the scratch `HOME` of every git process
    askpass.sh                  the credential helper (holds no secret)

Only network repositories are fetched (`source_url.parse_repo_url`): `file://` and local
paths are refused unless `allow_local` (the controller's `--allow-local-repos`), so an
Application cannot read another one's clone out of this cache. Every URL and revision
reaches git after `--end-of-options`, and git runs with a minimal environment
(`source_git`).

One poll is `git ls-remote` (cheap: refs only) and, only when the commit it names is not
in the clone yet, one `git fetch`; `fetch_count` and `ls_remote_count` count them for
the "Git fetches per poll" benchmark. A full commit sha already present locally needs no
network at all. Operations on one repository are serialized by a lock per clone; network
commands are bounded globally and per host (`source_cache.NetworkSlots`), and `ls-remote`
has its own short timeout, so a tarpit server ties up a bounded number of threads.
Clones unused for `clone_idle` seconds are deleted (`gc`, run from `fetch` every
`GC_INTERVAL_SECONDS`), and what a failed or killed fetch leaves behind is removed.

A full sha this clone has checked out before (a render of a polled commit) is answered
from the checkout alone: no lock, no git process.

Checkouts are immutable, so the last `keep_checkouts` used ones stay; older ones are
removed once unused for `min_checkout_age` seconds (a renderer still reading one is not
pulled from under it). A repository holding a symlink that points outside itself is
refused (as Argo CD does): rendering must never read files outside the checkout.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.source_cache import (
    CLONE_IDLE_SECONDS,
    GC_INTERVAL_SECONDS,
    LS_REMOTE_TIMEOUT,
    NETWORK_GIT_CONCURRENCY,
    PER_HOST_GIT_CONCURRENCY,
    SLOT_WAIT_SECONDS,
    STALE_TEMP_SECONDS,
    KeyedLocks,
    NetworkSlots,
    SlotBusy,
    collect,
    mark_used,
    remove_partial_fetch,
)
from reconciler.source_git import GitCommand, SourceError, init_bare_clone, local_commit
from reconciler.source_refs import (
    RemoteRefs,
    is_full_sha,
    looks_like_sha,
    match_revision,
    parse_ls_remote,
)
from reconciler.source_secrets import (
    Credentials,
    Redactor,
    git_auth,
    redact_url,
    split_url_credentials,
)
from reconciler.source_url import RepoURL, RepoURLProblem, parse_repo_url
from rollouts.devcluster.versions import cache_dir as rollouts_cache_dir

__all__ = [
    "Checkout",
    "Credentials",
    "GitSource",
    "SourceError",
    "default_cache_dir",
    "redact_url",
]

log = logging.getLogger(__name__)

# Full history, not `--depth`/`--filter=blob:none`: abbreviated shas and commits no ref
# points at any more must resolve locally, and a partial clone would fetch blobs lazily
# during checkout (network and credentials outside the bounded, authenticated fetch).
_FETCH_REFSPECS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]


def default_cache_dir() -> Path:
    """`~/.cache/rollouts/git` (or `$ROLLOUTS_CACHE/git`)."""
    return rollouts_cache_dir() / "git"


@dataclass(frozen=True)
class Checkout:
    """One commit's files on disk (read-only), and how it was asked for."""

    path: Path
    revision: str
    """The full commit sha."""
    resolved: str
    """What the user asked for (`main`, `v1.2`, `HEAD`, `a1b2c3d`)."""


class GitSource:
    """Bare clones per repository, checkouts per commit; thread-safe per repository.

    `allow_local` permits `file://` URLs and local paths (off: an Application could
    otherwise read any repository on the controller's disk, other tenants' clones in this
    cache included). The limits default to the `source_cache` constants.
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        timeout: float = 60.0,
        keep_checkouts: int = 16,
        min_checkout_age: float = 300.0,
        allow_local: bool = False,
        ls_remote_timeout: float = LS_REMOTE_TIMEOUT,
        clone_idle: float = CLONE_IDLE_SECONDS,
        max_network_git: int = NETWORK_GIT_CONCURRENCY,
        max_git_per_host: int = PER_HOST_GIT_CONCURRENCY,
        slot_wait: float = SLOT_WAIT_SECONDS,
    ) -> None:
        self.cache_dir = (cache_dir or default_cache_dir()).expanduser().resolve()
        self.timeout = timeout
        self.keep_checkouts = keep_checkouts
        self.min_checkout_age = min_checkout_age
        self.allow_local = allow_local
        self.ls_remote_timeout = ls_remote_timeout
        self.clone_idle = clone_idle
        self.slot_wait = slot_wait
        self.fetch_count = 0
        self.ls_remote_count = 0
        self._slots = NetworkSlots(max_network_git, max_git_per_host)
        self._locks = KeyedLocks()
        self._guard = threading.Lock()
        self._last_gc = 0.0
        self._verified: set[tuple[str, str]] = set()
        """(clone key, sha) checked out from that clone: asked again, no git runs."""

    # -- public API ---------------------------------------------------------------

    def fetch(
        self, repo_url: str, revision: str, credentials: Credentials | None = None
    ) -> Checkout:
        """The files of `revision` (branch, tag, sha, `HEAD`) in `repo_url`, fetching if needed."""
        url, creds, redactor = self._prepare(repo_url, credentials)
        revision = (revision or "HEAD").strip() or "HEAD"
        if is_full_sha(revision):  # a render of a polled commit: no lock, no git process
            known = self._known_checkout(url, revision.lower())
            if known is not None:
                return Checkout(path=known, revision=revision.lower(), resolved=revision)
        with self._lock_for(url):
            bare = self._ensure_clone(url, redactor)
            sha = self._resolve_and_fetch(bare, url, revision, creds, redactor)
            path = self._checkout(bare, sha, redactor)
        with self._guard:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified.add((self._key(url), sha))
        self._prune_checkouts(keep=path)
        self._maybe_gc(time.time())
        return Checkout(path=path, revision=sha, resolved=revision)

    def resolve(
        self, repo_url: str, revision: str, credentials: Credentials | None = None
    ) -> str:
        """The commit sha `revision` names now, asking the remote for refs only.

        A full sha is returned as it is; an abbreviated one is looked up in the local clone
        (fetching if it is not there yet).
        """
        url, creds, redactor = self._prepare(repo_url, credentials)
        revision = (revision or "HEAD").strip() or "HEAD"
        if is_full_sha(revision):
            return revision.lower()
        if not looks_like_sha(revision):
            matched = match_revision(self._ls_remote(url, creds, redactor), revision)
            if matched is None:
                raise self._not_found(url, revision, "no branch or tag of that name")
            return matched[1]
        with self._lock_for(url):
            bare = self._ensure_clone(url, redactor)
            return self._resolve_and_fetch(bare, url, revision, creds, redactor)

    def gc(self, now: float) -> list[Path]:
        """Delete clones unused for `clone_idle` seconds (`now`: `time.time()`); the removed
        paths. `fetch` calls it every `GC_INTERVAL_SECONDS`; a timer may call it too."""
        with self._guard:
            self._last_gc = now
        removed = collect(self.cache_dir / "repos", self._locks, now=now, idle=self.clone_idle)
        for path in removed:
            log.info("removed the unused git clone %s", path.name)
        return removed

    # -- resolution -----------------------------------------------------------------

    def _resolve_and_fetch(
        self, bare: Path, url: str, revision: str, creds: Credentials | None, redactor: Redactor
    ) -> str:
        if is_full_sha(revision) and self._has_commit(bare, revision):
            return revision.lower()
        if looks_like_sha(revision):
            local = self._local_commit(bare, revision)
            # Only a sha prefix counts here: a ref named like hex must be asked for anew.
            if local is not None and local.startswith(revision.lower()):
                return local
        matched = match_revision(self._ls_remote(url, creds, redactor), revision)
        if matched is not None:
            ref, sha = matched
            if not self._has_commit(bare, sha):
                extra = [] if ref.startswith(("refs/heads/", "refs/tags/")) else [f"+{ref}:{ref}"]
                self._fetch(bare, url, creds, redactor, extra)
            if not self._has_commit(bare, sha):
                raise SourceError(
                    redactor(f"fetching {redact_url(url)} did not bring commit {sha} of "
                             f"'{revision}'; will retry"),
                    temporary=True,
                )
            return sha
        if not looks_like_sha(revision):
            raise self._not_found(url, revision, "no branch or tag of that name")
        self._fetch(bare, url, creds, redactor, [])
        local = self._local_commit(bare, revision)
        if local is None and is_full_sha(revision):
            # Servers that allow fetching any reachable commit (GitHub, GitLab) find
            # commits no branch or tag points at any more.
            try:
                self._fetch(bare, url, creds, redactor, [revision.lower()])
            except SourceError as error:
                if error.temporary:
                    raise
            local = self._local_commit(bare, revision)
        if local is None:
            raise self._not_found(url, revision, "no branch, tag or commit of that name")
        return local

    def _known_checkout(self, url: str, sha: str) -> Path | None:
        """The checkout of `sha` if this clone's commit was checked out before and still is
        (the clone must still be there too: `gc` may have removed it)."""
        key = self._key(url)
        with self._guard:
            known = (key, sha) in self._verified
        path = self.cache_dir / "checkouts" / sha
        if not known or not path.is_dir() or not (self.cache_dir / "repos" / key).is_dir():
            return None
        try:
            os.utime(path)  # recently used: kept by `_prune_checkouts`
        except OSError:
            return None
        return path

    def _not_found(self, url: str, revision: str, why: str) -> SourceError:
        return SourceError(
            f"revision '{revision}' not found in {redact_url(url)}: {why}; "
            "check spec.source.targetRevision",
            temporary=False,
        )

    def _has_commit(self, bare: Path, sha: str) -> bool:
        return self._local_commit(bare, sha) == sha.lower()

    def _local_commit(self, bare: Path, revision: str) -> str | None:
        return local_commit(bare, revision, self.timeout, home=self._home())

    # -- network ----------------------------------------------------------------------

    def _ls_remote(self, url: str, creds: Credentials | None, redactor: Redactor) -> RemoteRefs:
        self._count("ls_remote_count")
        timeout = min(self.timeout, self.ls_remote_timeout)
        with self._network_slot(url), self._auth(url, creds) as env:
            out = self._command(self.cache_dir, redactor).run(
                ["ls-remote", "--symref", "--end-of-options", url], env=env,
                timeout=timeout, failure=f"cannot list refs of {redact_url(url)}",
            )
        return parse_ls_remote(out)

    def _fetch(
        self, bare: Path, url: str, creds: Credentials | None, redactor: Redactor,
        extra_refspecs: list[str],
    ) -> None:
        self._count("fetch_count")
        started = time.monotonic()
        # By URL, not `origin`: the clone is shared by every spelling of the URL, and the
        # one this Application wrote is the one its credentials were chosen for. Leftovers
        # of a fetch killed earlier (even by a crash) go first: we hold the clone's lock.
        remove_partial_fetch(bare, now=time.time())
        try:
            with self._network_slot(url), self._auth(url, creds) as env:
                self._command(bare, redactor).run(
                    ["fetch", "--prune", "--no-write-fetch-head", "--quiet",
                     "--end-of-options", url, *_FETCH_REFSPECS, *extra_refspecs],
                    env=env, timeout=self.timeout, failure=f"cannot fetch {redact_url(url)}",
                )
        except SourceError:
            remove_partial_fetch(bare, now=time.time())
            raise
        mark_used(bare)
        log.info("fetched %s in %.2f s", redact_url(url), time.monotonic() - started)

    @contextmanager
    def _network_slot(self, url: str) -> Iterator[None]:
        try:
            with self._slots.slot(self._parse(url).authority, self.slot_wait):
                yield
        except SlotBusy as busy:
            raise SourceError(f"cannot reach {redact_url(url)} now: {busy.reason} (a slow "
                              "server?); will retry", temporary=True) from None

    @contextmanager
    def _auth(self, url: str, creds: Credentials | None) -> Iterator[dict[str, str]]:
        known_hosts = self.cache_dir / "known_hosts" / self._key(url)
        known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with git_auth(creds, self.cache_dir, known_hosts=known_hosts) as env:
            yield env

    def _command(self, cwd: Path, redactor: Redactor) -> GitCommand:
        return GitCommand(cwd, redactor, home=self._home(), allow_file=self.allow_local)

    def _home(self) -> Path:
        home = self.cache_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        return home

    # -- local clone and checkouts -------------------------------------------------------

    def _ensure_clone(self, url: str, redactor: Redactor) -> Path:
        key = self._key(url)
        bare = self.cache_dir / "repos" / key
        if (bare / "HEAD").is_file():
            mark_used(bare)
            return bare
        staging = bare.with_name(f".tmp-{key}-{uuid.uuid4().hex[:8]}")
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            init_bare_clone(staging, url, _FETCH_REFSPECS, home=self._home(),
                            timeout=self.timeout)
            mark_used(staging)
            staging.rename(bare)
        except SourceError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (bare / "HEAD").is_file():
                raise SourceError(redactor(f"cannot create a clone in {bare}"),
                                  temporary=True) from None
        return bare

    def _checkout(self, bare: Path, sha: str, redactor: Redactor) -> Path:
        checkouts = self.cache_dir / "checkouts"
        final = checkouts / sha
        if final.is_dir():
            os.utime(final)
            return final
        checkouts.mkdir(parents=True, exist_ok=True)
        staging = checkouts / f".tmp-{sha}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        index = checkouts / f"{staging.name}.index"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            command = GitCommand(bare, redactor, home=self._home())
            tree_args = ["--git-dir", str(bare), "--work-tree", str(staging)]
            failure = f"cannot check out {sha}"
            command.run([*tree_args, "read-tree", "--end-of-options", sha], env=env,
                        timeout=self.timeout, failure=failure)
            command.run([*tree_args, "checkout-index", "--all", "--force"], env=env,
                        timeout=self.timeout, failure=failure)
            _refuse_outside_symlinks(staging)
            _make_read_only(staging)
            staging.rename(final)
        except OSError as error:
            if not final.is_dir():
                raise SourceError(f"cannot check out {sha}: {error}", temporary=True) from error
        finally:
            index.unlink(missing_ok=True)
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return final

    def _prune_checkouts(self, keep: Path) -> None:
        checkouts = self.cache_dir / "checkouts"
        now = time.time()
        entries: list[tuple[float, Path]] = []
        for entry in checkouts.iterdir():
            try:
                modified = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if entry.name.startswith(".tmp-"):
                if now - modified > STALE_TEMP_SECONDS:
                    _remove(entry)
                continue
            if is_full_sha(entry.name):  # anything else is not ours to delete
                entries.append((modified, entry))
        entries.sort(reverse=True)
        for modified, entry in entries[self.keep_checkouts:]:
            if entry != keep and now - modified > self.min_checkout_age:
                _remove(entry)

    # -- helpers --------------------------------------------------------------------------

    def _prepare(
        self, repo_url: str, credentials: Credentials | None
    ) -> tuple[str, Credentials | None, Redactor]:
        """The URL git is given (as written, minus any password: never in argv or the
        clone config), the credentials, and the redactor; refuses what is not allowed."""
        parsed = self._parse(repo_url)
        url, from_url = split_url_credentials(repo_url)
        web = parsed.scheme in ("http", "https")
        # A password in an ssh/git URL has no use (ssh runs in batch mode): it is only
        # removed, never handed to git or ssh.
        creds = credentials or (from_url if web else None)
        secrets = [*(creds.secrets() if creds else []), *(from_url.secrets() if from_url else [])]
        if from_url is not None and from_url.username and web:
            secrets.append(from_url.username)  # a token passed as the username
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return (parsed.clean if parsed.is_local else url), creds, Redactor(secrets)

    def _parse(self, url: str) -> RepoURL:
        try:
            return parse_repo_url(url, allow_local=self.allow_local)
        except RepoURLProblem as problem:
            raise SourceError(str(problem), temporary=False) from None

    def _key(self, url: str) -> str:
        """The clone's directory name: every spelling of one repository shares it."""
        return hashlib.sha256(self._parse(url).cache_key().encode()).hexdigest()[:16]

    @contextmanager
    def _lock_for(self, url: str) -> Iterator[None]:
        # Bounded: a poll queued behind a hung fetch of the same repository gives up
        # (temporary) instead of holding its worker for ever.
        with self._locks.hold(self._key(url), self.timeout + self.slot_wait) as acquired:
            if not acquired:
                raise SourceError(f"another fetch of {redact_url(url)} is still running; "
                                  "will retry", temporary=True)
            yield

    def _maybe_gc(self, now: float) -> None:
        with self._guard:
            due = now - self._last_gc >= GC_INTERVAL_SECONDS
            if due:
                self._last_gc = now
        if due:
            self.gc(now)

    def _count(self, counter: str) -> None:
        with self._guard:
            setattr(self, counter, getattr(self, counter) + 1)


def _refuse_outside_symlinks(root: Path) -> None:
    resolved_root = root.resolve()
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            if not path.is_symlink():
                continue
            target = os.readlink(path)
            if not (path.parent / target).resolve().is_relative_to(resolved_root):
                relative = path.relative_to(root)
                raise SourceError(
                    f"the repository holds a symlink that points outside it: {relative} -> "
                    f"{target}; remove or fix it (rendering never reads outside the checkout)",
                    temporary=False,
                )


def _make_read_only(root: Path) -> None:
    # Directories stay writable by us so that pruning can delete the tree.
    writable = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for directory, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~writable)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
