"""Hostile repoURLs and the Git source's housekeeping, as pure logic (findings H4, L1, L2,
L3, M7, M8, M9 of the security review). The same inputs against real git and real
servers: tests/integration/test_reconciler_hostile_git.py.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.source_cache import (
    KeyedLocks,
    NetworkSlots,
    SlotBusy,
    collect,
    remove_partial_fetch,
)
from reconciler.source_git import git_environment
from reconciler.source_secrets import Credentials, git_auth, split_url_credentials
from reconciler.source_url import RepoURLProblem, parse_repo_url
from rollouts.api import Severity, check_object


class TestRepoURLAllowlist:
    @pytest.mark.parametrize("url", [
        "https://github.com/acme/app.git", "http://127.0.0.1:8080/apps",
        "ssh://git@github.com:2222/acme/app", "git://127.0.0.1:9418/apps",
        "git@github.com:acme/app.git", "github.com:acme/app", "git+ssh://git@h/acme/app",
        "https://[::1]:8443/apps",
    ])
    def test_network_urls_are_accepted(self, url: str) -> None:
        assert not parse_repo_url(url).is_local

    @pytest.mark.parametrize(("url", "why"), [
        ("file:///home/u/.cache/rollouts/git/repos/0123456789abcdef", "is a local path"),
        ("/home/u/.cache/rollouts/git/repos/0123456789abcdef", "is a local path"),
        ("../repos/0123456789abcdef", "is a local path"),
        ("./repo:with-colon", "is a local path"),
        ("repos", "is a local path"),
        ("-u touch /tmp/pwned", "starts with '-'"),
        ("--upload-pack=touch /tmp/pwned", "starts with '-'"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace or control"),
        ("ext::sh", "remote helper"),
        ("fd::3", "remote helper"),
        ("ftp://h/repo", "uses the scheme 'ftp'"),
        ("https://h/repo\n", "whitespace or control"),
        ("https://a@b@evil.net/repo", "more than one '@'"),
        ("evil.net:x@github.com:acme/app", "ambiguous"),
        ("https://h/acme/../victim", "'..'"),
        ("https://h/repo?x=1", "query or fragment"),
        ("https://h:99999/repo", "invalid port"),
        ("https:///repo", "no valid host"),
    ])
    def test_everything_else_is_refused_in_one_line(self, url: str, why: str) -> None:
        with pytest.raises(RepoURLProblem) as caught:
            parse_repo_url(url)
        message = str(caught.value)
        assert why in message
        assert "\n" not in message

    def test_the_local_refusal_says_how_to_permit_it(self) -> None:
        with pytest.raises(RepoURLProblem) as caught:
            parse_repo_url("file:///srv/git/apps")
        assert str(caught.value) == (
            "repoURL 'file:///srv/git/apps' is a local path: reading the controller's own "
            "disk is refused; set --allow-local-repos on the controller to permit it")

    def test_allow_local_permits_absolute_paths_and_file_urls_only(self) -> None:
        assert parse_repo_url("/srv/git/apps", allow_local=True).is_local
        assert parse_repo_url("file:///srv/git/apps", allow_local=True).is_local
        with pytest.raises(RepoURLProblem, match="relative"):
            parse_repo_url("srv/git/apps", allow_local=True)
        with pytest.raises(RepoURLProblem, match="another host"):
            parse_repo_url("file://evil.net/srv/git/apps", allow_local=True)

    def test_every_spelling_of_one_repository_has_one_cache_key(self) -> None:
        spellings = ["https://GitHub.com/acme/app", "https://github.com/acme/app.git",
                     "https://github.com:443/acme/app/", "https://u:pw@github.com/acme/app",
                     "https://github.com//acme/app.git/"]
        assert len({parse_repo_url(url).cache_key() for url in spellings}) == 1
        ssh = ["git@github.com:acme/app.git", "ssh://git@github.com:22/acme/app"]
        assert len({parse_repo_url(url).cache_key() for url in ssh}) == 1
        assert parse_repo_url("https://github.com/Acme/app").cache_key() != \
            parse_repo_url("https://github.com/acme/app").cache_key()  # servers may differ

    def test_per_host_key_spells_out_the_default_port(self) -> None:
        assert parse_repo_url("https://H.example/a").authority == "h.example:443"
        assert parse_repo_url("git@h.example:a").authority == "h.example:22"


class TestStaticCheck:
    @staticmethod
    def repo_url_problem(url: str) -> str | None:
        doc: dict[str, Any] = {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web"},
            "spec": {"source": {"repoURL": url, "path": "."},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": "web"}},
        }
        for problem in check_object(doc).problems:
            if problem.path == "spec.source.repoURL":
                assert problem.severity is Severity.ERROR
                return problem.message
        return None

    def test_a_leading_dash_and_control_characters_are_errors(self) -> None:
        assert "starts with '-'" in (self.repo_url_problem("-uhttps://h/x") or "")
        assert "whitespace or control" in (self.repo_url_problem("https://h/x y") or "")
        assert "whitespace or control" in (self.repo_url_problem("https://h/x\x1b[2J") or "")
        assert self.repo_url_problem("https://h/x.git") is None
        assert self.repo_url_problem("git@h:x.git") is None


class TestPasswordsLeaveEveryURLForm:
    @pytest.mark.parametrize(("url", "clean", "password"), [
        ("https://bob:pw-1234@h/r.git", "https://h/r.git", "pw-1234"),
        ("http://tok-1234@h:8080/r", "http://h:8080/r", ""),
        ("ssh://git:pw-1234@h/r", "ssh://git@h/r", "pw-1234"),
        ("ssh://git:pw-1234@h:2222/r", "ssh://git@h:2222/r", "pw-1234"),
        ("git+ssh://git:pw-1234@h/r", "git+ssh://git@h/r", "pw-1234"),
        ("git://u:pw-1234@h/r", "git://u@h/r", "pw-1234"),
    ])
    def test_split(self, url: str, clean: str, password: str) -> None:
        got, creds = split_url_credentials(url)
        assert got == clean
        assert creds is not None and creds.password == password
        assert parse_repo_url(url).clean == clean
        assert "pw-1234" not in parse_repo_url(url).clean

    def test_ssh_user_without_password_is_kept_as_the_address(self) -> None:
        assert split_url_credentials("ssh://git@h/r") == ("ssh://git@h/r", None)
        assert split_url_credentials("git@h:r.git") == ("git@h:r.git", None)

    def test_scp_like_cannot_carry_a_password(self) -> None:
        with pytest.raises(RepoURLProblem):
            parse_repo_url("git:pw@h:r.git")


class TestMinimalEnvironment:
    def test_controller_variables_never_reach_git(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in ("ROLLOUTS_WEBHOOK_SECRET", "KUBECONFIG", "AWS_SECRET_ACCESS_KEY",
                     "GITHUB_TOKEN", "SSH_AUTH_SOCK", "GIT_SSL_NO_VERIFY", "GIT_CONFIG_GLOBAL"):
            monkeypatch.setenv(name, "marker-value")
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
        env = git_environment(tmp_path, extra={"GIT_ALLOW_PROTOCOL": "ext:file",
                                               "ROLLOUTS_GIT_USERNAME": "bob"})
        assert "marker-value" not in env.values()
        assert env["HTTPS_PROXY"] == "http://proxy:3128"  # how to reach the network stays
        assert env["HOME"] == str(tmp_path)
        assert env["GIT_ALLOW_PROTOCOL"] == "https:http:ssh:git"  # extras cannot widen it
        assert env["GIT_CONFIG_NOSYSTEM"] == "1"
        assert env["GIT_CONFIG_GLOBAL"] == os.devnull
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        assert env["ROLLOUTS_GIT_USERNAME"] == "bob"
        assert git_environment(tmp_path, allow_file=True)["GIT_ALLOW_PROTOCOL"].endswith(":file")

    def test_ssh_reads_no_user_config_keys_or_agent_and_pins_per_repository(
        self, tmp_path: Path
    ) -> None:
        pinned = tmp_path / "known_hosts" / "abc"
        with git_auth(None, tmp_path, known_hosts=pinned) as env:
            command = env["GIT_SSH_COMMAND"]
        for option in ("-F /dev/null", "IdentityFile=none", "IdentitiesOnly=yes",
                       "IdentityAgent=none", f"UserKnownHostsFile={pinned}"):
            assert option in command
        with git_auth(Credentials(ssh_private_key="k", ssh_known_hosts="h ssh-ed25519 AAAA"),
                      tmp_path, known_hosts=pinned) as env:
            assert "StrictHostKeyChecking=yes" in env["GIT_SSH_COMMAND"]
            assert str(pinned) not in env["GIT_SSH_COMMAND"]


class TestBoundedConcurrency:
    def test_per_host_and_global_bounds(self) -> None:
        slots = NetworkSlots(total=3, per_host=2)
        entered = threading.Barrier(4)
        release = threading.Event()

        def hold(authority: str) -> None:
            with slots.slot(authority, wait=5):
                entered.wait(timeout=5)
                release.wait(timeout=10)

        threads = [threading.Thread(target=hold, args=(a,)) for a in ("slow:1", "slow:1",
                                                                      "other:1")]
        for thread in threads:
            thread.start()
        entered.wait(timeout=5)
        with pytest.raises(SlotBusy, match="2 git operations against slow:1"), \
                slots.slot("slow:1", wait=0.1):
            pass
        with pytest.raises(SlotBusy, match="3 git operations are already running"), \
                slots.slot("third:1", wait=0.1):
            pass
        release.set()
        for thread in threads:
            thread.join(timeout=5)
        with slots.slot("slow:1", wait=1):
            pass
        assert slots.hosts_tracked() == 0  # idle hosts are forgotten

    def test_keyed_locks_are_forgotten_when_free(self) -> None:
        locks = KeyedLocks()
        for index in range(100):
            with locks.hold(f"repo-{index}", wait=1) as acquired:
                assert acquired
        assert len(locks) == 0
        with locks.hold("a", wait=1), locks.hold("a", wait=0) as second:
            assert second is False


class TestCacheGarbage:
    def test_partial_fetch_leftovers_are_removed(self, tmp_path: Path) -> None:
        bare = tmp_path / "repo"
        pack = bare / "objects" / "pack"
        pack.mkdir(parents=True)
        (bare / "refs" / "heads").mkdir(parents=True)
        leftovers = [pack / "tmp_pack_Ab12", pack / "tmp_idx_Ab12", pack / "pack-1.keep",
                     bare / "packed-refs.lock", bare / "refs" / "heads" / "main.lock",
                     bare / "shallow.lock"]
        kept = [pack / "pack-1.pack", pack / "pack-1.idx", bare / "packed-refs",
                bare / "refs" / "heads" / "main"]
        for path in [*leftovers, *kept]:
            path.write_text("x")
        remove_partial_fetch(bare, now=time.time())
        assert [p for p in leftovers if p.exists()] == []
        assert all(p.exists() for p in kept)

    def test_idle_clones_are_collected_unless_in_use(self, tmp_path: Path) -> None:
        repos = tmp_path / "repos"
        for name in ("idle", "busy", "fresh"):
            (repos / name / "objects").mkdir(parents=True)
            (repos / name / "rollouts-last-used").touch()
        now = time.time()
        day_ago = now - 25 * 3600
        for name in ("idle", "busy"):
            os.utime(repos / name / "rollouts-last-used", (day_ago, day_ago))
        locks = KeyedLocks()
        with locks.hold("busy", wait=1):
            removed = collect(repos, locks, now=now, idle=24 * 3600)
        assert [p.name for p in removed] == ["idle"]
        assert sorted(p.name for p in repos.iterdir()) == ["busy", "fresh"]
        assert [p.name for p in collect(repos, locks, now=now, idle=24 * 3600)] == ["busy"]
