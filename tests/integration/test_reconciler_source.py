"""The Git source against real Git servers on 127.0.0.1 (git daemon, smart HTTP with auth).

No cluster is needed: these exercise clones, fetches, checkouts, revision resolution,
failure policy and credential hygiene with real git processes and real transports.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.render import render
from reconciler.source import Credentials, GitSource, SourceError
from rollouts.devcluster.versions import HELM, cache_dir
from tests.integration.gitserver import GitDaemon, GitHttpServer, TestRepo, free_port

GITOPS_APPS = Path(__file__).resolve().parents[2].parent / "shared/compat/gitops-apps"
MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  v: '{v}'\n"
TOKEN = "ghp_fakeToken1234567890"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    with GitDaemon(tmp_path) as server:
        yield server


@pytest.fixture
def repo(daemon: GitDaemon) -> TestRepo:
    return daemon.create_repo("apps", {"app/cm.yaml": MANIFEST.format(v=1)}, branch="trunk")


@pytest.fixture
def source(tmp_path: Path) -> GitSource:
    return GitSource(tmp_path / "cache", timeout=20)


def read(checkout_path: Path) -> str:
    return (checkout_path / "app" / "cm.yaml").read_text()


class TestRevisions:
    def test_head_follows_the_remotes_default_branch(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        checkout = source.fetch(daemon.url("apps"), "HEAD")
        assert checkout.revision == repo.head()
        assert checkout.resolved == "HEAD"
        assert "v: '1'" in read(checkout.path)

    def test_branch_tag_annotated_tag_full_and_short_sha(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        first = repo.head()
        repo.tag("v1")
        repo.tag("v1-annotated", annotated=True)
        repo.branch("release")
        second = repo.commit({"app/cm.yaml": MANIFEST.format(v=2)})
        url = daemon.url("apps")
        for revision, expected in [("trunk", second), ("release", first), ("v1", first),
                                   ("v1-annotated", first), (first, first),
                                   (first[:8], first), ("refs/heads/trunk", second)]:
            checkout = source.fetch(url, revision)
            assert (checkout.revision, checkout.resolved) == (expected, revision)
        assert "v: '1'" in read(source.fetch(url, "v1").path)
        assert "v: '2'" in read(source.fetch(url, "trunk").path)

    def test_an_unknown_revision_is_a_permanent_error_naming_it(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        for revision in ("no-such-branch", "deadbeef"):
            with pytest.raises(SourceError) as caught:
                source.fetch(daemon.url("apps"), revision)
            assert str(caught.value).startswith(
                f"revision '{revision}' not found in {daemon.url('apps')}: ")
            assert caught.value.temporary is False

    def test_an_unknown_repository_is_permanent(self, daemon: GitDaemon,
                                                source: GitSource) -> None:
        with pytest.raises(SourceError, match="no such repository") as caught:
            source.fetch(daemon.url("missing"), "HEAD")
        assert caught.value.temporary is False

    def test_a_moved_tag_and_a_deleted_branch_are_seen(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        url = daemon.url("apps")
        repo.tag("stable")
        repo.branch("feature")
        assert source.fetch(url, "stable").revision == repo.head()
        newer = repo.commit({"app/cm.yaml": MANIFEST.format(v=3)})
        repo.tag("stable", at=newer)
        assert source.fetch(url, "stable").revision == newer
        repo.delete_branch("feature")
        with pytest.raises(SourceError, match="revision 'feature' not found"):
            source.fetch(url, "feature")


class TestFetchingOnlyWhatChanged:
    def test_a_new_commit_is_seen_after_fetch_and_only_then(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        url = daemon.url("apps")
        first = source.fetch(url, "trunk")
        assert source.fetch_count == 1
        assert source.fetch(url, "trunk") == first  # nothing new: refs listed, no fetch
        assert source.fetch_count == 1
        assert source.ls_remote_count == 2

        second_sha = repo.commit({"app/cm.yaml": MANIFEST.format(v=2)})
        assert source.resolve(url, "trunk") == second_sha  # a cheap poll: refs only
        assert source.fetch_count == 1
        second = source.fetch(url, "trunk")
        assert second.revision == second_sha
        assert source.fetch_count == 2
        assert "v: '1'" in read(first.path)  # the old checkout is untouched
        assert "v: '2'" in read(second.path)

    def test_a_known_commit_needs_no_network_at_all(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        url = daemon.url("apps")
        sha = source.fetch(url, "trunk").revision
        calls = (source.fetch_count, source.ls_remote_count)
        daemon.stop()
        assert source.fetch(url, sha).revision == sha
        assert source.resolve(url, sha) == sha
        assert (source.fetch_count, source.ls_remote_count) == calls

    def test_checkouts_are_shared_read_only_and_pruned(
        self, daemon: GitDaemon, repo: TestRepo, tmp_path: Path
    ) -> None:
        source = GitSource(tmp_path / "cache", keep_checkouts=2, min_checkout_age=0)
        url = daemon.url("apps")
        paths = []
        for version in range(4):
            repo.commit({"app/cm.yaml": MANIFEST.format(v=version + 10)})
            paths.append(source.fetch(url, "trunk").path)
        assert [p.exists() for p in paths] == [False, False, True, True]
        assert not (paths[-1] / "app" / "cm.yaml").stat().st_mode & 0o222  # not writable
        assert source.fetch(url, "trunk").path == paths[-1]  # reused, not checked out again

    def test_concurrent_fetches_of_one_repository_are_serialized(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        url = daemon.url("apps")
        source.fetch(url, "trunk")
        newest = repo.commit({"app/cm.yaml": MANIFEST.format(v=5)})
        results: list[str] = []
        errors: list[BaseException] = []

        def fetch() -> None:
            try:
                results.append(source.fetch(url, "trunk").revision)
            except BaseException as error:  # collected and asserted below
                errors.append(error)

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert results == [newest] * 6
        assert source.fetch_count == 2  # the first fetch, then exactly one for the new commit

    def test_a_symlink_leading_out_of_the_repository_is_refused(
        self, daemon: GitDaemon, repo: TestRepo, source: GitSource
    ) -> None:
        (repo.path / "app" / "evil.yaml").symlink_to("/etc/passwd")
        repo.commit({}, "add a symlink")
        with pytest.raises(SourceError, match=r"symlink that points outside it: app/evil.yaml"):
            source.fetch(daemon.url("apps"), "trunk")


class TestUnreachable:
    def test_a_closed_port_fails_fast_and_temporarily(self, source: GitSource) -> None:
        started = time.monotonic()
        with pytest.raises(SourceError) as caught:
            source.fetch(f"git://127.0.0.1:{free_port()}/apps", "HEAD")
        assert caught.value.temporary is True
        assert time.monotonic() - started < 10

    def test_a_server_that_never_answers_times_out(self, tmp_path: Path) -> None:
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        try:
            source = GitSource(tmp_path / "cache", timeout=2)
            started = time.monotonic()
            with pytest.raises(SourceError, match="no answer within 2 s") as caught:
                source.fetch(f"git://127.0.0.1:{silent.getsockname()[1]}/apps", "HEAD")
            assert caught.value.temporary is True
            assert time.monotonic() - started < 15
        finally:
            silent.close()


class TestCredentials:
    @pytest.fixture
    def http(self, tmp_path: Path) -> Iterator[GitHttpServer]:
        with GitHttpServer(tmp_path, "bot", TOKEN) as server:
            server.create_repo("apps", {"app/cm.yaml": MANIFEST.format(v=1)})
            yield server

    def assert_no_secret_under(self, directory: Path) -> None:
        for path in directory.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert TOKEN.encode() not in path.read_bytes(), f"token found in {path}"

    def test_https_credentials_work_and_are_stored_nowhere(
        self, http: GitHttpServer, source: GitSource
    ) -> None:
        checkout = source.fetch(http.url("apps"), "main", Credentials("bot", TOKEN))
        assert "v: '1'" in read(checkout.path)
        [config] = (source.cache_dir / "repos").glob("*/config")
        assert http.url("apps") in config.read_text()
        self.assert_no_secret_under(source.cache_dir)

    def test_a_token_in_the_url_is_used_but_not_stored(
        self, http: GitHttpServer, source: GitSource
    ) -> None:
        url = http.url("apps").replace("http://", f"http://bot:{TOKEN}@")
        assert source.fetch(url, "main").revision
        self.assert_no_secret_under(source.cache_dir)

    def test_missing_or_wrong_credentials_say_so_without_the_secret(
        self, http: GitHttpServer, source: GitSource
    ) -> None:
        for credentials in (None, Credentials("bot", TOKEN + "-wrong")):
            with pytest.raises(SourceError) as caught:
                source.fetch(http.url("apps"), "main", credentials)
            message = str(caught.value)
            assert "check the credentials" in message
            assert TOKEN not in message
            assert caught.value.temporary is True  # credentials may be rotated

    def test_secrets_never_reach_errors_or_logs_when_the_server_is_down(
        self, source: GitSource, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level("DEBUG")
        url = f"https://bot:{TOKEN}@127.0.0.1:{free_port()}/org/apps.git"
        for credentials in (None, Credentials("bot", TOKEN)):
            with pytest.raises(SourceError) as caught:
                source.fetch(url, "main", credentials)
            assert TOKEN not in str(caught.value)
            assert "bot:" not in str(caught.value)
            assert caught.value.temporary is True
        assert TOKEN not in caplog.text
        self.assert_no_secret_under(source.cache_dir)


class TestRenderingFromGit:
    def test_every_compat_app_renders_from_a_fetched_checkout(
        self, daemon: GitDaemon, source: GitSource
    ) -> None:
        repo = daemon.create_repo("gitops")
        repo.copy_tree(GITOPS_APPS)
        checkout = source.fetch(daemon.url("gitops"), "main")
        counts = {}
        apps = ["guestbook", "kustomize-guestbook", "sync-waves", "pre-post-sync"]
        if HELM.built(cache_dir()) or shutil.which("helm"):
            apps.append("helm-guestbook")
        for app in apps:
            objects = render(checkout.path, {"repoURL": daemon.url("gitops"), "path": app},
                             app_name=app, namespace="default")
            counts[app] = len(objects)
        expected = {"guestbook": 2, "kustomize-guestbook": 2, "sync-waves": 7,
                    "pre-post-sync": 4, "helm-guestbook": 2}
        assert counts == {app: expected[app] for app in apps}
