"""Notification templates: what a notification says, per service (pure but for rendering).

As in the ConfigMap (fields of notifications-engine)::

    template.app-sync-succeeded: |
      message: Application {{.app.metadata.name}} has been successfully synced.
      webhook:
        ops-hook:                      # the webhook service's name
          method: POST                 # default GET, as Argo
          path: /apps/{{.app.metadata.name}}
          body: '{"app": "{{.app.metadata.name}}"}'
      slack:
        attachments: '[{"title": "{{.app.metadata.name}}", "color": "#18be52"}]'
        blocks: '[...]'
        username: deploy-bot
        icon: ":rocket:"

Every string is a Go text/template, rendered by `rollouts.templating.go.render_go` with a
missing key printing `<no value>` (text/template's default, which Argo uses). Other
service sections (`email`, `teams`, ...) are kept out and reported as unsupported, never
rendered. A notification built from several templates takes each field from the last
template that sets it (notifications-engine renders them in order into one).

The data a template sees is what Argo gives it: Applications `app`, `context`, `secrets`
(the notification Secret's keys), Rollouts `rollout`; both `serviceType` (the
destination's service name, as Argo fills it) and `recipient`.

Neighbours: `config` parses with `parse_template`; the controller renders with
`render_notification` and hands the result to `delivery`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollouts.templating.go import render_go

__all__ = [
    "Notification",
    "Renderer",
    "SlackParts",
    "TemplateSpec",
    "WebhookParts",
    "go_renderer",
    "parse_template",
    "render_notification",
]

Renderer = Callable[[str, Mapping[str, Any], str], str]
"""`render(source, data, name) -> text`, raising ValueError (TemplateError) on failure."""

@dataclass(frozen=True)
class WebhookParts:
    method: str = ""
    path: str = ""
    body: str = ""


@dataclass(frozen=True)
class SlackParts:
    attachments: str = ""
    blocks: str = ""
    username: str = ""
    icon: str = ""


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    message: str = ""
    webhook: Mapping[str, WebhookParts] = field(default_factory=dict)
    slack: SlackParts | None = None
    ignored: tuple[str, ...] = ()
    """Service sections we do not send to (`email`, `teams`, ...)."""


@dataclass(frozen=True)
class Notification:
    message: str = ""
    webhook: Mapping[str, WebhookParts] = field(default_factory=dict)
    slack: SlackParts | None = None


def _text(section: Mapping[str, Any], key: str, where: str) -> str:
    value = section.get(key)
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if not isinstance(value, str):
        raise ValueError(f"{where}{key} must be a string (quote JSON as a YAML string)")
    return value


def parse_template(name: str, value: Any) -> TemplateSpec:
    """The template `name` from its YAML value; ValueError naming the wrong field."""
    if not isinstance(value, dict):
        raise ValueError("must be a YAML map (message, webhook, slack)")
    webhooks: dict[str, WebhookParts] = {}
    section = value.get("webhook") or {}
    if not isinstance(section, dict):
        raise ValueError("webhook must map service names to {method, path, body}")
    for service, parts in section.items():
        if not isinstance(parts, dict):
            raise ValueError(f"webhook.{service} must be a map of method, path, body")
        where = f"webhook.{service}."
        webhooks[str(service)] = WebhookParts(
            method=_text(parts, "method", where).upper(), path=_text(parts, "path", where),
            body=_text(parts, "body", where))
    slack = None
    if value.get("slack") is not None:
        raw = value["slack"]
        if not isinstance(raw, dict):
            raise ValueError("slack must be a map (attachments, blocks, ...)")
        slack = SlackParts(attachments=_text(raw, "attachments", "slack."),
                           blocks=_text(raw, "blocks", "slack."),
                           username=_text(raw, "username", "slack."),
                           icon=_text(raw, "icon", "slack."))
    ignored = tuple(sorted(str(k) for k in value if k not in ("message", "webhook", "slack")))
    return TemplateSpec(name=name, message=_text(value, "message", ""), webhook=webhooks,
                        slack=slack, ignored=ignored)


def render_notification(templates: Sequence[TemplateSpec], data: Mapping[str, Any],
                        render: Renderer) -> Notification:
    """One notification from `templates` in order; ValueError (the renderer's
    `TemplateError`) names the template and field that failed."""
    message = ""
    webhook: dict[str, WebhookParts] = {}
    slack: SlackParts | None = None

    def run(source: str, template: str, part: str) -> str:
        if not source:
            return ""
        try:
            return render(source, data, f"{template}.{part}")
        except ValueError as problem:
            raise ValueError(f"template {template} {part}: {problem}") from None

    for template in templates:
        if template.message:
            message = run(template.message, template.name, "message")
        for service, parts in template.webhook.items():
            webhook[service] = WebhookParts(
                method=parts.method,
                path=run(parts.path, template.name, f"webhook.{service}.path"),
                body=run(parts.body, template.name, f"webhook.{service}.body"))
        if template.slack is not None:
            section = template.slack
            slack = SlackParts(
                attachments=run(section.attachments, template.name, "slack.attachments"),
                blocks=run(section.blocks, template.name, "slack.blocks"),
                username=run(section.username, template.name, "slack.username"),
                icon=run(section.icon, template.name, "slack.icon"))
    return Notification(message=message, webhook=webhook, slack=slack)


def go_renderer() -> Renderer:
    """The project's Go text/template engine as a `Renderer` (missing keys print
    `<no value>`, as Argo's templates do)."""
    def render(source: str, data: Mapping[str, Any], name: str) -> str:
        return str(render_go(source, dict(data), name=name, missing_key_error=False))

    return render
