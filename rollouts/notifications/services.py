"""Notification services as the ConfigMap declares them: `webhook` and `slack` (pure).

Keys and fields are Argo's (notifications-engine)::

    service.webhook.<name>: |
      url: https://hooks.example.com/deploys
      headers: [{name: Authorization, value: Bearer $webhook-token}]
      basicAuth: {username: bot, password: $webhook-password}
      insecureSkipVerify: false
      retryWaitMin: 1s          # Argo: 1s
      retryWaitMax: 5s          # Argo: 5s
      retryMax: 3               # Argo: 3
    service.slack: |            # or service.slack.<name>
      token: $slack-token       # chat.postMessage with a bot token (apiURL: its base)
      webhookURL: $slack-url    # ours: a Slack-compatible incoming webhook URL instead
      username: deploy-bot
      icon: ":rocket:"

`$key` in any string is replaced by the key's value from the notification Secret (the
replacement happens in `config`, before this module sees the values). `webhookURL` is not
Argo's: Argo's Slack service only speaks the Web API with a token, and suggests a
`webhook` service for incoming webhooks; ours accepts either so a Slack-compatible
receiver (Mattermost, Rocket.Chat, a test server) works with `service.slack`.
Durations accept Go's spellings (`500ms`, `1s`, `2m`) and plain numbers of seconds.

Neighbours: `config.parse_config` calls `parse_service`; `delivery` sends with the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rollouts.notifications.retry import RetryPolicy

__all__ = [
    "DEFAULT_SLACK_API",
    "SUPPORTED_SERVICE_TYPES",
    "Service",
    "SlackService",
    "WebhookService",
    "parse_service",
]

SUPPORTED_SERVICE_TYPES = ("webhook", "slack")
DEFAULT_SLACK_API = "https://slack.com/api/"
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)(ms|s|m|h))+\s*$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MAX_WAIT_SECONDS = 3600.0
_MAX_RETRIES = 20


@dataclass(frozen=True)
class WebhookService:
    name: str
    url: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    insecure: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def type(self) -> str:
        return "webhook"


@dataclass(frozen=True)
class SlackService:
    name: str
    token: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_SLACK_API
    username: str = ""
    icon: str = ""
    insecure: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def type(self) -> str:
        return "slack"


Service = WebhookService | SlackService


def _duration(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a duration such as 1s, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value):
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))
    else:
        raise ValueError(f"{what} must be a duration such as 1s or 500ms, got {value!r}")
    if not 0 <= seconds <= _MAX_WAIT_SECONDS:
        raise ValueError(f"{what} must be between 0 and {_MAX_WAIT_SECONDS:g}s")
    return seconds


def _retry(options: dict[str, Any]) -> RetryPolicy:
    default = RetryPolicy()
    wait_min = _duration(options.get("retryWaitMin") or default.wait_min, "retryWaitMin")
    wait_max = _duration(options.get("retryWaitMax") or default.wait_max, "retryWaitMax")
    retry_max = options.get("retryMax") or default.retry_max  # 0 means Argo's default too
    if isinstance(retry_max, bool) or not isinstance(retry_max, int) or not (
            0 <= retry_max <= _MAX_RETRIES):
        raise ValueError(f"retryMax must be an integer from 0 to {_MAX_RETRIES}")
    return RetryPolicy(wait_min=wait_min, wait_max=max(wait_min, wait_max),
                       retry_max=retry_max)


def _http_url(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is required (an http or https URL)")
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never quote the value: it may be a resolved secret (a Slack webhook URL is one).
        raise ValueError(f"{what} must be an http or https URL with a host")
    return text


def _string(options: dict[str, Any], key: str) -> str:
    value = options.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _webhook(name: str, options: dict[str, Any]) -> WebhookService:
    headers: list[tuple[str, str]] = []
    for index, header in enumerate(options.get("headers") or []):
        if not isinstance(header, dict) or not isinstance(header.get("name"), str):
            raise ValueError(f"headers[{index}] needs a name and a value")
        headers.append((header["name"], str(header.get("value") or "")))
    auth = options.get("basicAuth")
    basic: tuple[str, str] | None = None
    if auth is not None:
        if not isinstance(auth, dict):
            raise ValueError("basicAuth must have username and password")
        basic = (str(auth.get("username") or ""), str(auth.get("password") or ""))
    return WebhookService(name=name, url=_http_url(options.get("url"), "url"),
                          headers=tuple(headers), basic_auth=basic,
                          insecure=options.get("insecureSkipVerify") is True,
                          retry=_retry(options))


def _slack(name: str, options: dict[str, Any]) -> SlackService:
    token = _string(options, "token") or None
    webhook = options.get("webhookURL") or options.get("webhookUrl")
    if token is None and not webhook:
        raise ValueError("needs token (Slack Web API) or webhookURL (an incoming webhook)")
    api = _http_url(options.get("apiURL") or DEFAULT_SLACK_API, "apiURL")
    return SlackService(
        name=name, token=token,
        webhook_url=_http_url(webhook, "webhookURL") if webhook else None,
        api_url=api if api.endswith("/") else api + "/",
        username=_string(options, "username"), icon=_string(options, "icon"),
        insecure=options.get("insecureSkipVerify") is True, retry=_retry(options))


def parse_service(service_type: str, name: str, options: Any) -> Service:
    """The service `name` of `service_type` from its (secret-resolved) options;
    ValueError with a one-line reason (never quoting a value) when it is unusable."""
    if service_type not in SUPPORTED_SERVICE_TYPES:
        raise ValueError(f"service type {service_type!r} is not supported (supported: "
                         f"{', '.join(SUPPORTED_SERVICE_TYPES)})")
    if not isinstance(options, dict):
        raise ValueError("must be a YAML map of options")
    if service_type == "webhook":
        return _webhook(name, options)
    return _slack(name, options)
