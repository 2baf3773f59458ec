"""The Git webhook's decisions: who sent a request, is it signed, what was pushed, and
which Applications follow the pushed ref. Pure functions, no I/O.

Two payloads are understood, as Argo CD does:

- GitHub: `X-GitHub-Event: push`, signed `X-Hub-Signature-256: sha256=<HMAC-SHA256 of
  the body with the secret>`. The SHA-1 `X-Hub-Signature` is **not** accepted: GitHub
  sends both headers, and Argo CD (go-playground/webhooks v6, which it uses) verifies
  only `X-Hub-Signature-256` too, so nothing that works with Argo CD loses by it;
- GitLab: `X-Gitlab-Event: Push Hook` (or `Tag Push Hook`), `X-Gitlab-Token: <secret>`.

`check_headers` judges a request on its headers alone (run before the body is read);
`verify` adds the body's HMAC; `delivery_ids` names a verified delivery so a replay is
recognised (GitHub's HMAC covers only the body: the unsigned `X-GitHub-Delivery` id and
the signature both identify it).

An Application is refreshed when its `repoURL` names one of the payload's repository URLs
(`normalize_repo`: scheme, user, port, `.git` and case do not matter, `git@host:org/r`
equals `https://host/org/r`) and its `targetRevision` names the pushed ref: the branch or
tag itself, `refs/...` in full, or `HEAD`/empty for a push to the default branch (any
branch when the payload does not say which is the default). A commit sha never matches:
it cannot move.

Neighbours: `reconciler.webhook` (the HTTP server, which re-exports these names) and
`reconciler.controller` (which calls `source_matches` for each Application).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "PushEvent",
    "WebhookError",
    "check_headers",
    "delivery_ids",
    "normalize_repo",
    "parse_push",
    "source_matches",
    "verify",
]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_GITHUB_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")

class WebhookError(Exception):
    """A request that is refused, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PushEvent:
    """A push: to which repository (its URLs) and which ref."""

    provider: str
    repo_urls: tuple[str, ...]
    ref: str
    """`refs/heads/main`, `refs/tags/v1`."""
    default_branch: str | None = None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def check_headers(headers: Mapping[str, str], secret: str) -> str:
    """The provider (`github`, `gitlab`) of a request, judged on its headers alone.

    Run before the body is read. Raises `WebhookError(400)` for a request from neither,
    `WebhookError(401)` for a GitHub request without a well-formed `X-Hub-Signature-256`
    or a GitLab request whose `X-Gitlab-Token` is not the secret.
    """
    lowered = _lower(headers)
    if "x-github-event" in lowered:
        signature = lowered.get("x-hub-signature-256")
        if signature is None:
            raise WebhookError(401, "the request is not signed (no X-Hub-Signature-256 "
                                    "header; the SHA-1 X-Hub-Signature is not accepted)")
        if not _GITHUB_SIGNATURE.fullmatch(signature.strip().lower()):
            raise WebhookError(401, "the X-Hub-Signature-256 header is not 'sha256=<hex>'")
        return "github"
    if "x-gitlab-event" in lowered:
        if not hmac.compare_digest(lowered.get("x-gitlab-token", "").encode(),
                                   secret.encode()):
            raise WebhookError(401, "the X-Gitlab-Token header does not match the secret")
        return "gitlab"
    raise WebhookError(400, "not a GitHub or GitLab webhook (no X-GitHub-Event or "
                            "X-Gitlab-Event header)")


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> str:
    """The provider (`github`, `gitlab`) of a request whose signature holds.

    `check_headers`, then (GitHub) the HMAC-SHA256 of the body. Raises `WebhookError(400)`
    for a request from neither provider, `WebhookError(401)` when it is not signed with
    the secret.
    """
    provider = check_headers(headers, secret)
    if provider == "github":
        signature = _lower(headers)["x-hub-signature-256"].strip().lower()
        expected = "sha256=" + hmac.new(secret.encode(), body, "sha256").hexdigest()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise WebhookError(401, "the X-Hub-Signature-256 signature does not match the "
                                    "secret")
    return provider


