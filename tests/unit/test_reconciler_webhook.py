"""The Git webhook: signatures, payloads, which Applications a push refreshes, the server."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from reconciler.webhook import (
    MAX_BODY,
    PushEvent,
    WebhookError,
    WebhookServer,
    normalize_repo,
    parse_push,
    source_matches,
    verify,
)

SECRET = "s3cret"


def github_body(ref: str = "refs/heads/main", default: str | None = "main") -> bytes:
    repository: dict[str, object] = {
        "html_url": "https://github.com/Org/Shop", "clone_url": "https://github.com/Org/Shop.git",
        "ssh_url": "git@github.com:Org/Shop.git"}
    if default:
        repository["default_branch"] = default
    return json.dumps({"ref": ref, "repository": repository}).encode()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={digest}"}


class TestSignatures:
    def test_a_correct_github_signature_is_accepted(self) -> None:
        body = github_body()
        assert verify(signed(body), body, SECRET) == "github"

    def test_header_names_are_case_insensitive(self) -> None:
        body = github_body()
        headers = {key.lower(): value for key, value in signed(body).items()}
        assert verify(headers, body, SECRET) == "github"

    def test_the_sha1_signature_alone_is_401_like_argo_cd(self) -> None:
        body = github_body()
        digest = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        headers = {"X-GitHub-Event": "push", "X-Hub-Signature": f"sha1={digest}"}
        with pytest.raises(WebhookError, match="SHA-1") as refused:
            verify(headers, body, SECRET)
        assert refused.value.status == 401

    @pytest.mark.parametrize("headers", [
        {"X-GitHub-Event": "push"},
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        signed(github_body(), "another secret"),
    ])
    def test_a_missing_or_wrong_github_signature_is_401(self, headers: dict[str, str]) -> None:
        with pytest.raises(WebhookError) as refused:
            verify(headers, github_body(), SECRET)
        assert refused.value.status == 401

    def test_a_tampered_body_fails_the_signature(self) -> None:
        with pytest.raises(WebhookError):
            verify(signed(github_body()), github_body(ref="refs/heads/evil"), SECRET)

    def test_gitlab_compares_its_token(self) -> None:
        assert verify({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}, b"{}",
                      SECRET) == "gitlab"
        with pytest.raises(WebhookError) as refused:
            verify({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "no"}, b"{}", SECRET)
        assert refused.value.status == 401

    def test_unknown_senders_are_400(self) -> None:
        with pytest.raises(WebhookError) as refused:
            verify({"User-Agent": "curl"}, b"{}", SECRET)
        assert refused.value.status == 400

    @pytest.mark.parametrize("secret", [None, ""])
    def test_a_server_without_a_secret_is_refused(self, secret: str | None) -> None:
        with pytest.raises(ValueError, match="needs a secret: set --webhook-secret"):
            WebhookServer(lambda event: [], secret=secret)


class TestPayloads:
    def test_a_github_push_names_its_urls_ref_and_default_branch(self) -> None:
        event = parse_push("github", {"X-GitHub-Event": "push"}, github_body())
        assert event == PushEvent("github", (
            "https://github.com/Org/Shop", "https://github.com/Org/Shop.git",
            "git@github.com:Org/Shop.git"), "refs/heads/main", "main")

    def test_a_gitlab_push_reads_project_and_repository(self) -> None:
        body = json.dumps({"ref": "refs/tags/v1", "project": {
            "web_url": "https://gitlab.com/org/shop", "default_branch": "trunk"},
            "repository": {"git_ssh_url": "git@gitlab.com:org/shop.git"}}).encode()
        event = parse_push("gitlab", {"X-Gitlab-Event": "Tag Push Hook"}, body)
        assert event is not None
        assert event.repo_urls == ("https://gitlab.com/org/shop", "git@gitlab.com:org/shop.git")
        assert (event.ref, event.default_branch) == ("refs/tags/v1", "trunk")

    def test_other_events_are_ignored(self) -> None:
        assert parse_push("github", {"X-GitHub-Event": "ping"}, b"{}") is None
        assert parse_push("gitlab", {"X-Gitlab-Event": "Issue Hook"}, b"{}") is None

    @pytest.mark.parametrize("body", [b"not json", b"[]", b'{"ref": "x"}'])
    def test_a_malformed_push_is_400(self, body: bytes) -> None:
        with pytest.raises(WebhookError) as refused:
            parse_push("github", {"X-GitHub-Event": "push"}, body)
        assert refused.value.status == 400


class TestMatching:
    @pytest.mark.parametrize("url", [
        "https://github.com/org/shop", "https://github.com/Org/Shop.git/",
        "git@github.com:org/shop.git", "ssh://git@github.com:22/org/shop",
        "http://user:token@github.com/org/shop", "GIT://github.com/org/shop",
    ])
    def test_spellings_of_one_repository_normalize_alike(self, url: str) -> None:
        assert normalize_repo(url) == "github.com/org/shop"

    def test_other_repositories_differ(self) -> None:
        assert normalize_repo("https://github.com/org/shop-api") != \
            normalize_repo("https://github.com/org/shop")

    def test_revisions_that_follow_the_pushed_ref(self) -> None:
        event = PushEvent("github", ("https://github.com/org/shop",), "refs/heads/main", "main")
        url = "git@github.com:org/shop.git"
        for revision in ("main", "HEAD", "", None, "refs/heads/main"):
            assert source_matches(url, revision, event), revision
        for revision in ("release", "v1", "a" * 40, "refs/heads/release"):
            assert not source_matches(url, revision, event), revision
        assert not source_matches("https://github.com/org/other", "main", event)

    def test_head_follows_any_branch_when_the_default_is_unknown(self) -> None:
        event = PushEvent("gitlab", ("https://gitlab.com/org/shop",), "refs/heads/dev")
        assert source_matches("https://gitlab.com/org/shop", "HEAD", event)
        assert not source_matches("https://gitlab.com/org/shop", "main", event)

    def test_a_tag_push_matches_a_tag_revision(self) -> None:
        event = PushEvent("github", ("https://github.com/org/shop",), "refs/tags/v2", "main")
        assert source_matches("https://github.com/org/shop", "v2", event)
        assert not source_matches("https://github.com/org/shop", "HEAD", event)


class TestServer:
    @pytest.fixture
    def server(self) -> Iterator[tuple[WebhookServer, list[PushEvent]]]:
        seen: list[PushEvent] = []

        def on_push(event: PushEvent) -> list[str]:
            seen.append(event)
            return ["shop/web"]

        server = WebhookServer(on_push, secret=SECRET, port=0)
        server.start()
        yield server, seen
        server.stop()

    def post(self, server: WebhookServer, body: bytes, headers: dict[str, str],
             path: str = "/api/webhook") -> tuple[int, object]:
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=body,
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def test_a_signed_push_refreshes_and_answers_with_the_keys(
            self, server: tuple[WebhookServer, list[PushEvent]]) -> None:
        body = github_body()
        assert self.post(server[0], body, signed(body)) == (200, {"refreshed": ["shop/web"]})
        assert [event.ref for event in server[1]] == ["refs/heads/main"]

    def test_a_bad_signature_is_401_and_triggers_nothing(
            self, server: tuple[WebhookServer, list[PushEvent]]) -> None:
        body = github_body()
        code, answer = self.post(server[0], body, signed(body, "wrong"))
        assert code == 401 and "signature" in str(answer)
        assert server[1] == []

    def test_other_paths_are_404_and_ping_is_acknowledged(
            self, server: tuple[WebhookServer, list[PushEvent]]) -> None:
        body = b"{}"
        assert self.post(server[0], body, signed(body), "/other")[0] == 404
        ping = {**signed(body), "X-GitHub-Event": "ping"}
        assert self.post(server[0], body, ping) == (200, {"ignored": "not a push event"})
        assert server[1] == []

    def test_an_oversized_body_is_refused_without_reading_it(
            self, server: tuple[WebhookServer, list[PushEvent]]) -> None:
        with socket.create_connection(("127.0.0.1", server[0].port), timeout=5) as conn:
            conn.sendall(f"POST /api/webhook HTTP/1.1\r\nHost: x\r\n"
                         f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
            assert conn.recv(100).startswith(b"HTTP/1.0 413")
        assert MAX_BODY == 1024 * 1024
        assert server[1] == []
