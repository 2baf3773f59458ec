"""Git checkouts for the `git` generators, through the reconciler's own Git cache.

No Git code of its own: `GitCheckouts` wraps `reconciler.source.GitSource` (the same bare
clones and read-only checkouts, the same network bounds; the controller shares the
Application controller's instance when both run in one process) and finds credentials
the way Applications do (`reconciler.repo_creds.credentials_for` over the repository
Secrets of the control namespace).

An ApplicationSet is reconciled on every change of one of its Applications, far more
often than its Git should be asked: a checkout is reused for `max_age` seconds (the
generator's `requeueAfterSeconds`, else 3 minutes), unless the ApplicationSet asks for
a refresh (`argocd.argoproj.io/application-set-refresh`). A `SourceError` becomes a
`GeneratorProblem` with the same (already redacted) message and temporariness.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.appset.git import GeneratorProblem
from reconciler.repo_creds import credentials_for
from reconciler.source import GitSource, SourceError, redact_url

__all__ = ["CheckoutReader", "GitCheckouts"]

MAX_REMEMBERED = 1_000


class GitCheckouts:
    """Remembered checkouts per (repository, revision); thread-safe."""

    def __init__(self, source: GitSource, secrets: Callable[[], list[dict[str, Any]]], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.secrets = secrets
        self.clock = clock
        self._known: dict[tuple[str, str], tuple[Path, float]] = {}
        self._lock = threading.Lock()

    def reader(self, *, max_age: float, refresh: bool = False) -> CheckoutReader:
        return CheckoutReader(self, max_age, refresh)

    def checkout(self, repo_url: str, revision: str, *, max_age: float, refresh: bool) -> Path:
        key = (repo_url, revision)
        now = self.clock()
        with self._lock:
            known = self._known.get(key)
        if known is not None and not refresh and now - known[1] < max_age and \
                known[0].is_dir():
            return known[0]
        try:
            checkout = self.source.fetch(repo_url, revision,
                                         credentials_for(repo_url, self.secrets()))
        except SourceError as error:
            raise GeneratorProblem(f"{redact_url(repo_url)}: {error}",
                                   temporary=error.temporary) from None
        with self._lock:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            self._known[key] = (checkout.path, now)
        return checkout.path


@dataclass(frozen=True)
class CheckoutReader:
    """A `GitReader` for one reconcile (its poll age and refresh)."""

    checkouts: GitCheckouts
    max_age: float
    refresh: bool

    def checkout(self, repo_url: str, revision: str) -> Path:
        return self.checkouts.checkout(repo_url, revision, max_age=self.max_age,
                                       refresh=self.refresh)
