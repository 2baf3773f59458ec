"""Git answers and renders shared by Applications (`reconciler.app_source`), and the
tracked-object index of `reconciler.watches`, with a fake Git source and fake clocks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.app_source import AppSources, SharedPolls
from reconciler.source import Checkout, Credentials, GitSource, SourceError
from reconciler.tracking import with_tracking
from reconciler.watches import WatchRegistry
from rollouts.api.application import Application
from rollouts.kube import CONFIG_MAP

SHA_1, SHA_2 = "1" * 40, "2" * 40
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeGit(GitSource):
    """Answers `fetch` from `heads` (branch -> sha) with a checkout under `root`."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "cache", allow_local=True)
        self.root = root
        self.heads = {"main": SHA_1}
        self.calls: list[tuple[str, str]] = []
        self.fail: str | None = None

    def fetch(self, repo_url: str, revision: str, credentials: Credentials | None = None
              ) -> Checkout:
        self.calls.append((repo_url, revision))
        if self.fail:
            raise SourceError(self.fail, temporary=True)
        sha = self.heads.get(revision, revision)
        path = self.root / sha
        for name in ("a", "b"):
            (path / name).mkdir(parents=True, exist_ok=True)
            (path / name / "cm.yaml").write_text(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-{sha[:4]}}}\n")
        return Checkout(path=path, revision=sha, resolved=revision)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def app(name: str, path: str = "a", repo: str = "https://git.example.com/fleet.git",
        **source: Any) -> Application:
    return Application.model_validate({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {"project": "default", "destination": {"namespace": "web"},
                 "source": {"repoURL": repo, "path": path, "targetRevision": "main",
                            **source}}})


def sources(tmp_path: Path, resync: float = 60.0) -> tuple[AppSources, FakeGit, Clock]:
    git, clock = FakeGit(tmp_path), Clock()
    return AppSources(git, lambda _ns: [], resync=resync, clock=clock), git, clock


