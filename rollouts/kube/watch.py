"""Watch streams, parsed with no I/O.

The API server answers a watch with one JSON object per line:
`{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": {...}}`.
`split_lines` turns the chunks read from the socket into lines and `parse_watch_line`
turns one line into a `WatchEvent`; both are pure, so every case (a bookmark, an
`ERROR` carrying `410 Gone`, a torn chunk) is unit-tested. `KubeClient.watch` glues them
to a response; `Informer` consumes the events.

An `ERROR` event is not returned: it is raised as the `KubeError` its `Status` maps to
(`Gone` for 410, which tells the informer to list again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast

from rollouts.kube.errors import Unavailable, error_from_response

__all__ = ["EventType", "WatchEvent", "parse_watch_line", "split_lines"]

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change to one object (or a BOOKMARK carrying only a resourceVersion)."""

    type: EventType
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        metadata = self.object.get("metadata") or {}
        return str(metadata.get("resourceVersion") or "")


def parse_watch_line(line: bytes | str) -> WatchEvent:
    """The event on one line of a watch response; raises the mapped `KubeError` on ERROR.

    A line that is not a watch event means the stream is broken: that raises
    `Unavailable`, so the watcher starts a new watch.
    """
    try:
        decoded = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unavailable(f"watch stream sent a line that is not JSON ({exc})") from None
    if not isinstance(decoded, dict):
        raise Unavailable("watch stream sent a line that is not an event object")
    event_type = decoded.get("type")
    obj = decoded.get("object")
    if not isinstance(obj, dict):
        raise Unavailable(f"watch event {event_type!r} has no object")
    if event_type == "ERROR":
        code = obj.get("code")
        raise error_from_response(code if isinstance(code, int) else 500, obj)
    if event_type not in _EVENT_TYPES:
        raise Unavailable(f"watch stream sent an unknown event type {event_type!r}")
    return WatchEvent(cast(EventType, event_type), obj)


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Non-empty lines from chunks that may cut a line anywhere (even inside a UTF-8 char).

    A trailing piece without a newline is yielded at the end of the stream.
    """
    parts: list[bytes] = []  # pieces of the current line: joined once its newline arrives
    for chunk in chunks:
        if b"\n" not in chunk:
            if chunk:
                parts.append(chunk)
            continue
        parts.append(chunk)
        *lines, rest = b"".join(parts).split(b"\n")
        parts = [rest] if rest else []
        for line in lines:
            if line.strip():
                yield line
    tail = b"".join(parts)
    if tail.strip():
        yield tail
