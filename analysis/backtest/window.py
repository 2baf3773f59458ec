"""The time window of a backtest: `--from`, `--to` and `--every`, parsed. Pure (`now` is given).

Instants are written as RFC 3339 (`2026-12-03T14:00:00Z`, `2026-12-03T15:00:00+01:00`),
`now`, or relative to now: `-24h`, `-90m`, `-1h30m`, `-2d`, `now-6h` (Go duration units
plus `d` for 24 hours). A time without a zone is refused rather than guessed. Instants
are cut to whole seconds, as the stored measurement times are.

`--every` is a Go duration (`1m`, `30s`); it must be at least a second.

Neighbours: `analysis.backtest.simulate` plays the runs over the window;
`rollouts.cli.analysis_backtest` reads the options with these functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rollouts.api.common import format_time
from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError

__all__ = ["MIN_EVERY", "BadWindow", "Window", "format_span", "parse_every", "parse_instant",
           "window"]

MIN_EVERY = timedelta(seconds=1)
_RELATIVE = re.compile(r"^(?:now)?\s*-\s*(?P<span>[0-9.]+[a-zµμ]+(?:[0-9.]+[a-zµμ]+)*)$")
_DAYS = re.compile(r"([0-9.]+)d")


class BadWindow(ValueError):
    """`--from`, `--to` or `--every` cannot be used; the message says what to write."""


@dataclass(frozen=True, slots=True)
class Window:
    """The instants a backtest looks at: from `start` to `end` (both included)."""

    start: datetime
    end: datetime
    every: timedelta

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def parse_instant(text: str, now: datetime, *, option: str = "--from") -> datetime:
    """`text` as an aware UTC time, whole seconds; `BadWindow` naming `option` if unreadable.

    >>> now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    >>> parse_instant("-24h", now).isoformat()
    '2026-12-03T12:00:00+00:00'
    >>> parse_instant("2026-12-04T10:30:00+01:00", now).isoformat()
    '2026-12-04T09:30:00+00:00'
    """
    written = text.strip()
    now = now.astimezone(UTC)
    if written.lower() == "now":
        return _whole(now)
    relative = _RELATIVE.match(written.lower())
    if relative is not None:
        return _whole(now - _span(relative.group("span"), written, option))
    try:
        moment = datetime.fromisoformat(written.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadWindow(
            f"{option} {text!r} is not a time: write RFC 3339 (2026-12-03T14:00:00Z), now, "
            "or a span before now (-24h, -90m, -2d, now-6h)") from None
    if moment.tzinfo is None:
        raise BadWindow(f"{option} {text!r} has no time zone: add Z (UTC) or an offset "
                        "such as +01:00")
    return _whole(moment.astimezone(UTC))


def parse_every(text: str) -> timedelta:
    """`--every` as a timedelta (a Go duration of at least a second)."""
    try:
        every = Duration.parse(text.strip()).timedelta
    except SpecError:
        raise BadWindow(f"--every {text!r} is not a duration: write 1m, 30s or 5m") from None
    if every < MIN_EVERY:
        raise BadWindow(f"--every {text!r} is shorter than a second: use 1s or more")
    return every


def window(start: str, end: str, every: str, now: datetime) -> Window:
    """The three options, read and checked together (`--from` before `--to`, not future)."""
    begin = parse_instant(start, now, option="--from")
    finish = parse_instant(end, now, option="--to")
    if finish <= begin:
        raise BadWindow(f"--from ({format_time(begin)}) must be before --to "
                        f"({format_time(finish)})")
    if finish > _whole(now.astimezone(UTC)):
        raise BadWindow(f"--to ({format_time(finish)}) is in the future: history ends now")
    return Window(begin, finish, parse_every(every))


def _span(span: str, written: str, option: str) -> timedelta:
    """`1h30m`, `2d`, `1d12h` as a timedelta (days are 24 h)."""
    days = timedelta()
    for match in _DAYS.finditer(span):
        days += timedelta(days=float(match.group(1)))
    rest = _DAYS.sub("", span)
    try:
        hours = Duration.parse(rest).timedelta if rest else timedelta()
    except SpecError:
        raise BadWindow(f"{option} {written!r} is not a span before now: write -24h, -90m, "
                        "-1h30m or -2d") from None
    return days + hours


def _whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def format_span(length: timedelta) -> str:
    """`length` as people write it: `1h30m`, `45s`, `0s`."""
    seconds = int(length.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{amount}{unit}" for amount, unit in ((hours, "h"), (minutes, "m"),
                                                           (seconds, "s")) if amount) or "0s"
