"""Who is subscribed to which trigger: annotations and the `subscriptions` key (pure).

On the object, as notifications-engine reads them::

    notifications.argoproj.io/subscribe.on-sync-succeeded.slack: deploys;alerts
    notifications.argoproj.io/subscribe.on-rollout-aborted.ops-hook: ""
    notifications.argoproj.io/subscribe.slack: deploys      # every default trigger

The value is a `;`-separated list of recipients (a Slack channel; webhooks ignore it);
an empty value is one empty recipient. Without a trigger the service gets
`defaultTriggers.<service>` if configured, else `defaultTriggers`.

In the ConfigMap, subscriptions for every object whose labels match::

    subscriptions: |
      - recipients: [slack:deploys, ops-hook]      # service[:recipient]
        triggers: [on-sync-failed]                 # default: defaultTriggers
        selector: team=payments,tier in (web,api)  # default: every object

The selector is a Kubernetes label selector string (`k=v`, `k==v`, `k!=v`, `k in (a,b)`,
`k notin (a,b)`, `k`, `!k`, comma-separated, all must hold). Not supported: the
`notifications.argoproj.io/subscribe_yaml` annotation.

Neighbours: `config` parses the `subscriptions` key with `parse_subscriptions`; `plan`
asks `destinations(...)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SUBSCRIBE_PREFIX",
    "Destination",
    "GlobalSubscription",
    "Requirement",
    "annotation_destinations",
    "destinations",
    "parse_selector",
    "parse_subscriptions",
]

SUBSCRIBE_PREFIX = "notifications.argoproj.io/subscribe."
_MAX_RECIPIENTS = 100


@dataclass(frozen=True, order=True)
class Destination:
    service: str
    recipient: str = ""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "exists":
            return value is not None
        if self.operator == "!":
            return value is None
        if self.operator in ("=", "in"):
            return value is not None and value in self.values
        return value is None or value not in self.values  # != and notin


@dataclass(frozen=True)
class GlobalSubscription:
    recipients: tuple[Destination, ...]
    triggers: tuple[str, ...] = ()
    selector: tuple[Requirement, ...] = ()

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.selector)


_TERM = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<absent>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[\w.-]*)"
    r"|\s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?)\s*$")


def _split_terms(text: str) -> list[str]:
    """Commas separate terms, except inside `( )`."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return [term for term in terms if term.strip()]


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """A label selector string; ValueError naming the term that is not one."""
    requirements = []
    for term in _split_terms(text):
        found = _TERM.match(term)
        if found is None:
            raise ValueError(f"selector term {term.strip()!r} is not a label requirement")
        if found["absent"]:
            requirements.append(Requirement(found["absent"], "!"))
        elif found["op"]:
            operator = "!=" if found["op"] == "!=" else "="
            requirements.append(Requirement(found["key"], operator, (found["value"],)))
        elif found["setop"]:
            values = tuple(v.strip() for v in found["values"].split(",") if v.strip())
            requirements.append(Requirement(found["key"], found["setop"], values))
        else:
            requirements.append(Requirement(found["key"], "exists"))
    return tuple(requirements)


def _recipient(text: str) -> Destination:
    service, _, recipient = text.partition(":")
    return Destination(service.strip(), recipient.strip())


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


def parse_subscriptions(value: Any) -> tuple[GlobalSubscription, ...]:
    """The `subscriptions` key's list; ValueError naming the entry that is wrong."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("must be a list of {recipients, triggers, selector}")
    result = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ValueError(f"[{index}] must be a map with recipients")
        try:
            recipients = tuple(_recipient(r) for r in _strings(entry.get("recipients"),
                                                               "recipients"))
            if not recipients:
                raise ValueError("recipients is empty")
            triggers = _strings(entry.get("triggers"), "triggers")
            selector = entry.get("selector") or ""
            if not isinstance(selector, str):
                raise ValueError("selector must be a label selector string")
            result.append(GlobalSubscription(recipients, triggers, parse_selector(selector)))
        except ValueError as problem:
            raise ValueError(f"[{index}]: {problem}") from None
    return tuple(result)


def annotation_destinations(
    annotations: Mapping[str, str], default_triggers: Sequence[str],
    service_default_triggers: Mapping[str, Sequence[str]],
) -> dict[str, list[Destination]]:
    """Trigger -> destinations from `notifications.argoproj.io/subscribe.*` annotations."""
    found: dict[str, list[Destination]] = {}
    for key, value in sorted(annotations.items()):
        if not key.startswith(SUBSCRIBE_PREFIX):
            continue
        parts = key[len(SUBSCRIBE_PREFIX):].split(".")
        if len(parts) >= 2:
            triggers: Sequence[str] = [parts[0]]
            service = parts[1]
        else:
            service = parts[0]
            triggers = service_default_triggers.get(service, default_triggers)
        if not service:
            continue
        recipients = [""] if value == "" else [
            r.strip() for r in str(value).split(";") if r.strip()]
        for trigger in triggers:
            for recipient in recipients[:_MAX_RECIPIENTS]:
                found.setdefault(trigger, []).append(Destination(service, recipient))
    return found


def destinations(
    annotations: Mapping[str, str], labels: Mapping[str, str],
    subscriptions: Sequence[GlobalSubscription], default_triggers: Sequence[str],
    service_default_triggers: Mapping[str, Sequence[str]],
) -> dict[str, list[Destination]]:
    """Every trigger's destinations: the ConfigMap's subscriptions selecting `labels`,
    then the object's annotations; each destination once per trigger, sorted."""
    merged: dict[str, set[Destination]] = {}
    for subscription in subscriptions:
        if not subscription.selects(labels):
            continue
        for trigger in subscription.triggers or default_triggers:
            merged.setdefault(trigger, set()).update(subscription.recipients)
    own = annotation_destinations(annotations, default_triggers, service_default_triggers)
    for trigger, found in own.items():
        merged.setdefault(trigger, set()).update(found)
    return {trigger: sorted(found) for trigger, found in sorted(merged.items())}
