"""`POST /api/webhook`: Git push notifications that make Applications look at Git at once.

Without a webhook an Application sees a new commit at its next poll (`--app-resync`);
with one, the push is noticed in a moment. Two payloads are understood, as Argo CD does:

- GitHub: `X-GitHub-Event: push`, signed `X-Hub-Signature-256: sha256=<HMAC-SHA256 of
  the body with the secret>` (the older `X-Hub-Signature: sha1=...` is accepted too);
- GitLab: `X-Gitlab-Event: Push Hook` (or `Tag Push Hook`), `X-Gitlab-Token: <secret>`.

With a secret configured (`--webhook-secret`, `ROLLOUTS_WEBHOOK_SECRET`), a missing or
wrong signature is refused with 401 and triggers nothing; without one every request is
accepted (Argo CD's behaviour; the controller logs a warning at start). Other events
(`ping`, issues, ...) are acknowledged and ignored.

An Application is refreshed when its `repoURL` names one of the payload's repository URLs
(`normalize_repo`: scheme, user, port, `.git` and case do not matter, `git@host:org/r`
equals `https://host/org/r`) and its `targetRevision` names the pushed ref: the branch or
tag itself, `refs/...` in full, or `HEAD`/empty for a push to the default branch (any
branch when the payload does not say which is the default). A commit sha never matches:
it cannot move.

`verify`, `parse_push`, `normalize_repo` and `source_matches` are pure; `WebhookServer`
is a small stdlib HTTP server thread on 127.0.0.1 (by default) that calls `on_push` and
answers with the keys it refreshed. Neighbour: `reconciler.controller` (owns the server).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "MAX_BODY",
    "PushEvent",
    "WebhookError",
    "WebhookServer",
    "normalize_repo",
    "parse_push",
    "source_matches",
    "verify",
]

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024
"""GitHub caps payloads at 25 MB; anything larger is refused (413)."""
PATH = "/api/webhook"

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


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


def verify(headers: Mapping[str, str], body: bytes, secret: str | None) -> str:
    """The provider (`github`, `gitlab`) of a request whose signature holds.

    Raises `WebhookError(400)` for a request from neither, `WebhookError(401)` when a
    secret is configured and the request is not signed with it.
    """
    lowered = _lower(headers)
    if "x-github-event" in lowered:
        if secret:
            _verify_github(lowered, body, secret)
        return "github"
    if "x-gitlab-event" in lowered:
        if secret and not hmac.compare_digest(lowered.get("x-gitlab-token", "").encode(),
                                              secret.encode()):
            raise WebhookError(401, "the X-Gitlab-Token header does not match the secret")
        return "gitlab"
    raise WebhookError(400, "not a GitHub or GitLab webhook (no X-GitHub-Event or "
                            "X-Gitlab-Event header)")


def _verify_github(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    for header, algorithm in (("x-hub-signature-256", "sha256"), ("x-hub-signature", "sha1")):
        signature = headers.get(header)
        if signature is None:
            continue
        expected = f"{algorithm}=" + hmac.new(secret.encode(), body, algorithm).hexdigest()
        if hmac.compare_digest(signature.strip().encode(), expected.encode()):
            return
        raise WebhookError(401, f"the {header} signature does not match the secret")
    raise WebhookError(401, "the request is not signed (no X-Hub-Signature-256 header)")


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


OnPush = Callable[[PushEvent], list[str]]


class WebhookServer:
    """`POST /api/webhook` on `host:port` (0: any free port) in a thread."""

    def __init__(self, on_push: OnPush, *, secret: str | None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.on_push = on_push
        self.secret = secret or None
        self.host = host
        self.requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def listen(self) -> None:
        """Take the port now (an `OSError` says it is in use); `start` serves it."""
        if self._server is None:
            self._server = ThreadingHTTPServer((self.host, self.requested_port),
                                               self._handler())
            self._server.daemon_threads = True

    def start(self) -> None:
        if self._thread is not None:
            return
        self.listen()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="webhook-server", daemon=True)
        self._thread.start()
        if not self.secret:
            log.warning("webhook: no secret configured; every request to %s is accepted "
                        "(set --webhook-secret or ROLLOUTS_WEBHOOK_SECRET)", PATH)
        log.info("serving the Git webhook on http://%s:%d%s", self.host, self.port, PATH)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
            server.server_close()
        self._thread = None

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """The answer to one request: (status, JSON body). Also used by tests directly."""
        try:
            provider = verify(headers, body, self.secret)
            event = parse_push(provider, headers, body)
        except WebhookError as error:
            log.warning("webhook refused (%d): %s", error.status, error)
            return error.status, {"error": str(error)}
        if event is None:
            return 200, {"ignored": "not a push event"}
        refreshed = self.on_push(event)
        log.info("webhook: %s push to %s refreshed %s", provider, event.ref,
                 ", ".join(refreshed) or "no application")
        return 200, {"refreshed": refreshed}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "rollouts-webhook"

            def log_message(self, format: str, *args: object) -> None:
                log.debug("webhook: " + format, *args)

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0].rstrip("/") != PATH:
                    self._answer(404, {"error": f"not found; POST to {PATH}"})
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0 or length > MAX_BODY:
                    self._answer(413 if length > 0 else 400, {"error": "bad Content-Length"})
                    return
                body = self.rfile.read(length) if length else b""
                status, payload = owner.handle(dict(self.headers.items()), body)
                self._answer(status, payload)

            def do_GET(self) -> None:
                self._answer(405, {"error": f"use POST {PATH}"})

        return Handler
