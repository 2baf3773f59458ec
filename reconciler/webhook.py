"""`POST /api/webhook`: Git push notifications that make Applications look at Git at once.

Without a webhook an Application sees a new commit at its next poll (`--app-resync`);
with one, the push is noticed in a moment. What a request must look like (GitHub's
`X-Hub-Signature-256` HMAC, GitLab's `X-Gitlab-Token`; SHA-1 signatures are refused, as
Argo CD does) and which Applications a push refreshes is decided in
`reconciler.webhook_rules`; this module is the HTTP server around it.

A secret is required (`WebhookServer` raises `ValueError` without one): a missing or
wrong signature or token is refused with 401 and triggers nothing. Other events
(`ping`, issues, ...) are acknowledged and ignored once authenticated.

The endpoint may face the internet, so nothing about a request is trusted before it is
authenticated, and nothing it does is unbounded:

- the headers are checked first: an unknown sender is 400, a GitHub request without a
  well-formed `X-Hub-Signature-256` or a GitLab request with a wrong token is 401, a
  request without `Content-Length` (or chunked) is 411 and one over `max_body` (1 MiB)
  is 413, all **before** a byte of the body is read;
- the body is read under the server's socket timeout, and every connection has
  `timeout` (10 s) in all; at most `max_concurrent` (16) requests are handled at once,
  `max_per_client` (4) from one address, others get 503 at once (see
  `rollouts.runtime.httpserver`);
- replays: GitHub's HMAC covers only the body, so a captured request could be sent
  again forever. The last `replay_window` (1024) verified deliveries are remembered by
  their `X-GitHub-Delivery` id *and* by their signature (the id is not signed, so a
  replay with a fresh id is caught by the signature); a replay is acknowledged with 200
  and triggers nothing. GitLab's token is a plain shared value, not a signature: anyone
  who has it can forge any request, so there is nothing to deduplicate there beyond
  GitLab's own `X-Gitlab-Event-UUID`, which is remembered the same way.

`WebhookServer` serves in a thread on 127.0.0.1 (by default), calls `on_push` and
answers with the keys it refreshed. Neighbours: `reconciler.controller` (owns the
server), `reconciler.webhook_rules` (the decisions), `rollouts.runtime.httpserver`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from reconciler.webhook_rules import (
    PushEvent,
    WebhookError,
    check_headers,
    delivery_ids,
    normalize_repo,
    parse_push,
    source_matches,
    verify,
)
from rollouts.runtime import BoundedHTTPServer
from rollouts.runtime.httpserver import (
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_MAX_PER_CLIENT,
    DEFAULT_REQUEST_TIMEOUT,
)

__all__ = [
    "MAX_BODY",
    "REPLAY_WINDOW",
    "DeliveryLog",
    "PushEvent",
    "WebhookError",
    "WebhookServer",
    "check_headers",
    "delivery_ids",
    "normalize_repo",
    "parse_push",
    "source_matches",
    "verify",
]

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
"""Bytes of body accepted (1 MiB); larger is refused (413) before it is read. A push
whose payload is larger (thousands of commits) is seen at the next poll instead."""

REPLAY_WINDOW = 1024
"""Verified deliveries remembered to refuse replays (the most recent ones)."""

PATH = "/api/webhook"


class DeliveryLog:
    """The most recent `size` delivery ids, oldest forgotten first (thread-safe LRU)."""

    def __init__(self, size: int = REPLAY_WINDOW) -> None:
        if size < 1:
            raise ValueError(f"the replay window must hold >= 1 delivery, got {size}")
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, ids: tuple[str, ...]) -> bool:
        """Record `ids`; False if any of them was seen before (a replay)."""
        with self._lock:
            replay = any(i in self._seen for i in ids)
            for i in ids:
                self._seen[i] = None
                self._seen.move_to_end(i)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return not replay

    def forget(self, ids: tuple[str, ...]) -> None:
        """Unrecord `ids` (a delivery that failed may be delivered again)."""
        with self._lock:
            for i in ids:
                self._seen.pop(i, None)


OnPush = Callable[[PushEvent], list[str]]


class WebhookServer:
    """`POST /api/webhook` on `host:port` (0: any free port) in a thread.

    `secret` is required (a `ValueError` without one). Limits (see the module
    docstring): `max_body` bytes of body, `timeout` seconds per connection,
    `max_concurrent` requests at once (`max_per_client` from one address), the last
    `replay_window` deliveries remembered.
    """

    def __init__(self, on_push: OnPush, *, secret: str | None, host: str = "127.0.0.1",
                 port: int = 0, max_body: int = MAX_BODY,
                 timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT,
                 max_per_client: int = DEFAULT_MAX_PER_CLIENT,
                 replay_window: int = REPLAY_WINDOW) -> None:
        if not secret:
            raise ValueError("the Git webhook needs a secret: set --webhook-secret or "
                             "ROLLOUTS_WEBHOOK_SECRET (and the same secret in GitHub/GitLab)")
        if max_body < 1:
            raise ValueError(f"max_body must be >= 1 byte, got {max_body}")
        self.on_push = on_push
        self.secret: str = secret
        self.host = host
        self.requested_port = port
        self.max_body = max_body
        self.timeout = timeout
        self.max_concurrent = max_concurrent
        self.max_per_client = max_per_client
        self.deliveries = DeliveryLog(replay_window)
        self._server: BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def listen(self) -> None:
        """Take the port now (an `OSError` says it is in use); `start` serves it."""
        if self._server is None:
            self._server = BoundedHTTPServer(
                (self.host, self.requested_port), self._handler(), timeout=self.timeout,
                max_concurrent=self.max_concurrent, max_per_client=self.max_per_client)

    def start(self) -> None:
        if self._thread is not None:
            return
        self.listen()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="webhook-server", daemon=True)
        self._thread.start()
        log.info("serving the Git webhook on http://%s:%d%s", self.host, self.port, PATH)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
            server.server_close()
        self._thread = None

    def precheck(self, headers: Mapping[str, str], length: str | None) -> WebhookError | None:
        """Why a request is refused before its body is read, or None to read it."""
        try:
            size = int(length) if length is not None else None
        except ValueError:
            return WebhookError(400, f"Content-Length {length!r} is not a number")
        if size is None:
            return WebhookError(411, "a Content-Length header is required (chunked bodies "
                                     "are not accepted)")
        if size < 0:
            return WebhookError(400, f"Content-Length {size} is negative")
        if size > self.max_body:
            return WebhookError(413, f"the body of {size} bytes is over the limit of "
                                     f"{self.max_body} bytes")
        try:
            check_headers(headers, self.secret)
        except WebhookError as error:
            return error
        return None

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """The answer to one request: (status, JSON body). Also used by tests directly."""
        try:
            provider = verify(headers, body, self.secret)
        except WebhookError as error:
            return self._refused(error)
        ids = delivery_ids(provider, headers)
        if ids and not self.deliveries.first_time(ids):
            log.warning("webhook: ignored a replayed %s delivery (%s)", provider,
                        ", ".join(ids))
            return 200, {"ignored": "replayed delivery"}
        try:
            event = parse_push(provider, headers, body)
            if event is None:
                return 200, {"ignored": "not a push event"}
            refreshed = self.on_push(event)
        except WebhookError as error:
            return self._refused(error)
        except Exception as error:
            self.deliveries.forget(ids)  # a redelivery may succeed
            log.exception("webhook: handling a %s push failed", provider)
            return 500, {"error": f"handling the push failed: {error}"}
        log.info("webhook: %s push to %s refreshed %s", provider, event.ref,
                 ", ".join(refreshed) or "no application")
        return 200, {"refreshed": refreshed}

    @staticmethod
    def _refused(error: WebhookError) -> tuple[int, dict[str, Any]]:
        log.warning("webhook refused (%d): %s", error.status, error)
        return error.status, {"error": str(error)}

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
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0].rstrip("/") != PATH:
                    self._answer(404, {"error": f"not found; POST to {PATH}"})
                    return
                headers = dict(self.headers.items())
                refused = owner.precheck(headers, self.headers.get("Content-Length"))
                if refused is None and self.headers.get("Transfer-Encoding"):
                    refused = WebhookError(411, "chunked bodies are not accepted; send a "
                                                "Content-Length")
                if refused is not None:
                    self._answer(*owner._refused(refused))
                    return
                length = int(self.headers["Content-Length"])
                try:
                    body = self.rfile.read(length) if length else b""
                except (TimeoutError, OSError):
                    log.warning("webhook: the client did not send its body in time")
                    return  # the connection is gone or cut: nobody to answer
                if len(body) < length:
                    log.warning("webhook: the body ended after %d of %d bytes", len(body),
                                length)
                    return
                self._answer(*owner.handle(headers, body))

            def do_GET(self) -> None:
                self._answer(405, {"error": f"use POST {PATH}"})

        return Handler
