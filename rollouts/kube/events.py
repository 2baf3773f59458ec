"""The core/v1 Event that records something about an object (pure).

`KubeClient.emit_event` sends what `event_for` builds. Events are named as client-go
names them (`<object>.<hex nanoseconds>`) and carry `involvedObject`, `source`,
`reportingComponent`, `firstTimestamp`/`lastTimestamp` and `count`, so `kubectl describe`
and `kubectl get events` show them like any controller's. The message is made one line,
shortened to 1 KiB and scrubbed of anything that looks like a credential.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from typing import Any

from rollouts.kube.errors import one_line

__all__ = ["event_for"]

_KEY = re.compile(r"^[0-9a-f]{1,32}$")


def event_for(
    regarding: dict[str, Any],
    type_: str,
    reason: str,
    message: str,
    component: str,
    now: datetime,
    key: str | None = None,
) -> dict[str, Any]:
    """The core/v1 Event recording `reason: message` about `regarding` at `now` (pure).

    With `key` (lower-case hex, at most 32 characters), the name is `<object>.<key>`
    instead of the instant's, so recording the same happening twice is refused by the API
    server (`AlreadyExists`); a key that grows with time keeps names in time order.
    """
    metadata = regarding.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError("an event needs the name of the object it is about")
    involved = {
        "apiVersion": regarding.get("apiVersion"),
        "kind": regarding.get("kind"),
        "name": name,
        "namespace": metadata.get("namespace"),
        "uid": metadata.get("uid"),
        "resourceVersion": metadata.get("resourceVersion"),
    }
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = metadata.get("namespace") or "default"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            # As client-go names them: unique per object and instant (or per `key`).
            "name": f"{name}.{_suffix(key, now)}",
            "namespace": namespace,
        },
        "involvedObject": {k: v for k, v in involved.items() if v},
        "type": type_,
        "reason": reason,
        "message": one_line(message, 1024),
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def _suffix(key: str | None, now: datetime) -> str:
    if key is None:
        return f"{int(now.timestamp() * 1e9):x}"
    if not _KEY.match(key):
        raise ValueError(f"event key {key!r} is not lower-case hex of at most 32 characters")
    return key
