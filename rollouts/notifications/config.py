"""The notification settings: a ConfigMap and a Secret, in Argo's format (pure).

Two pairs, both read from the controller's control namespace:

- `argocd-notifications-cm` + `argocd-notifications-secret`: Applications (Argo CD);
- `argo-rollouts-notification-configmap` + `argo-rollouts-notification-secret`:
  Rollouts (Argo Rollouts), laid over the built-in triggers of `catalog`.

Keys of the ConfigMap (notifications-engine's)::

    service.webhook.<name>, service.slack[.<name>]   services (`services`)
    template.<name>                                  templates (`templates`)
    trigger.<name>                                   triggers (`triggers`)
    defaultTriggers, defaultTriggers.<service>       YAML lists of trigger names
    subscriptions                                    `subscriptions.parse_subscriptions`
    context                                          a YAML map, `.context` in templates

`$key` (letters, digits, `_`, `-`) in any string of a service's options is replaced by
that key of the Secret, as Argo does (a key the Secret lacks is a problem naming the
reference, not the value). Resolved values are only ever put into requests: `secrets`
lists them so every message can be passed through `redact` before it is logged or
recorded. `$secret:key` (another Secret) is an Argo CD setting for other ConfigMaps, not
for notifications, and is not supported here either.

Unlike Argo, where one bad key makes the whole ConfigMap unusable, a bad entry is one
line in `problems` naming the key, and every other entry still works. Template
references are checked too: a trigger sending a template that does not exist is a
problem of that trigger, which is then left out.

Neighbours: the controller builds a `NotificationConfig` with `parse_config` whenever
either object changes; `triggers`, `templates`, `services`, `subscriptions` parse the
parts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollouts.api.secret_data import secret_data
from rollouts.notifications.services import Service, parse_service
from rollouts.notifications.subscriptions import GlobalSubscription, parse_subscriptions
from rollouts.notifications.templates import TemplateSpec, parse_template
from rollouts.notifications.triggers import TriggerCondition, compile_trigger
from rollouts.notifications.yamltext import load
from rollouts.secret_forms import secret_forms

__all__ = [
    "APPLICATION_CONFIG",
    "REDACTED",
    "ROLLOUT_CONFIG",
    "ConfigNames",
    "NotificationConfig",
    "decode_secret",
    "parse_config",
    "redactor",
]

_SECRET_REF = re.compile(r"\$[\w-]+")
_MIN_SECRET_LENGTH = 4  # shorter values would mangle ordinary words when redacted
REDACTED = "******"


@dataclass(frozen=True)
class ConfigNames:
    config_map: str
    secret: str


APPLICATION_CONFIG = ConfigNames("argocd-notifications-cm", "argocd-notifications-secret")
ROLLOUT_CONFIG = ConfigNames("argo-rollouts-notification-configmap",
                             "argo-rollouts-notification-secret")


@dataclass(frozen=True)
class NotificationConfig:
    services: Mapping[str, Service] = field(default_factory=dict)
    templates: Mapping[str, TemplateSpec] = field(default_factory=dict)
    triggers: Mapping[str, tuple[TriggerCondition, ...]] = field(default_factory=dict)
    default_triggers: tuple[str, ...] = ()
    service_default_triggers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subscriptions: tuple[GlobalSubscription, ...] = ()
    context: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The Secret's keys (`.secrets` in Application templates)."""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Accepted, with parts left out (template sections for services we lack)."""


def decode_secret(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The Secret's `data` decoded (values that are not base64 or UTF-8 are skipped)."""
    return secret_data(secret).values


def _resolve(value: Any, secrets: Mapping[str, str], missing: set[str]) -> Any:
    if isinstance(value, str):
        def replace(found: re.Match[str]) -> str:
            key = found.group(0)[1:]
            if key in secrets:
                return secrets[key]
            missing.add(found.group(0))
            return found.group(0)
        return _SECRET_REF.sub(replace, value)
    if isinstance(value, list):
        return [_resolve(item, secrets, missing) for item in value]
    if isinstance(value, dict):
        return {k: _resolve(v, secrets, missing) for k, v in value.items()}
    return value


