"""The one clock seam: every "now" in the controllers comes from a `Clock`.

Planners take `now` as an argument; the pieces that wait (the `WorkQueue`'s delayed
keys, `Timers`) ask a `Clock` for it. Production code passes `SystemClock()`; tests pass
a `FakeClock` and move time with `advance()` / `set()` instead of sleeping.

All datetimes are timezone-aware UTC, so they compare with the timestamps stored in
object status (which the API server writes in UTC).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Something that tells the time: `now()` returns an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that moves only when told to; safe to read and move from several threads.

    >>> clock = FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    >>> clock.advance(90)
    >>> clock.now().isoformat()
    '2024-05-01T12:01:30+00:00'
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = _require_aware(start or datetime(2024, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (must not be negative: time never runs back)."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance({seconds}): seconds must be >= 0")
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        """Jump to `when` (aware); jumping backwards is allowed, to test clock skew."""
        aware = _require_aware(when)
        with self._lock:
            self._now = aware

    def __repr__(self) -> str:
        return f"FakeClock({self.now().isoformat()})"


def _require_aware(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"naive datetime {when.isoformat()}: pass a timezone-aware one "
            "(e.g. datetime(..., tzinfo=UTC))"
        )
    return when.astimezone(UTC)
