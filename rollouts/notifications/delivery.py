"""Sending one rendered notification to one destination, over HTTP.

- `webhook`: the service's `url` (+ the template's `path` for this service), the
  template's `method` (default GET, as Argo) and `body` (default: the message), the
  service's `headers` and `basicAuth`. A 2xx answer is delivered.
- `slack` with `token`: `POST <apiURL>chat.postMessage` (Bearer token), JSON with
  `channel` (the recipient), `text`, `attachments`, `blocks`, `username`, icon; Slack
  answers 200 with `{"ok": false, "error": ...}` on failure, so `ok` decides.
- `slack` with `webhookURL`: `POST` the same JSON (channel only if a recipient is given)
  to the incoming webhook; a 2xx answer is delivered.

`build_request` is pure (tested without a network); `send` does the exchange through the
analysis providers' transport (`analysis.providers.transport.exchange`): one total
deadline (`TIMEOUT_SECONDS`), answers read up to `MAX_ANSWER_BYTES` (the rest is not
read: a 2xx is delivered whatever its size), same-origin
redirects only, and the egress policy (`--analysis-deny-networks`, by default no
link-local/cloud metadata addresses). Failures are `Outcome`s, never exceptions; their
reason never quotes the URL or the body (either may carry a secret).

Neighbours: the controller renders with `templates.render_notification` and calls
`send`; `retry.retryable_status` classifies HTTP answers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from analysis.providers.egress import EgressPolicy
from analysis.providers.transport import HttpRequest, TransportError, exchange
from rollouts.notifications.plan import Outcome
from rollouts.notifications.retry import retryable_status
from rollouts.notifications.services import Service, SlackService, WebhookService
from rollouts.notifications.subscriptions import Destination
from rollouts.notifications.templates import Notification

__all__ = ["MAX_ANSWER_BYTES", "TIMEOUT_SECONDS", "Prepared", "build_request", "send"]

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Prepared:
    """A request to send, and how to judge its answer (`slack_api`: by Slack's `ok`)."""

    request: HttpRequest
    slack_api: bool = False
    problem: str = field(default="")
    """Set when the notification cannot become a request (bad JSON in attachments...)."""


def _json_part(text: str, what: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as problem:
        raise ValueError(f"slack {what} is not valid JSON after rendering: {problem}") from None


def _slack_payload(notification: Notification, service: SlackService,
                   recipient: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": notification.message}
    if recipient:
        payload["channel"] = recipient
    parts = notification.slack
    username = (parts.username if parts and parts.username else "") or service.username
    icon = (parts.icon if parts and parts.icon else "") or service.icon
    if username:
        payload["username"] = username
    if icon:
        key = "icon_emoji" if icon.startswith(":") and icon.endswith(":") else "icon_url"
        payload[key] = icon
    if parts is not None:
        attachments = _json_part(parts.attachments, "attachments")
        blocks = _json_part(parts.blocks, "blocks")
        if attachments is not None:
            payload["attachments"] = attachments
        if blocks is not None:
            payload["blocks"] = blocks
    return payload


def build_request(notification: Notification, service: Service,
                  destination: Destination) -> Prepared:
    """The HTTP request that delivers `notification` to `destination` (pure)."""
    if isinstance(service, WebhookService):
        parts = notification.webhook.get(service.name)
        method = (parts.method if parts and parts.method else "") or "GET"
        body = parts.body if parts is not None else notification.message
        url = service.url
        if parts is not None and parts.path:
            url = url.rstrip("/") + "/" + parts.path.lstrip("/")
        headers = dict(service.headers)
        if service.basic_auth is not None:
            pair = f"{service.basic_auth[0]}:{service.basic_auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        data = body.encode("utf-8")
        request = HttpRequest(url=url, method=method, timeout=TIMEOUT_SECONDS,
                              insecure=service.insecure,
                              body=data if data or method not in ("GET", "HEAD") else None,
                              headers=headers)
        return Prepared(request)
    try:
        payload = _slack_payload(notification, service, destination.recipient)
    except ValueError as problem:
        return Prepared(HttpRequest(url=service.api_url), problem=str(problem))
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if service.webhook_url:
        url, slack_api = service.webhook_url, False
    else:
        url, slack_api = service.api_url + "chat.postMessage", True
        headers["Authorization"] = f"Bearer {service.token}"
    encoded = json.dumps(payload).encode("utf-8")
    return Prepared(HttpRequest(url=url, method="POST", timeout=TIMEOUT_SECONDS,
                                insecure=service.insecure, body=encoded, headers=headers),
                    slack_api=slack_api)


def send(notification: Notification, service: Service, destination: Destination,
         egress: EgressPolicy) -> Outcome:
    """Deliver, once; the outcome says whether a retry may help."""
    prepared = build_request(notification, service, destination)
    if prepared.problem:
        return Outcome(delivered=False, retryable=False, reason=prepared.problem)
    if prepared.request.body is not None and len(prepared.request.body) > _MAX_BODY_BYTES:
        return Outcome(delivered=False, retryable=False,
                       reason=f"the rendered body is over {_MAX_BODY_BYTES} bytes")
    try:
        answer = exchange(prepared.request, egress, max_bytes=MAX_ANSWER_BYTES, cut=True)
    except TransportError as problem:
        # Denied by the egress policy, redirected elsewhere: trying again changes nothing.
        return Outcome(delivered=False, retryable=not problem.permanent,
                       reason=f"{service.type} {service.name}: {problem.reason}")
    if not 200 <= answer.status < 300:
        return Outcome(delivered=False, retryable=retryable_status(answer.status),
                       reason=f"{service.type} {service.name}: answered HTTP {answer.status}")
    if prepared.slack_api:
        return _slack_verdict(answer.body, service.name)
    return Outcome(delivered=True)


def _slack_verdict(body: bytes, name: str) -> Outcome:
    try:
        answer = json.loads(body)
    except ValueError:
        return Outcome(delivered=False, retryable=True,
                       reason=f"slack {name}: the answer is not JSON")
    if isinstance(answer, dict) and answer.get("ok") is True:
        return Outcome(delivered=True)
    error = str(answer.get("error") if isinstance(answer, dict) else "")[:100]
    return Outcome(delivered=False, retryable=error in ("ratelimited", "internal_error",
                                                        "service_unavailable"),
                   reason=f"slack {name}: Slack refused the message ({error or 'no reason'})")