def _trigger(value: Any) -> tuple[TriggerCondition, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a YAML list of conditions ({when, send, oncePer})")
    conditions = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ValueError(f"[{index}] must be a map with send (and when)")
        send = entry.get("send")
        if (not isinstance(send, list) or not send
                or not all(isinstance(s, str) for s in send)):
            raise ValueError(f"[{index}].send must be a list of template names")
        texts = {}
        for key in ("when", "oncePer", "description"):
            text = entry.get(key, "")
            if text is not None and not isinstance(text, str | bool):
                raise ValueError(f"[{index}].{key} must be a string")
            texts[key] = "true" if text is True else "false" if text is False else (
                text or "")
        conditions.append(TriggerCondition(texts["when"], tuple(send), texts["oncePer"],
                                           texts["description"]))
    return tuple(conditions)


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a YAML list of trigger names")
    return tuple(value)


def _context(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("must be a YAML map of names to values")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def parse_config(data: Mapping[str, str], secrets: Mapping[str, str], *,
                 names: ConfigNames, variables: frozenset[str]) -> NotificationConfig:
    """The settings in `data` (ConfigMap data) with `secrets` (decoded Secret data).

    `variables` are the names trigger conditions may read (`triggers.APPLICATION_NAMES`
    or `ROLLOUT_NAMES`). Never raises: each unusable key is one line in `problems`."""
    problems: list[str] = []
    notes: list[str] = []
    services: dict[str, Service] = {}
    templates: dict[str, TemplateSpec] = {}
    triggers: dict[str, tuple[TriggerCondition, ...]] = {}
    service_defaults: dict[str, tuple[str, ...]] = {}
    default_triggers: tuple[str, ...] = ()
    subscriptions: tuple[GlobalSubscription, ...] = ()
    context: dict[str, str] = {}
    where = f"ConfigMap {names.config_map}"
    for key in sorted(data):
        text = data[key]
        parts = key.split(".")
        try:
            if key.startswith("service."):
                if len(parts) not in (2, 3) or not all(parts):
                    raise ValueError("expected service.<type> or service.<type>.<name>")
                service_type, name = parts[1], parts[-1]
                missing: set[str] = set()
                options = _resolve(load(text), secrets, missing)
                if missing:
                    raise ValueError(f"{', '.join(sorted(missing))} not found in Secret "
                                     f"{names.secret}")
                services[name] = parse_service(service_type, name, options)
            elif key.startswith("template."):
                name = key[len("template."):]
                template = parse_template(name, load(text))
                templates[name] = template
                if template.ignored:
                    notes.append(f"{where}: {key}: {', '.join(template.ignored)} not "
                                 "supported (only message, webhook, slack): left out")
            elif key.startswith("trigger."):
                name = key[len("trigger."):]
                conditions = _trigger(load(text))
                compile_trigger(conditions, variables)
                triggers[name] = conditions
            elif key == "defaultTriggers":
                default_triggers = _names(load(text))
            elif key.startswith("defaultTriggers."):
                service_defaults[key[len("defaultTriggers."):]] = _names(load(text))
            elif key == "subscriptions":
                subscriptions = parse_subscriptions(load(text))
            elif key == "context":
                context = _context(load(text))
        except ValueError as problem:
            problems.append(f"{where}: {key}: {problem}")
    for name, conditions in sorted(triggers.items()):
        unknown = sorted({t for c in conditions for t in c.send if t not in templates})
        if unknown:
            problems.append(f"{where}: trigger.{name}: sends template(s) "
                            f"{', '.join(unknown)}, which are not defined (add "
                            f"template.{unknown[0]})")
            del triggers[name]
    return NotificationConfig(
        services=services, templates=templates, triggers=triggers,
        default_triggers=default_triggers, service_default_triggers=service_defaults,
        subscriptions=subscriptions, context=context, secrets=dict(secrets),
        problems=tuple(problems), notes=tuple(notes))


def redactor(secrets: Mapping[str, str]) -> Callable[[str], str]:
    """A function masking every Secret value (of 4 characters or more) in a text, also
    URL-encoded or JSON-escaped (`rollouts.secret_forms`)."""
    values = sorted({form for v in secrets.values() if len(v) >= _MIN_SECRET_LENGTH
                     for form in secret_forms(v)}, key=len, reverse=True)

    def redact(text: str) -> str:
        for value in values:
            text = text.replace(value, REDACTED)
        return text

    return redact
