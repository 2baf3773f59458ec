"""What was already sent, kept on the object itself (pure).

Argo's annotation, in Argo's format, so either controller can take over from the other::

    notified.notifications.argoproj.io: >-
      {"on-sync-succeeded:[0].y7b5sbwa2Q329JYH755peeq-fBs:slack:deploys":1733300000}

Keys are `[<oncePer>:]<trigger>:<condition key>:<service>:<recipient>`, values the Unix
second it was sent. For a Rollout the `oncePer` part is the name of the Kubernetes Event
that fired the trigger (unless the condition has its own `oncePer`), so each Event is
notified once.

Bound: entries the pass still needs (`live`: the keys of conditions that hold now, for a
Rollout those of its still-fresh Events) are never dropped, since a dropped one is due
again and re-sent on every pass; of the others at most `MAX_NOTIFIED` stay, the oldest
dropped first (Argo keeps 100). All in all at most `MAX_KEPT` entries, so the annotation
stays readable (`_MAX_ANNOTATION`).

Beside it, ours: failed attempts waiting for a retry (`retry`), so a restart neither
forgets how often a delivery failed nor when to try again::

    rollouts.argoproj.io/notification-retries: >-
      {"<same key>": {"attempts": 2, "next": 1733300004.5}}

A given-up delivery is recorded in `notified` like a sent one (it is done), counted in
the metrics and reported by a Warning Event.

An annotation that is not valid JSON reads as empty (Argo does the same): the worst case
is one repeated notification, never a stuck object.

Neighbours: `plan` decides with these; the controller patches both annotations in one
merge patch after a pass's deliveries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from rollouts.notifications.subscriptions import Destination

__all__ = [
    "MAX_KEPT",
    "MAX_NOTIFIED",
    "NOTIFIED_ANNOTATION",
    "RETRIES_ANNOTATION",
    "Pending",
    "annotation_patch",
    "read_notified",
    "read_retries",
    "state_key",
    "truncate",
]

NOTIFIED_ANNOTATION = "notified.notifications.argoproj.io"
RETRIES_ANNOTATION = "rollouts.argoproj.io/notification-retries"
MAX_NOTIFIED = 100
"""Entries kept beside the live ones (Argo's bound)."""
MAX_KEPT = 600
"""Entries kept in all, live ones included: about 100 bytes each keeps the annotation well
under `_MAX_ANNOTATION` (a larger one would read as empty and re-send everything). Only
hundreds of fresh Events each notifying several destinations come near it."""
_MAX_ANNOTATION = 128 * 1024


@dataclass(frozen=True)
class Pending:
    """A delivery that failed `attempts` times and is due again at `next` (Unix time)."""

    attempts: int
    next: float


def state_key(trigger: str, condition_key: str, destination: Destination,
              once_per: str = "") -> str:
    key = f"{trigger}:{condition_key}:{destination.service}:{destination.recipient}"
    return f"{once_per}:{key}" if once_per else key


def _json(annotations: Mapping[str, str], name: str) -> Any:
    text = annotations.get(name) or ""
    if not text or len(text) > _MAX_ANNOTATION:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


def read_notified(annotations: Mapping[str, str]) -> dict[str, int]:
    found = _json(annotations, NOTIFIED_ANNOTATION)
    if not isinstance(found, dict):
        return {}
    return {str(k): int(v) for k, v in found.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def read_retries(annotations: Mapping[str, str]) -> dict[str, Pending]:
    found = _json(annotations, RETRIES_ANNOTATION)
    if not isinstance(found, dict):
        return {}
    pending: dict[str, Pending] = {}
    for key, value in found.items():
        if not isinstance(value, dict):
            continue
        attempts, due = value.get("attempts"), value.get("next")
        if isinstance(attempts, int) and isinstance(due, int | float):
            pending[str(key)] = Pending(attempts, float(due))
    return pending


def truncate(notified: Mapping[str, int], limit: int = MAX_NOTIFIED,
             live: AbstractSet[str] = frozenset()) -> dict[str, int]:
    """The `live` entries and at most `limit` others, the oldest dropped first (ties: by
    key, for stability); in all at most `MAX_KEPT`, the oldest dropped first."""
    kept = {k: v for k, v in notified.items() if k in live}
    others = sorted(((k, v) for k, v in notified.items() if k not in live),
                    key=lambda item: (item[1], item[0]))
    kept.update(others[len(others) - limit:] if limit > 0 and others else [])
    if len(kept) > MAX_KEPT:
        kept = dict(sorted(kept.items(), key=lambda item: (item[1], item[0]))[-MAX_KEPT:])
    return kept


def annotation_patch(annotations: Mapping[str, str], notified: Mapping[str, int],
                     retries: Mapping[str, Pending],
                     live: AbstractSet[str] = frozenset()) -> dict[str, str | None]:
    """The annotation changes (None removes one) that store `notified` (bounded by
    `truncate`, keeping `live`) and `retries`; empty when both are stored already."""
    wanted: dict[str, str | None] = {
        NOTIFIED_ANNOTATION: json.dumps(truncate(notified, live=live), sort_keys=True,
                                        separators=(",", ":")) if notified else None,
        RETRIES_ANNOTATION: json.dumps(
            {k: {"attempts": p.attempts, "next": round(p.next, 3)}
             for k, p in sorted(retries.items())},
            sort_keys=True, separators=(",", ":")) if retries else None,
    }
    changes: dict[str, str | None] = {}
    for name, value in wanted.items():
        current = annotations.get(name)
        if value is None:
            if current is not None:
                changes[name] = None
        elif current is None or _same(current, value) is False:
            changes[name] = value
    return changes


def _same(current: str, wanted: str) -> bool:
    try:
        return bool(json.loads(current) == json.loads(wanted))
    except ValueError:
        return False
