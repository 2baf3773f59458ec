"""Credentials of private repositories, from Secrets as Argo CD keeps them.

A Secret labelled `argocd.argoproj.io/secret-type: repository` (one repository) or
`repo-creds` (a credential template for every repository under a URL prefix) holds

    url: https://git.example.com/shop          # the repository, or the prefix
    username: deploy                            # https: username + password (or a token)
    password: <token>
    sshPrivateKey: |                            # ssh: a private key instead
      -----BEGIN OPENSSH PRIVATE KEY-----

An Application's `repoURL` is matched the way Argo CD matches it, on parsed URLs
(`reconciler.source_url`), never on raw string prefixes: same scheme (scp-like
`git@host:path` is ssh), same host (any case), same port (the default one may be left
out), and a path compared by whole segments without `.git` or a trailing `/`. A
`repository` Secret applies to exactly its repository; a `repo-creds` template to every
repository at or below its URL (`https://h/acme` covers `https://h/acme/app`, never
`https://h/acme-evil` nor `https://h.evil.net/acme`), the longest one winning. A
`repository` Secret with credentials wins over any template. A Secret may also carry
`sshKnownHosts` (known_hosts lines): ssh then checks the host key strictly. The
controller reads these Secrets from its namespace (`-n`) through a label-selected watch;
without `-n`, from the Application's own namespace; `rollouts app diff` uses the same
function. Pure; neighbours: `reconciler.source`, `reconciler.source_url`.

Chart sources (`chart:`) take `helm_credentials_for` instead: the same Secrets, matched
the same way on URLs read by `reconciler.charts.urls` (an OCI address with or without
`oci://` is one repository), giving Argo CD's Helm fields (`username`, `password`,
`tlsClientCertData`, `tlsClientCertKey`, `insecure`, `enableOCI`,
`insecureOCIForceHttp`) as `HelmCredentials`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from reconciler.charts.creds import HelmCredentials
from reconciler.charts.urls import ChartURLProblem, chart_repository
from reconciler.source_secrets import Credentials
from reconciler.source_url import (
    MatchKey,
    RepoURL,
    RepoURLProblem,
    covers,
    parse_repo_url,
)
from rollouts.api.secret_data import SECRET_TYPE_LABEL, secret_data

__all__ = ["REPO_SECRET_SELECTOR", "SECRET_TYPE_LABEL", "credentials_for",
           "helm_credentials_for", "normalize_url"]

REPO_SECRET_SELECTOR = f"{SECRET_TYPE_LABEL} in (repository,repo-creds)"

_Found = TypeVar("_Found")


def normalize_url(url: str) -> str:
    """`url` as credentials compare it: `scheme://host[:port]/segments`, lower case, no
    credentials, `.git` or trailing `/` (a local or refused URL is only lower-cased)."""
    parsed = _parsed(url)
    if parsed is None:
        return url.strip().lower()
    scheme, host, port, segments = parsed.match_key()
    return f"{scheme}://{host}{f':{port}' if port is not None else ''}/{'/'.join(segments)}"


def _parsed(url: str) -> RepoURL | None:
    try:
        return parse_repo_url(url.strip())
    except RepoURLProblem:
        return None


def _field(secret: dict[str, Any], name: str) -> str | None:
    # A value that does not decode is as good as missing: no credentials from it.
    return secret_data(secret).values.get(name)


def credentials_for(repo_url: str, secrets: Iterable[dict[str, Any]]) -> Credentials | None:
    """The credentials for `repo_url`: its `repository` Secret (exact match), else the
    `repo-creds` template with the longest matching URL; None when nothing matches."""
    return _best_match(_git_key(repo_url), secrets, _git_key, _credentials)


def _git_key(url: str) -> MatchKey | None:
    parsed = _parsed(url)
    return parsed.match_key() if parsed is not None else None


def _best_match(wanted: MatchKey | None, secrets: Iterable[dict[str, Any]],
                key_of: Callable[[str], MatchKey | None],
                read: Callable[[dict[str, Any]], _Found | None]) -> _Found | None:
    """What `read` takes from the `repository` Secret whose URL (`key_of`) is `wanted`,
    else from the `repo-creds` template whose URL covers it with the most segments; None
    when `wanted` is None (a URL the source refuses anyway) or nothing matches."""
    if wanted is None:
        return None
    exact: _Found | None = None
    best: tuple[int, _Found] | None = None
    for secret in secrets:
        labels = (secret.get("metadata") or {}).get("labels") or {}
        kind = labels.get(SECRET_TYPE_LABEL)
        if kind not in ("repository", "repo-creds"):
            continue
        configured = key_of(_field(secret, "url") or "")
        found = read(secret)
        if configured is None or found is None:
            continue
        if kind == "repository" and configured == wanted:
            exact = found
        elif kind == "repo-creds" and covers(configured, wanted):
            depth = len(configured[3])
            if best is None or depth > best[0]:
                best = (depth, found)
    if exact is not None:
        return exact
    return best[1] if best is not None else None


def _credentials(secret: dict[str, Any]) -> Credentials | None:
    username, password = _field(secret, "username"), _field(secret, "password")
    key = _field(secret, "sshPrivateKey")
    if not (username or password or key):
        return None
    return Credentials(username=username, password=password, ssh_private_key=key,
                       ssh_known_hosts=_field(secret, "sshKnownHosts") or None)


def _chart_key(url: str) -> MatchKey | None:
    try:
        repo = chart_repository(url)
    except ChartURLProblem:
        return None
    scheme = repo.scheme if repo.kind == "http" else "oci"
    segments = tuple(s.lower() for s in repo.path.split("/") if s)
    return scheme, repo.host, repo.port, segments


def helm_credentials_for(repo_url: str, secrets: Iterable[dict[str, Any]]
                         ) -> HelmCredentials | None:
    """The Helm repository (or OCI registry) settings for a chart source's `repo_url`:
    its `repository` Secret, else the longest matching `repo-creds` template."""
    return _best_match(_chart_key(repo_url), secrets, _chart_key, _helm_settings)


def _flag(secret: dict[str, Any], name: str) -> bool:
    return (_field(secret, name) or "").strip().lower() == "true"


def _helm_settings(secret: dict[str, Any]) -> HelmCredentials | None:
    settings = HelmCredentials(
        username=_field(secret, "username") or None,
        password=_field(secret, "password") or None,
        tls_client_cert_data=_field(secret, "tlsClientCertData") or None,
        tls_client_cert_key=_field(secret, "tlsClientCertKey") or None,
        insecure=_flag(secret, "insecure"),
        enable_oci=_flag(secret, "enableOCI"),
        force_http=_flag(secret, "insecureOCIForceHttp"),
    )
    return None if settings == HelmCredentials() else settings
