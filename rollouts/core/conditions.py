"""Status conditions of a Rollout, updated without refreshing stored timestamps.

A condition's `lastTransitionTime` changes only when its status flips, and its
`lastUpdateTime` only when its status, reason or message changes (or when `touch` is
asked for, which is how the Progressing condition records progress for the deadline).
Refreshing timestamps on every pass would make every pass a write: a hot loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rollouts.api.common import format_time


def find(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def set_condition(
    status: dict[str, Any],
    type_: str,
    value: bool,
    reason: str,
    message: str,
    now: datetime,
    *,
    touch: bool = False,
) -> None:
    conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
    text = "True" if value else "False"
    stamp = format_time(now)
    for index, existing in enumerate(conditions):
        if existing.get("type") != type_:
            continue
        changed = (existing.get("status"), existing.get("reason"), existing.get("message")) != (
            text, reason, message)
        if not changed and not touch:
            return
        updated = dict(existing, status=text, reason=reason, message=message,
                       lastUpdateTime=stamp)
        if existing.get("status") != text:
            updated["lastTransitionTime"] = stamp
        conditions[index] = updated
        status["conditions"] = conditions
        return
    conditions.append({"type": type_, "status": text, "reason": reason, "message": message,
                       "lastUpdateTime": stamp, "lastTransitionTime": stamp})
    status["conditions"] = conditions


def remove_condition(status: dict[str, Any], type_: str) -> None:
    remaining = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if remaining:
        status["conditions"] = remaining
    else:
        status.pop("conditions", None)
