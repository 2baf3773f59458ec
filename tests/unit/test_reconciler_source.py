"""The Git source's pure parts: revision matching, redaction, credentials, error policy."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reconciler.source import Credentials, SourceError, redact_url
from reconciler.source_git import is_temporary, summarize_stderr
from reconciler.source_refs import (
    RemoteRefs,
    is_full_sha,
    looks_like_sha,
    match_revision,
    parse_ls_remote,
)
from reconciler.source_secrets import Redactor, git_auth, split_url_credentials

MAIN, TAG_OBJECT, TAGGED, RELEASE = "a" * 40, "b" * 40, "c" * 40, "d" * 40
LS_REMOTE = (
    f"ref: refs/heads/main\tHEAD\n{MAIN}\tHEAD\n{MAIN}\trefs/heads/main\n"
    f"{RELEASE}\trefs/heads/release\n{TAG_OBJECT}\trefs/tags/v1\n{TAGGED}\trefs/tags/v1^{{}}\n"
    f"{RELEASE}\trefs/tags/release\n"
)


class TestRevisionMatching:
    remote = parse_ls_remote(LS_REMOTE)

    def test_head_is_the_remote_default_branch(self) -> None:
        assert match_revision(self.remote, "HEAD") == ("refs/heads/main", MAIN)

    def test_a_branch(self) -> None:
        assert match_revision(self.remote, "main") == ("refs/heads/main", MAIN)

    def test_an_annotated_tag_resolves_to_its_commit_not_the_tag_object(self) -> None:
        assert match_revision(self.remote, "v1") == ("refs/tags/v1", TAGGED)

    def test_a_tag_wins_over_a_branch_of_the_same_name_as_in_git(self) -> None:
        assert match_revision(self.remote, "release") == ("refs/tags/release", RELEASE)

    def test_a_full_ref(self) -> None:
        assert match_revision(self.remote, "refs/heads/release") == ("refs/heads/release",
                                                                     RELEASE)
        assert match_revision(self.remote, "heads/main") == ("refs/heads/main", MAIN)

    def test_an_unknown_name_matches_nothing(self) -> None:
        assert match_revision(self.remote, "nope") is None
        assert match_revision(self.remote, MAIN[:7]) is None

    def test_head_without_symref_support(self) -> None:
        remote = RemoteRefs(refs={"refs/heads/main": MAIN, "HEAD": MAIN})
        assert match_revision(remote, "HEAD") == ("HEAD", MAIN)

    def test_an_empty_repository_has_no_head(self) -> None:
        assert match_revision(parse_ls_remote(""), "HEAD") is None

    @pytest.mark.parametrize(("revision", "full", "short"), [
        (MAIN, True, True), ("A" * 40, True, True), ("abc1234", False, True),
        ("abc", False, False), ("main", False, False), ("v1.0", False, False),
        ("f" * 64, True, True),
    ])
    def test_sha_shapes(self, revision: str, full: bool, short: bool) -> None:
        assert is_full_sha(revision) is full
        assert looks_like_sha(revision) is short


class TestRedaction:
    @pytest.mark.parametrize(("url", "clean"), [
        ("https://user:s3cret@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://ghp_token123@github.com/org/repo", "https://github.com/org/repo"),
        ("http://u:p@127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
        ("ssh://git:pw@host/repo", "ssh://git@host/repo"),
        ("ssh://git@host/repo", "ssh://git@host/repo"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("git://127.0.0.1:9418/repo", "git://127.0.0.1:9418/repo"),
    ])
    def test_urls_lose_their_secrets(self, url: str, clean: str) -> None:
        assert redact_url(url) == clean

    def test_urls_inside_text_are_redacted(self) -> None:
        text = "fatal: unable to access 'https://bob:hunter22@git.local/r/': 403"
        assert redact_url(text) == "fatal: unable to access 'https://git.local/r/': 403"

    def test_credentials_move_out_of_the_url(self) -> None:
        url, creds = split_url_credentials("https://bob:p%40ss@git.local/r.git")
        assert url == "https://git.local/r.git"
        assert creds == Credentials("bob", "p@ss")
        assert split_url_credentials("git://host/r") == ("git://host/r", None)

    def test_known_secrets_keys_and_auth_headers_are_scrubbed(self) -> None:
        creds = Credentials("bob", "hunter22-token")
        redact = Redactor(creds.secrets())
        key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
        text = (f"token hunter22-token and {key} and Authorization: Basic "
                f"{creds.secrets()[1]} and authorization: bearer abc.def")
        scrubbed = redact(text)
        for secret in ("hunter22-token", "AAAA", creds.secrets()[1], "abc.def"):
            assert secret not in scrubbed

    def test_credentials_never_show_their_secrets_in_repr(self) -> None:
        shown = repr(Credentials("bob", "hunter22", ssh_private_key="KEYDATA"))
        assert "bob" in shown
        assert "hunter22" not in shown
        assert "KEYDATA" not in shown


class TestGitAuthEnvironment:
    def test_https_credentials_travel_only_in_the_environment(self, tmp_path: Path) -> None:
        with git_auth(Credentials("bob", "hunter22"), tmp_path) as env:
            assert env["ROLLOUTS_GIT_USERNAME"] == "bob"
            assert env["ROLLOUTS_GIT_PASSWORD"] == "hunter22"
            assert env["GIT_TERMINAL_PROMPT"] == "0"
            assert (env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == ("credential.helper",
                                                                            "")
            helper = Path(env["GIT_ASKPASS"])
            assert "hunter22" not in helper.read_text()
            assert os.access(helper, os.X_OK)

    def test_the_askpass_helper_answers_from_the_environment(self, tmp_path: Path) -> None:
        import subprocess

        with git_auth(Credentials("bob", "hunter22"), tmp_path) as env:
            def ask(prompt: str) -> str:
                return subprocess.run([env["GIT_ASKPASS"], prompt], env=env, text=True,
                                      capture_output=True, check=True).stdout.strip()
            assert ask("Username for 'https://x': ") == "bob"
            assert ask("Password for 'https://bob@x': ") == "hunter22"

    def test_an_ssh_key_is_a_private_temporary_file(self, tmp_path: Path) -> None:
        creds = Credentials(ssh_private_key="-----BEGIN KEY-----\nabc\n-----END KEY-----")
        with git_auth(creds, tmp_path) as env:
            command = env["GIT_SSH_COMMAND"]
            key_file = Path(command.split(" -i ")[1].split()[0])
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            assert key_file.read_text().endswith("-----END KEY-----\n")
            assert "BatchMode=yes" in command
            assert "abc" not in command
        assert not key_file.exists()

    def test_known_hosts_make_host_checking_strict(self, tmp_path: Path) -> None:
        creds = Credentials(ssh_private_key="k", ssh_known_hosts="host ssh-ed25519 AAAA")
        with git_auth(creds, tmp_path) as env:
            assert "StrictHostKeyChecking=yes" in env["GIT_SSH_COMMAND"]
        with git_auth(None, tmp_path) as env:
            assert "StrictHostKeyChecking=accept-new" in env["GIT_SSH_COMMAND"]


class TestErrorPolicy:
    @pytest.mark.parametrize(("stderr", "temporary"), [
        ("fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection "
         "refused", True),
        ("fatal: unable to access 'https://x/': Could not resolve host: x", True),
        ("fatal: Authentication failed for 'https://x/'", True),
        ("fatal: the remote end hung up unexpectedly", True),
        ("fatal: remote error: no such repository: /missing", False),
        ("remote: Repository not found.\nfatal: repository 'https://x/' not found", False),
        ("fatal: couldn't find remote ref refs/heads/gone", False),
        ("fatal: 'x' does not appear to be a git repository", False),
    ])
    def test_network_and_auth_trouble_is_temporary_missing_things_are_not(
        self, stderr: str, temporary: bool
    ) -> None:
        assert is_temporary(stderr) is temporary

    def test_summary_keeps_git_complaint_and_its_detail_on_one_line(self) -> None:
        stderr = ("Cloning...\nhint: something\nfatal: unable to connect to h:\n"
                  "h[0: 1.2.3.4]: errno=Connection refused\n")
        assert summarize_stderr(stderr) == (
            "fatal: unable to connect to h: h[0: 1.2.3.4]: errno=Connection refused")
        assert summarize_stderr("") == "git gave no reason"

    def test_source_error_carries_its_policy(self) -> None:
        error = SourceError("revision 'x' not found in git://h/r: ...", temporary=False)
        assert str(error) == "revision 'x' not found in git://h/r: ..."
        assert error.temporary is False


class TestWithoutGit:
    def test_a_missing_git_binary_is_a_permanent_error_saying_what_to_install(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from reconciler import source_git
        from reconciler.source import GitSource

        monkeypatch.setattr(source_git, "GIT_EXECUTABLE", str(tmp_path / "no-git"))
        with pytest.raises(SourceError, match="git is not installed") as caught:
            GitSource(tmp_path / "cache").fetch("git://127.0.0.1:1/apps", "HEAD")
        assert caught.value.temporary is False
