"""The Git source against hostile repoURLs and hostile servers, with real git (review
findings H3, H4, L1, L2, L3, M7, M8, M9). Pure rules: tests/unit/test_source_hostile.py
and tests/unit/test_repo_creds_hostile.py.

Most tests need no cluster; the last one runs the controller on the shared control plane
and reads the condition an Application with a local repoURL gets.
"""

from __future__ import annotations

import base64
import os
import select
import socket
import stat
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.repo_creds import credentials_for
from reconciler.source import GitSource, SourceError
from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon, GitHttpServer, TestRepo
from tests.integration.reconciler_support import (
    app_status,
    application,
    apply,
    compat_repo,
    conditions_of,
    running_reconciler,
    wait_app,
)
from tests.integration.support import wait_for

MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  v: '1'\n"
TOKEN = "victim-token-0123456789"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    with GitDaemon(tmp_path / "daemon") as server:
        server.create_repo("apps", {"app/cm.yaml": MANIFEST})
        yield server


@pytest.fixture
def source(tmp_path: Path) -> GitSource:
    return GitSource(tmp_path / "cache", timeout=20)


def repo_secret(url: str, kind: str) -> dict[str, Any]:
    data = {"url": url, "username": "victim", "password": TOKEN}
    return {"metadata": {"name": "victim", "labels": {"argocd.argoproj.io/secret-type": kind}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


# -- H3: credentials never reach a look-alike server ---------------------------------------


class _PortServer(GitHttpServer):
    """A `GitHttpServer` on a port of our choosing (to build look-alike authorities)."""

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(root, "victim", TOKEN)
        self.wanted_port = port

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.wanted_port), self._handler())
        self.port = self.wanted_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()


def _look_alike_ports() -> tuple[int, int]:
    """A 4-digit port P and the 5-digit port 10*P + d, both free: under the old raw prefix
    rule `http://127.0.0.1:P` was a prefix of `http://127.0.0.1:P<d>/...`."""
    for base in range(2000, 6500, 37):
        for digit in range(10):
            pair = (base, base * 10 + digit)
            if all(_free(port) for port in pair):
                return pair
    pytest.skip("no free pair of look-alike ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_credentials_never_reach_a_look_alike_host_or_path(
        tmp_path: Path, source: GitSource) -> None:
    victim_port, evil_port = _look_alike_ports()
    with _PortServer(tmp_path / "victim", victim_port) as victim, \
            _PortServer(tmp_path / "evil", evil_port) as evil:
        victim.create_repo("acme/app", {"app/cm.yaml": MANIFEST})
        victim.create_repo("acme/app-evil", {"app/cm.yaml": MANIFEST})
        evil.create_repo("x", {"app/cm.yaml": MANIFEST})
        secrets = [repo_secret(f"http://127.0.0.1:{victim_port}", "repo-creds"),
                   repo_secret(victim.url("acme/app"), "repository")]
        own = victim.url("acme/app")
        assert source.fetch(own, "main", credentials_for(own, secrets)).revision
        assert victim.authorizations  # the victim's own repository gets them

        victim.authorizations.clear()
        hostile = evil.url("x")
        assert hostile.startswith(f"http://127.0.0.1:{victim_port}")  # the old bug's shape
        with pytest.raises(SourceError, match="check the credentials"):
            source.fetch(hostile, "main", credentials_for(hostile, secrets))
        assert evil.authorizations == []

        # Exact `repository` Secrets do not cover a look-alike path on the same server;
        # the host-wide template still does (it is for every path on that host).
        secrets = [repo_secret(victim.url("acme/app"), "repository")]
        sibling = victim.url("acme/app-evil")
        with pytest.raises(SourceError, match="check the credentials"):
            source.fetch(sibling, "main", credentials_for(sibling, secrets))
        assert victim.authorizations == []


# -- H4, L1: local paths, file://, option injection -----------------------------------------


