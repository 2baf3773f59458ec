"""Git checkouts for the `git` generators, through the reconciler's own Git cache.

No Git code of its own: `GitCheckouts` wraps `reconciler.source.GitSource` (the same bare
clones and read-only checkouts, the same network bounds; the controller shares the
Application controller's instance when both run in one process) and finds credentials
the way Applications do (`reconciler.repo_creds.credentials_for` over the repository
Secrets of the control namespace).

An ApplicationSet is reconciled on every change of one of its Applications, far more
often than its Git should be asked: what a revision names (`ls-remote`, and a fetch of a
new commit) is asked through `reconciler.app_source.SharedPolls`, one answer per
normalized URL, revision and credentials shared by every ApplicationSet, reused for
`max_age` seconds (the generator's `requeueAfterSeconds`, else 3 minutes) unless the
ApplicationSet asks for a refresh (`argocd.argoproj.io/application-set-refresh`). Only
the commit sha is remembered, never a path: every reconcile asks `GitSource.fetch` for
the checkout of that sha (no git process for a commit it checked out before), which
marks the checkout used so `GitSource` does not prune it while the generator reads it,
and checks it out again if it was pruned. A `SourceError` becomes a `GeneratorProblem`
with the same (already redacted) message and temporariness.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.app_source import SharedPolls, poll_key
from reconciler.appset.git import GeneratorProblem
from reconciler.repo_creds import credentials_for
from reconciler.source import GitSource, SourceError, redact_url

__all__ = ["CheckoutReader", "GitCheckouts"]


class GitCheckouts:
    """Commits per (repository, revision, credentials), shared polls; thread-safe."""

    def __init__(self, source: GitSource, secrets: Callable[[], list[dict[str, Any]]], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.secrets = secrets
        self.clock = clock
        self.polls = SharedPolls(clock)

    def reader(self, *, max_age: float, refresh: bool = False) -> CheckoutReader:
        return CheckoutReader(self, max_age, refresh)

    def checkout(self, repo_url: str, revision: str, *, max_age: float, refresh: bool) -> Path:
        creds = credentials_for(repo_url, self.secrets())

        def ask() -> tuple[str | None, str | None]:
            # A failure raises through `SharedPolls.answer` and is not kept: the next
            # reconcile asks again (after 30 s when it was temporary, as Argo CD).
            return self.source.fetch(repo_url, revision, creds).revision, None

        now = self.clock()
        try:
            answer = self.polls.answer(poll_key(repo_url, revision, creds),
                                       now if refresh else now - max_age, ask)
            sha = answer.revision or revision
            return self.source.fetch(repo_url, sha, creds).path
        except SourceError as error:
            raise GeneratorProblem(f"{redact_url(repo_url)}: {error}",
                                   temporary=error.temporary) from None


@dataclass(frozen=True)
class CheckoutReader:
    """A `GitReader` for one reconcile (its poll age and refresh)."""

    checkouts: GitCheckouts
    max_age: float
    refresh: bool

    def checkout(self, repo_url: str, revision: str) -> Path:
        return self.checkouts.checkout(repo_url, revision, max_age=self.max_age,
                                       refresh=self.refresh)
