"""Housekeeping of the Git cache: bounded concurrency, per-clone locks, and garbage.

`GitSource` (`reconciler.source`) uses three things from here:

- `NetworkSlots`: at most `NETWORK_GIT_CONCURRENCY` network git commands at once, and at
  most `PER_HOST_GIT_CONCURRENCY` to one `host:port`, so a slow or tarpitting server
  holds a bounded number of threads and never the slots other hosts need. Waiting for a
  slot is bounded too (`SLOT_WAIT_SECONDS`): past it the poll fails as temporary.
- `KeyedLocks`: one lock per clone, created on demand and forgotten when nobody holds or
  waits for it (the map does not grow with every URL ever seen).
- `remove_partial_fetch` (after a failed or killed fetch: temporary packs, `.keep` and
  `.lock` files that would otherwise pile up or wedge the next fetch) and `collect`
  (clones unused for `CLONE_IDLE_SECONDS` are deleted).

Time is passed in (`now`, wall-clock seconds) so the decisions are testable.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "CLONE_IDLE_SECONDS",
    "GC_INTERVAL_SECONDS",
    "LS_REMOTE_TIMEOUT",
    "NETWORK_GIT_CONCURRENCY",
    "PER_HOST_GIT_CONCURRENCY",
    "SLOT_WAIT_SECONDS",
    "KeyedLocks",
    "NetworkSlots",
    "collect",
    "mark_used",
    "remove_partial_fetch",
]

NETWORK_GIT_CONCURRENCY = 4
"""Network git commands (ls-remote, fetch) running at once, all hosts together."""
PER_HOST_GIT_CONCURRENCY = 2
"""Network git commands running at once against one `host:port`."""
SLOT_WAIT_SECONDS = 10.0
"""How long a poll waits for a free slot before failing as temporary (retried later)."""
LS_REMOTE_TIMEOUT = 20.0
"""`git ls-remote` is a few KB: a server that takes longer is treated as down."""
CLONE_IDLE_SECONDS = 24 * 3600.0
"""A bare clone not used for this long is deleted (the next poll clones it again)."""
GC_INTERVAL_SECONDS = 600.0
"""How often `GitSource.fetch` looks for idle clones."""
STALE_TEMP_SECONDS = 3600.0
"""Leftovers (staging directories, temporary packs) older than this belong to no one."""

_USED_STAMP = "rollouts-last-used"


class SlotBusy(Exception):
    """No slot freed up in time; `reason` says which bound was reached."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NetworkSlots:
    """A global semaphore plus one per `host:port` (created on demand, dropped when idle)."""

    def __init__(self, total: int = NETWORK_GIT_CONCURRENCY,
                 per_host: int = PER_HOST_GIT_CONCURRENCY) -> None:
        self.total = total
        self.per_host = per_host
        self._global = threading.BoundedSemaphore(total)
        self._hosts: dict[str, tuple[threading.BoundedSemaphore, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def slot(self, authority: str, wait: float) -> Iterator[None]:
        """Hold one slot for `authority`; `SlotBusy` after `wait` seconds without one.

        The host's slot is taken first, so a request queued behind a slow host never
        holds one of the global slots other hosts need.
        """
        host_semaphore = self._host(authority, +1)
        try:
            if not host_semaphore.acquire(timeout=wait):
                raise SlotBusy(f"{self.per_host} git operations against {authority} are "
                               "already running")
            try:
                if not self._global.acquire(timeout=wait):
                    raise SlotBusy(f"{self.total} git operations are already running")
                try:
                    yield
                finally:
                    self._global.release()
            finally:
                host_semaphore.release()
        finally:
            self._host(authority, -1)

    def hosts_tracked(self) -> int:
        with self._guard:
            return len(self._hosts)

    def _host(self, authority: str, delta: int) -> threading.BoundedSemaphore:
        with self._guard:
            semaphore, users = self._hosts.get(authority) or (
                threading.BoundedSemaphore(self.per_host), 0)
            users += delta
            if users > 0:
                self._hosts[authority] = (semaphore, users)
            else:
                self._hosts.pop(authority, None)
            return semaphore


class KeyedLocks:
    """A lock per key that exists only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key: str, wait: float) -> Iterator[bool]:
        """Yields whether the lock was obtained within `wait` seconds (-1: forever)."""
        lock = self._use(key, +1)
        try:
            acquired = lock.acquire(timeout=wait) if wait >= 0 else lock.acquire()
            try:
                yield acquired
            finally:
                if acquired:
                    lock.release()
        finally:
            self._use(key, -1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)

    def _use(self, key: str, delta: int) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(key) or (threading.Lock(), 0)
            users += delta
            if users > 0:
                self._locks[key] = (lock, users)
            else:
                self._locks.pop(key, None)
            return lock


def mark_used(bare: Path) -> None:
    """Record that `bare` was used now (its directory mtime changes with every fetch, not
    with every poll that finds nothing new, so a stamp file says it)."""
    (bare / _USED_STAMP).touch()


def last_used(bare: Path) -> float | None:
    for candidate in (bare / _USED_STAMP, bare):
        try:
            return candidate.stat().st_mtime
        except FileNotFoundError:
            continue
    return None


def remove_partial_fetch(bare: Path, *, now: float, older_than: float = 0.0) -> list[Path]:
    """Delete what a failed or killed fetch leaves in `bare` (older than `older_than` s):
    `objects/pack/tmp_*` and `.keep` files, loose `tmp_obj_*`, and `*.lock` files (a
    stale `refs/heads/x.lock` fails every later fetch). The caller holds the clone's lock.
    """
    candidates = [
        *(bare / "objects" / "pack").glob("tmp_*"),
        *(bare / "objects" / "pack").glob("*.keep"),
        *(bare / "objects").glob("*/tmp_obj_*"),
        *(bare / "objects").glob("incoming-*"),
        *bare.glob("*.lock"),
        *(bare / "refs").rglob("*.lock"),
    ]
    removed = []
    for path in candidates:
        try:
            if now - path.stat().st_mtime < older_than:
                continue
        except FileNotFoundError:
            continue
        _remove(path)
        removed.append(path)
    return removed


def collect(repos: Path, locks: KeyedLocks, *, now: float,
            idle: float = CLONE_IDLE_SECONDS) -> list[Path]:
    """Delete clones under `repos` unused for `idle` seconds, and old staging directories.

    A clone whose lock is held (a fetch is running) is skipped; the key of a clone's lock
    is its directory name.
    """
    removed: list[Path] = []
    if not repos.is_dir():
        return removed
    for entry in sorted(repos.iterdir()):
        if entry.name.startswith(".tmp-"):
            used = last_used(entry)
            if used is not None and now - used > STALE_TEMP_SECONDS:
                _remove(entry)
                removed.append(entry)
            continue
        used = last_used(entry)
        if used is None or now - used <= idle:
            if used is not None:
                remove_partial_fetch(entry, now=now, older_than=STALE_TEMP_SECONDS)
            continue
        with locks.hold(entry.name, 0) as acquired:
            if acquired:
                _remove(entry)
                removed.append(entry)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