def test_local_paths_file_urls_and_options_are_refused_before_git_runs(
        tmp_path: Path, daemon: GitDaemon, source: GitSource) -> None:
    source.fetch(daemon.url("apps"), "main")  # another tenant's clone is now in the cache
    [victim_clone] = (source.cache_dir / "repos").iterdir()
    marker = tmp_path / "pwned"
    counts = (source.fetch_count, source.ls_remote_count)
    hostile = {
        f"file://{victim_clone}": "is a local path",
        str(victim_clone): "is a local path",
        f"{victim_clone}/../{victim_clone.name}": "is a local path",
        os.path.relpath(victim_clone, Path.cwd()): "is a local path",
        f"--upload-pack=touch${{IFS}}{marker}": "starts with '-'",
        f"-u{marker}": "starts with '-'",
        f"ext::sh${{IFS}}-c${{IFS}}touch${{IFS}}{marker}": "remote helper",
    }
    for url, why in hostile.items():
        for call in (source.fetch, source.resolve):
            with pytest.raises(SourceError) as caught:
                call(url, "main")
            assert why in str(caught.value)
            assert caught.value.temporary is False
            assert "\n" not in str(caught.value)
    assert (source.fetch_count, source.ls_remote_count) == counts  # git never ran
    assert [p.name for p in (source.cache_dir / "repos").iterdir()] == [victim_clone.name]
    assert not marker.exists()
    with pytest.raises(SourceError) as caught:
        source.fetch(f"file://{victim_clone}", "main")
    assert str(caught.value).endswith("set --allow-local-repos on the controller to permit it")


def test_allow_local_permits_local_repositories(tmp_path: Path, daemon: GitDaemon) -> None:
    local = daemon.root / "apps"
    source = GitSource(tmp_path / "cache", allow_local=True)
    assert source.fetch(str(local), "main").revision == source.fetch(local.as_uri(),
                                                                       "main").revision