class TestSharedPolls:
    def test_apps_due_together_share_one_answer(self, tmp_path: Path) -> None:
        shared, git, _clock = sources(tmp_path)
        targets = [shared.target(f"apps/{i}", app(f"a{i}", path=f"p{i}"), "apps", NOW)
                   for i in range(50)]
        assert {t.revision for t in targets} == {SHA_1}
        assert all(t.polled for t in targets)
        assert len(git.calls) == 1
        assert (shared.polls.asked, shared.polls.shared) == (1, 49)

    def test_an_answer_older_than_the_share_window_is_not_used(self, tmp_path: Path) -> None:
        shared, git, clock = sources(tmp_path)
        shared.target("apps/a", app("a"), "apps", NOW)
        git.heads["main"] = SHA_2
        clock.now += 4.9
        assert shared.target("apps/b", app("b"), "apps", NOW).revision == SHA_1
        clock.now += 0.2  # 5.1 s after Git was asked
        assert shared.target("apps/c", app("c"), "apps", NOW).revision == SHA_2
        assert len(git.calls) == 2

    def test_the_window_is_at_most_a_quarter_of_the_resync(self, tmp_path: Path) -> None:
        shared, git, clock = sources(tmp_path, resync=2.0)
        shared.target("apps/a", app("a"), "apps", NOW)
        clock.now += 0.6
        shared.target("apps/b", app("b"), "apps", NOW)
        assert len(git.calls) == 2

    def test_a_refresh_takes_only_an_answer_asked_after_it(self, tmp_path: Path) -> None:
        shared, git, clock = sources(tmp_path)
        shared.target("apps/a", app("a"), "apps", NOW)
        git.heads["main"] = SHA_2  # pushed; the webhook says so
        clock.now += 0.5
        shared.request_refresh("apps/b")
        assert shared.target("apps/b", app("b"), "apps", NOW).revision == SHA_2
        # The annotation refresh too; and a third app due now shares that newer answer.
        clock.now += 0.1
        assert shared.target("apps/c", app("c"), "apps", NOW).revision == SHA_2
        assert len(git.calls) == 2
        shared.target("apps/d", app("d"), "apps", NOW, refresh=True)
        assert len(git.calls) == 3

    def test_other_revisions_repositories_or_credentials_are_asked_apart(
            self, tmp_path: Path) -> None:
        shared, git, _ = sources(tmp_path)
        shared.target("apps/a", app("a"), "apps", NOW)
        shared.target("apps/b", app("b", targetRevision="release"), "apps", NOW)
        shared.target("apps/c", app("c", repo="https://git.example.com/other.git"), "apps",
                      NOW)
        shared.secrets = lambda _ns: [{
            "metadata": {"labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": {"url": "https://git.example.com/fleet.git", "password": "t"}}]
        shared.target("apps/d", app("d"), "apps", NOW)
        assert len(git.calls) == 4
        # Spellings of one repository share: case of the host, `.git`, a trailing slash.
        shared.secrets = lambda _ns: []
        shared.target("apps/e", app("e", repo="https://GIT.example.com/fleet/"), "apps", NOW)
        assert len(git.calls) == 4

    def test_an_error_is_shared_too_and_retried_after_the_window(self, tmp_path: Path
                                                                 ) -> None:
        shared, git, clock = sources(tmp_path)
        git.fail = "cannot list refs"
        first = shared.target("apps/a", app("a"), "apps", NOW)
        second = shared.target("apps/b", app("b"), "apps", NOW)
        assert (first.error, second.error) == ("cannot list refs", "cannot list refs")
        assert len(git.calls) == 1
        git.fail = None
        clock.now += 6
        assert shared.target("apps/c", app("c"), "apps", NOW).revision == SHA_1

    def test_concurrent_callers_wait_for_one_answer(self) -> None:
        polls, release = SharedPolls(), threading.Event()
        asked: list[int] = []

        def ask() -> tuple[str | None, str | None]:
            asked.append(1)
            release.wait(5)
            return SHA_1, None

        results: list[str | None] = []
        threads = [threading.Thread(target=lambda: results.append(
            polls.answer("k", 0.0, ask).revision)) for _ in range(8)]
        for thread in threads:
            thread.start()
        release.set()
        for thread in threads:
            thread.join(5)
        assert results == [SHA_1] * 8 and len(asked) == 1


class TestRenderCache:
    def test_a_directory_render_is_shared_by_apps_of_one_path(self, tmp_path: Path) -> None:
        shared, git, _ = sources(tmp_path)
        one = shared.render(app("one"), app_name="one", app_namespace="apps", revision=SHA_1)
        two = shared.render(app("two"), app_name="two", app_namespace="apps", revision=SHA_1)
        assert one is two and [o["metadata"]["name"] for o in one.objects] == ["a-1111"]
        other = shared.render(app("three", path="b"), app_name="three", app_namespace="apps",
                              revision=SHA_1)
        assert [o["metadata"]["name"] for o in other.objects] == ["b-1111"]
        assert len(git.calls) == 2

    def test_a_new_commit_renders_again(self, tmp_path: Path) -> None:
        shared, _git, _ = sources(tmp_path)
        shared.render(app("one"), app_name="one", app_namespace="apps", revision=SHA_1)
        again = shared.render(app("one"), app_name="one", app_namespace="apps", revision=SHA_2)
        assert [o["metadata"]["name"] for o in again.objects] == ["a-2222"]

    def test_a_thousand_apps_stay_cached(self, tmp_path: Path) -> None:
        shared, git, _ = sources(tmp_path)
        for _ in range(2):
            for i in range(1000):
                shared.render(app(f"x{i}", path="a", directory={"include": f"{i}*"}),
                              app_name=f"x{i}", app_namespace="apps", revision=SHA_1)
        assert len(git.calls) == 1000


class TestTrackedIndex:
    def test_objects_are_found_by_the_app_their_annotation_names(self) -> None:
        registry = WatchRegistry(None, lambda *_: None)  # type: ignore[arg-type]
        watch = WatchRegistry.key(CONFIG_MAP, "web")
        index = registry._indexer(watch)
        mine = with_tracking({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "a", "namespace": "web"}}, "shop")
        theirs = with_tracking({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "b", "namespace": "web"}}, "other")
        copied = {**theirs, "metadata": {**theirs["metadata"], "name": "c"}}  # id names b
        for obj in (mine, theirs, copied):
            index("ADDED", obj, None)
        assert registry.tracked("shop", {watch}) == [mine]
        assert registry.tracked("other", {watch}) == [theirs]  # not the copy
        assert registry.tracked("shop", set()) == []
        moved = with_tracking({**mine, "metadata": {"name": "a", "namespace": "web"}}, "other")
        index("MODIFIED", moved, mine)
        assert registry.tracked("shop", {watch}) == []
        index("DELETED", moved, moved)
        assert registry.tracked("other", {watch}) == [theirs]
