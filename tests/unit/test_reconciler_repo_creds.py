"""Repository credentials from Argo CD-style Secrets: `repository` exactly, `repo-creds`
by URL prefix (look-alike hosts and paths: tests/unit/test_repo_creds_hostile.py)."""

from __future__ import annotations

import base64
from typing import Any

from reconciler.repo_creds import credentials_for, normalize_url


def secret(url: str, kind: str = "repository", **data: str) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in {"url": url, **data}.items()}
    return {"metadata": {"name": "s", "labels": {"argocd.argoproj.io/secret-type": kind}},
            "data": encoded}


def test_the_longest_matching_prefix_wins() -> None:
    secrets = [secret("https://git.example.com", "repo-creds", username="all", password="a"),
               secret("https://git.example.com/shop/web.git", username="web", password="w")]
    creds = credentials_for("https://git.example.com/shop/web", secrets)
    assert creds is not None and (creds.username, creds.password) == ("web", "w")
    other = credentials_for("https://git.example.com/shop/api.git", secrets)
    assert other is not None and other.username == "all"


def test_no_match_and_unlabelled_secrets_give_nothing() -> None:
    unlabelled = secret("https://git.example.com", username="u", password="p")
    unlabelled["metadata"]["labels"] = {}
    assert credentials_for("https://git.example.com/shop", [unlabelled]) is None
    assert credentials_for("https://elsewhere.com/shop",
                           [secret("https://git.example.com", password="p")]) is None


def test_ssh_keys_and_string_data_are_read() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    template = secret("git@host:org", "repo-creds", sshPrivateKey=key)
    by_key = credentials_for("git@host:org/repo", [template])
    assert by_key is not None and by_key.ssh_private_key == key
    plain = {"metadata": {"labels": {"argocd.argoproj.io/secret-type": "repo-creds"}},
             "stringData": {"url": "https://h", "password": "t0ken"}}
    creds = credentials_for("https://h/x", [plain])
    assert creds is not None and creds.password == "t0ken"


def test_urls_compare_without_case_trailing_slash_git_suffix_or_userinfo() -> None:
    assert normalize_url("https://user:pw@Git.Example.com/Shop.git/") == \
        "https://git.example.com/shop"
    assert "pw" not in repr(credentials_for("https://h/x", [secret("https://h", password="pw")]))