# -- M9, L2, L3: what git and ssh get -------------------------------------------------------


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `ssh` first on PATH that records its argv and environment, then fails."""
    bin_dir, dump = tmp_path / "bin", tmp_path / "ssh-dump"
    bin_dir.mkdir()
    script = bin_dir / "ssh"
    script.write_text(f'#!/bin/sh\n{{ printf "%s\\n" "$@"; echo ---; env; }} >> {dump}\n'
                      "echo 'fake ssh: connection refused' >&2\nexit 255\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ROLLOUTS_WEBHOOK_SECRET", "controller-only-marker")
    monkeypatch.setenv("KUBECONFIG", "/controller-only-marker/kubeconfig")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "controller-only-marker")
    return dump


def test_git_and_ssh_never_see_the_controllers_environment_or_url_passwords(
        fake_ssh: Path, source: GitSource) -> None:
    url = "ssh://git:ssh-url-password@127.0.0.1:2222/acme/app.git"
    with pytest.raises(SourceError) as caught:
        source.fetch(url, "main")
    assert "ssh-url-password" not in str(caught.value)
    recorded = fake_ssh.read_text()
    assert "controller-only-marker" not in recorded
    assert "ssh-url-password" not in recorded  # not in ssh's argv either
    assert f"HOME={source.cache_dir / 'home'}" in recorded
    assert "GIT_CONFIG_NOSYSTEM=1" in recorded
    assert "GIT_ALLOW_PROTOCOL=https:http:ssh:git" in recorded
    # One TOFU known_hosts per repository, never a file shared by every tenant.
    assert f"UserKnownHostsFile={source.cache_dir / 'known_hosts'}/" in recorded
    for path in source.cache_dir.rglob("*"):
        if path.is_file():
            assert b"ssh-url-password" not in path.read_bytes(), path


# -- M7: one clone per repository, garbage removed ------------------------------------------


def test_spellings_share_a_clone_and_idle_clones_are_collected(
        daemon: GitDaemon, source: GitSource) -> None:
    url = daemon.url("apps")
    first = source.fetch(url, "main").revision
    assert source.fetch(url + "/", "main").revision == first
    assert source.fetch(url.replace("127.0.0.1", "localhost"), "main").revision == first
    assert source.fetch(url.replace("127.0.0.1", "LocalHost") + "/", "main").revision == first
    clones = sorted((source.cache_dir / "repos").iterdir())
    assert len(clones) == 2  # 127.0.0.1 and localhost (any case, any trailing /)
    assert source.fetch_count == 2
    clone = next(p for p in clones if (p / "config").read_text().count("127.0.0.1"))

    # What a killed fetch leaves (a stale ref lock would fail every later fetch) is
    # removed before the next fetch, and after a failed one.
    leftovers = [clone / "objects" / "pack" / "tmp_pack_XyZ123", clone / "packed-refs.lock",
                 clone / "objects" / "pack" / "pack-dead.keep",
                 clone / "refs" / "heads" / "main.lock"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    newer = TestRepo(daemon.root / "apps").commit({"app/cm.yaml": MANIFEST.replace("1", "2")})
    assert source.fetch(url, "main").revision == newer
    assert [p for p in leftovers if p.exists()] == []

    assert source.gc(time.time()) == []  # used a moment ago
    assert sorted(source.gc(time.time() + source.clone_idle + 60)) == clones
    assert not clone.exists()
    assert source.fetch(url, "main").revision == newer  # cloned anew


# -- M8: a tarpit server costs bounded threads, others keep resolving -----------------------


class Tarpit:
    """Accepts connections and answers an HTTP response one byte at a time, forever; it
    records when each connection opened and when the client went away."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.open = 0
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def most_at_once(self, slack: float = 0.1) -> int:
        """The most connections open together (a client's close is seen within `slack`)."""
        with self._lock:
            spans = list(self.spans)
        return max((sum(1 for s, e in spans if s <= start < e - slack) for start, _ in spans),
                   default=0)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(connection, time.monotonic()),
                             daemon=True).start()

    def _drip(self, connection: socket.socket, opened: float) -> None:
        with self._lock:
            self.open += 1
        try:
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not self._stop.is_set():
                readable, _, _ = select.select([connection], [], [], 0.2)
                if readable and not connection.recv(65536):
                    break  # the client is gone (killed)
                connection.sendall(b"X")
        except OSError:
            pass
        finally:
            connection.close()
            with self._lock:
                self.open -= 1
                self.spans.append((opened, time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


def test_a_tarpit_server_costs_bounded_threads_and_others_still_resolve(
        tmp_path: Path, daemon: GitDaemon) -> None:
    source = GitSource(tmp_path / "cache", ls_remote_timeout=3, max_git_per_host=2,
                       max_network_git=3, slot_wait=30)
    tarpit = Tarpit()
    errors: list[str] = []

    def poll_tarpit(index: int) -> None:
        try:
            source.resolve(f"http://127.0.0.1:{tarpit.port}/repo-{index}", "main")
            errors.append("resolved?!")
        except SourceError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=poll_tarpit, args=(i,)) for i in range(5)]
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: tarpit.open >= 2, 10, "the tarpit to hold two connections")
        healthy = source.resolve(daemon.url("apps"), "main")
        still_stuck = tarpit.open
        for thread in threads:
            thread.join(timeout=60)
    finally:
        tarpit.close()
    assert healthy == TestRepo(daemon.root / "apps").head()
    assert still_stuck > 0  # ... while the tarpit still held its connections
    assert tarpit.most_at_once() <= 2  # never more than the per-host bound
    assert len(tarpit.spans) == 5  # every poll did reach it, two at a time
    assert len(errors) == 5
    assert all("no answer within 3 s" in e for e in errors), errors
    assert time.monotonic() - started < 60  # bounded: 5 polls, 2 at a time, 3 s each


# -- H4 on the control plane: the condition an Application gets ----------------------------


def test_the_controller_refuses_a_local_repo_url_in_a_condition(
        cluster: TestCluster, namespace: str, daemon: GitDaemon, tmp_path: Path) -> None:
    compat_repo(daemon, "guestbook", name="compat")
    with running_reconciler(cluster, namespace, tmp_path) as controller:
        apply(cluster, namespace, application("victim", daemon.url("compat"), "guestbook",
                                              namespace))
        wait_app(cluster, namespace, "victim", health=None)
        [clone] = (controller.tmp / "git-cache" / "repos").iterdir()
        apply(cluster, namespace, application("thief", f"file://{clone}", "guestbook",
                                              namespace))

        def refused() -> bool:
            message = conditions_of(app_status(cluster, namespace, "thief")).get(
                "ComparisonError", "")
            return "is a local path" in message

        wait_for(refused, 60, "the thief to get a condition",
                 lambda: app_status(cluster, namespace, "thief"))
        message = conditions_of(app_status(cluster, namespace, "thief"))["ComparisonError"]
        assert message == (f"repoURL 'file://{clone}' is a local path: reading the "
                           "controller's own disk is refused; set --allow-local-repos on "
                           "the controller to permit it")
        assert not app_status(cluster, namespace, "thief").get("resources")
        assert wait_app(cluster, namespace, "victim", health=None)  # still served
