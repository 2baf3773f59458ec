"""Credentials of private repositories, from Secrets as Argo CD keeps them.

A Secret labelled `argocd.argoproj.io/secret-type: repository` (one repository) or
`repo-creds` (a credential template for every repository under a URL prefix) holds

    url: https://git.example.com/shop          # the repository, or the prefix
    username: deploy                            # https: username + password (or a token)
    password: <token>
    sshPrivateKey: |                            # ssh: a private key instead
      -----BEGIN OPENSSH PRIVATE KEY-----

An Application's `repoURL` takes the credentials of the Secret whose `url` is the longest
prefix of it (compared without a trailing `/` or `.git`, case-insensitively): an exact
`repository` Secret therefore wins over a broader `repo-creds` template. The controller
reads these Secrets from its namespace (`-n`) through a label-selected watch; without
`-n`, from the Application's own namespace. Pure; neighbour: `reconciler.source`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from reconciler.source import Credentials, redact_url

__all__ = ["REPO_SECRET_SELECTOR", "SECRET_TYPE_LABEL", "credentials_for", "normalize_url"]

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
REPO_SECRET_SELECTOR = f"{SECRET_TYPE_LABEL} in (repository,repo-creds)"


def normalize_url(url: str) -> str:
    """`url` for comparison: no credentials, lower case, no trailing `/` or `.git`."""
    clean = redact_url(url.strip()).lower().rstrip("/")
    return clean.removesuffix(".git").rstrip("/")


def _field(secret: dict[str, Any], name: str) -> str | None:
    raw = (secret.get("data") or {}).get(name)
    if raw is None:
        plain = (secret.get("stringData") or {}).get(name)
        return str(plain) if plain is not None else None
    try:
        return base64.b64decode(str(raw)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def credentials_for(repo_url: str, secrets: Iterable[dict[str, Any]]) -> Credentials | None:
    """The credentials of the best-matching repository Secret (None: no Secret matches)."""
    wanted = normalize_url(repo_url)
    best: tuple[int, dict[str, Any]] | None = None
    for secret in secrets:
        labels = (secret.get("metadata") or {}).get("labels") or {}
        if labels.get(SECRET_TYPE_LABEL) not in ("repository", "repo-creds"):
            continue
        url = _field(secret, "url")
        if not url:
            continue
        prefix = normalize_url(url)
        if not wanted.startswith(prefix):
            continue
        if best is None or len(prefix) > best[0]:
            best = (len(prefix), secret)
    if best is None:
        return None
    secret = best[1]
    username, password = _field(secret, "username"), _field(secret, "password")
    key = _field(secret, "sshPrivateKey")
    if not (username or password or key):
        return None
    return Credentials(username=username, password=password, ssh_private_key=key)
