"""Git for the git generators (reconciler.appset.checkouts and git.list_directories): a
checkout is asked of `GitSource` on every reconcile, polls are shared, and a checkout
that vanished never reads as an empty repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from reconciler.appset.checkouts import GitCheckouts
from reconciler.appset.git import GeneratorProblem, git_params, list_directories
from reconciler.source import Checkout, GitSource, SourceError

SHA = "a" * 40


class FakeSource:
    """`GitSource.fetch`: a branch resolves to SHA (a poll); the sha to its checkout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[str, str]] = []
        self.fail: SourceError | None = None

    def fetch(self, repo_url: str, revision: str, credentials: Any = None) -> Checkout:
        self.calls.append((repo_url, revision))
        if self.fail is not None:
            raise self.fail
        return Checkout(path=self.root, revision=SHA, resolved=revision)

    def polls(self) -> int:
        return sum(1 for _, revision in self.calls if revision != SHA)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(tmp_path: Path) -> tuple[FakeSource, GitCheckouts, Clock]:
    source, clock = FakeSource(tmp_path), Clock()
    return source, GitCheckouts(cast(GitSource, source), lambda: [], clock=clock), clock


def test_a_known_commit_is_still_asked_of_the_source_every_time(tmp_path: Path) -> None:
    # GitSource marks the checkout used (so it is not pruned mid-read) only when asked.
    source, checkouts, clock = setup(tmp_path)
    for _ in range(3):
        assert checkouts.checkout("https://git.example/r.git", "main", max_age=180,
                                  refresh=False) == tmp_path
        clock.now += 10
    assert source.polls() == 1
    assert [r for _, r in source.calls].count(SHA) == 3


def test_polls_are_shared_by_normalized_url_and_age_out(tmp_path: Path) -> None:
    source, checkouts, clock = setup(tmp_path)
    checkouts.checkout("https://git.example/r.git", "main", max_age=180, refresh=False)
    checkouts.checkout("https://GIT.example/r", "main", max_age=180, refresh=False)
    assert source.polls() == 1
    clock.now += 181
    checkouts.checkout("https://git.example/r.git", "main", max_age=180, refresh=False)
    assert source.polls() == 2
    clock.now += 1  # a refresh takes only an answer Git gave after it was asked for
    checkouts.checkout("https://git.example/r.git", "main", max_age=180, refresh=True)
    assert source.polls() == 3


def test_a_failure_is_not_kept_and_keeps_its_temporariness(tmp_path: Path) -> None:
    source, checkouts, _ = setup(tmp_path)
    source.fail = SourceError("cannot list refs", temporary=True)
    with pytest.raises(GeneratorProblem, match="cannot list refs") as raised:
        checkouts.checkout("https://git.example/r.git", "main", max_age=180, refresh=False)
    assert raised.value.temporary
    source.fail = None
    assert checkouts.checkout("https://git.example/r.git", "main", max_age=180,
                              refresh=False) == tmp_path


def test_a_vanished_checkout_is_a_temporary_problem_not_an_empty_repository(
        tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with pytest.raises(GeneratorProblem, match="cannot read the checkout") as raised:
        list_directories(gone)
    assert raised.value.temporary

    class Reader:
        def checkout(self, repo_url: str, revision: str) -> Path:
            return gone

    for kind in ("directories", "files"):
        spec = {"repoURL": "https://git.example/r.git", kind: [{"path": "*"}]}
        with pytest.raises(GeneratorProblem, match="cannot read the checkout"):
            git_params(spec, "spec.generators[0].git", Reader(), go_template=False)