def delivery_ids(provider: str, headers: Mapping[str, str]) -> tuple[str, ...]:
    """What identifies a verified delivery, to recognise it when it comes again.

    GitHub: its `X-GitHub-Delivery` id and its body signature (the id is not signed: a
    replay may carry a new one, but not a new signature). GitLab: `X-Gitlab-Event-UUID`.
    """
    lowered = _lower(headers)
    ids: list[str] = []
    if provider == "github":
        ids.append("signature:" + lowered.get("x-hub-signature-256", "").strip().lower())
        if lowered.get("x-github-delivery", "").strip():
            ids.append("delivery:" + lowered["x-github-delivery"].strip())
    elif lowered.get("x-gitlab-event-uuid", "").strip():
        ids.append("gitlab:" + lowered["x-gitlab-event-uuid"].strip())
    return tuple(ids)


def parse_push(provider: str, headers: Mapping[str, str], body: bytes) -> PushEvent | None:
    """The push in a verified request; None when it is another kind of event."""
    lowered = _lower(headers)
    if provider == "github" and lowered.get("x-github-event", "").lower() != "push":
        return None
    if provider == "gitlab" and lowered.get("x-gitlab-event", "") not in ("Push Hook",
                                                                            "Tag Push Hook"):
        return None
    try:
        payload = json.loads(body or b"{}")
    except ValueError as error:
        raise WebhookError(400, f"the payload is not JSON: {error}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("ref"), str):
        raise WebhookError(400, "the push payload has no 'ref'")
    if provider == "github":
        repository = payload.get("repository") or {}
        sections = [repository]
        fields: tuple[str, ...] = ("html_url", "clone_url", "git_url", "ssh_url", "url", "svn_url")
        default = repository.get("default_branch") or repository.get("master_branch")
    else:
        project = payload.get("project") or {}
        sections = [project, payload.get("repository") or {}]
        fields = ("web_url", "git_http_url", "git_ssh_url", "http_url", "ssh_url", "url",
                  "homepage")
        default = project.get("default_branch")
    urls = tuple(dict.fromkeys(str(section[f]) for section in sections
                               if isinstance(section, dict)
                               for f in fields if isinstance(section.get(f), str)))
    if not urls:
        raise WebhookError(400, "the push payload names no repository URL")
    return PushEvent(provider, urls, payload["ref"], str(default) if default else None)


def normalize_repo(url: str) -> str:
    """`host/path` of a repository URL: lower case, no scheme, user, port or `.git`."""
    text = url.strip().lower()
    had_scheme = bool(_SCHEME.match(text))
    text = _SCHEME.sub("", text)
    host, slash, path = text.partition("/")
    if "@" in host:
        host = host.rpartition("@")[2]
    if not had_scheme and ":" in host and not host.split(":", 1)[1].isdigit():
        host, _, first = host.partition(":")  # scp-like git@host:org/repo
        path = f"{first}/{path}" if slash else first
        slash = "/"
    host = host.split(":", 1)[0]
    path = path.rstrip("/").removesuffix(".git").rstrip("/")
    return f"{host}{slash}{path}" if path else host


def source_matches(repo_url: str, target_revision: str | None, event: PushEvent) -> bool:
    """Whether an Application with this source should look at Git after `event`."""
    if normalize_repo(repo_url) not in {normalize_repo(url) for url in event.repo_urls}:
        return False
    revision = (target_revision or "HEAD").strip() or "HEAD"
    if revision == "HEAD":
        return event.default_branch is None or event.ref == f"refs/heads/{event.default_branch}"
    if revision.startswith("refs/"):
        return revision == event.ref
    return event.ref in (f"refs/heads/{revision}", f"refs/tags/{revision}")
