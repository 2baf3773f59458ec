"""Credentials never go to a look-alike host or path (review finding H3).

A `repository` Secret matches its repository exactly; a `repo-creds` template matches by
scheme, host, port and whole path segments. Most look-alikes below were matched by the
old raw string-prefix rule (`wanted.startswith(prefix)`), which handed the credentials to
whoever serves them; the others guard the parser (`@` tricks, `..`, a leading `-`).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from reconciler.repo_creds import credentials_for, normalize_url


def secret(url: str, kind: str, password: str = "s3cret-token") -> dict[str, Any]:
    data = {"url": url, "username": "deploy", "password": password}
    return {"metadata": {"name": "s", "labels": {"argocd.argoproj.io/secret-type": kind}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


@pytest.mark.parametrize(("configured", "kind", "hostile"), [
    ("https://git.example.com", "repo-creds", "https://git.example.com.evil.net/x"),
    ("https://git.example.com", "repo-creds", "https://git.example.community/x"),
    ("https://git.example.com", "repo-creds", "https://git.example.com:8443/x"),
    ("https://git.example.com", "repo-creds", "http://git.example.com/x"),
    ("https://git.example.com", "repo-creds", "ssh://git@git.example.com/x"),
    ("https://git.example.com", "repo-creds", "https://git.example.com@evil.net/x"),
    ("https://h.example/acme", "repo-creds", "https://h.example/acme-evil/app"),
    ("https://h.example/acme", "repo-creds", "https://h.example/acmeapp"),
    ("https://h.example/acme", "repo-creds", "https://h.example/acme/../victim/app"),
    ("https://h.example/acme", "repo-creds", "https://h.example/acme/%2e%2e/victim"),
    ("git@github.com:acme", "repo-creds", "git@github.com:acme-evil/app"),
    ("git@github.com:acme", "repo-creds", "github.com:x@evil.net:acme/app"),
    ("git@github.com:acme", "repo-creds", "ssh://git@github.com.evil.net/acme/app"),
    ("https://github.com/acme/app", "repository", "https://github.com/acme/app-evil-fork"),
    ("https://github.com/acme/app", "repository", "https://github.com/acme/app/sub"),
    ("https://github.com/acme", "repository", "https://github.com/acme/app"),
    ("https://github.com/acme/app", "repository", "https://github.com.evil.net/acme/app"),
    ("https://github.com/acme/app", "repository", "-uhttps://github.com/acme/app"),
])
def test_look_alike_urls_get_no_credentials(configured: str, kind: str, hostile: str) -> None:
    assert credentials_for(hostile, [secret(configured, kind)]) is None


@pytest.mark.parametrize(("configured", "kind", "wanted"), [
    ("https://h.example/acme", "repo-creds", "https://h.example/acme/app"),
    ("https://h.example/acme/", "repo-creds", "https://h.example/acme/team/app.git"),
    ("https://H.Example:443/acme", "repo-creds", "https://h.example/acme/app"),
    ("https://h.example", "repo-creds", "https://h.example/anything"),
    ("git@github.com:acme", "repo-creds", "ssh://git@github.com/acme/app.git"),
    ("ssh://git@github.com:22/acme", "repo-creds", "git@github.com:acme/app"),
    ("https://github.com/acme/app.git", "repository", "https://GitHub.com/acme/app/"),
    ("https://github.com/Acme/App", "repository", "https://github.com/acme/app.git"),
    ("git://127.0.0.1:9418/apps", "repository", "git://127.0.0.1/apps"),
])
def test_the_same_repository_in_other_spellings_matches(configured: str, kind: str,
                                                        wanted: str) -> None:
    found = credentials_for(wanted, [secret(configured, kind)])
    assert found is not None and found.password == "s3cret-token"


def test_an_exact_repository_secret_wins_then_the_longest_template() -> None:
    secrets = [secret("https://h.example", "repo-creds", "host-wide"),
               secret("https://h.example/acme", "repo-creds", "acme-wide"),
               secret("https://h.example/acme/app", "repository", "app-only")]
    assert _password("https://h.example/acme/app.git", secrets) == "app-only"
    assert _password("https://h.example/acme/api", secrets) == "acme-wide"
    assert _password("https://h.example/other/api", secrets) == "host-wide"
    assert _password("https://h.example/acme-evil/api", secrets) == "host-wide"
    # A template listed before the exact Secret does not shadow it.
    assert _password("https://h.example/acme/app", list(reversed(secrets))) == "app-only"


def test_a_secret_with_an_unparseable_or_local_url_matches_nothing() -> None:
    for configured in ("", "not a url", "/srv/git", "file:///srv/git", "ext::sh -c x"):
        assert credentials_for("https://h.example/acme/app",
                               [secret(configured, "repo-creds")]) is None


def test_normalized_urls_name_scheme_host_port_and_segments() -> None:
    assert normalize_url("git@GitHub.com:acme/app.git") == "ssh://github.com/acme/app"
    assert normalize_url("https://u:pw@H.example:443/a//b/") == "https://h.example/a/b"
    assert normalize_url("https://h.example:8443/a") == "https://h.example:8443/a"


def _password(url: str, secrets: list[dict[str, Any]]) -> str | None:
    found = credentials_for(url, secrets)
    return found.password if found is not None else None
