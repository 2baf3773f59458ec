"""Cron schedules of sync windows, parsed the way Argo CD parses them.

Argo CD reads `syncWindows[].schedule` with robfig/cron's standard parser: exactly five
fields (minute, hour, day of month, month, day of week), each a comma list of `*`, `?`,
`N`, `N-M`, optionally `/STEP` (`N/STEP` runs from N to the field's maximum); months may
be `JAN`..`DEC`, weekdays `SUN`..`SAT` (0 is Sunday, 7 is refused); no `@daily`
descriptors. When both day fields are restricted (neither starts with `*` or `?`), a day
matches if *either* matches, as in classic cron; otherwise both must.

`parse_cron(text)` returns the expanded `CronSchedule` or raises `CronError` with a
message naming the field. `reconciler.projects.windows` turns a schedule into APScheduler
triggers to compute fire times (APScheduler's own crontab parsing numbers weekdays from
Monday, so it is never given the raw text). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CronError", "CronSchedule", "parse_cron"]

WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                "dec")


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class CronError(ValueError):
    """A schedule Argo CD would refuse; the message names the field and the mistake."""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, {name: index + 1 for index, name in enumerate(_MONTH_NAMES)}),
    _Field("day of week", 0, 6, {name: index for index, name in enumerate(WEEKDAY_NAMES)}),
)


@dataclass(frozen=True)
class CronSchedule:
    """The values each field allows; weekdays count from 0 = Sunday."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_unrestricted: bool
    """The day-of-month field starts with `*` or `?` (then the day fields are ANDed)."""
    weekdays_unrestricted: bool

    @property
    def can_fire(self) -> bool:
        """False for a date that never exists (`0 0 30 2 *`, `0 0 31 4,6 *`)."""
        if self.day_fields_or:
            return True  # any allowed weekday fires
        return any(day <= _MONTH_DAYS[month - 1] for month in self.months for day in self.days)

    @property
    def day_fields_or(self) -> bool:
        """Classic cron: with both day fields restricted, either one may match."""
        return not (self.days_unrestricted or self.weekdays_unrestricted)


def parse_cron(text: str) -> CronSchedule:
    """Parse a five-field schedule; raise `CronError` naming what Argo CD would refuse."""
    stripped = text.strip()
    if not stripped:
        raise CronError("empty schedule: write five fields, e.g. '0 22 * * *'")
    if stripped.startswith("@"):
        raise CronError(f"{stripped!r}: descriptors such as @daily are not accepted; "
                        "write five fields, e.g. '0 0 * * *'")
    parts = stripped.split()
    if parts[0].startswith(("TZ=", "CRON_TZ=")):
        raise CronError(f"{stripped!r}: set the time zone with the window's timeZone field, "
                        "not in the schedule")
    if len(parts) != 5:
        raise CronError(f"{stripped!r} has {len(parts)} fields: write exactly five (minute "
                        "hour day-of-month month day-of-week), e.g. '0 22 * * *'")
    values: list[frozenset[int]] = []
    unrestricted: list[bool] = []
    for part, spec in zip(parts, _FIELDS, strict=True):
        allowed, star = _parse_field(part, spec)
        values.append(allowed)
        unrestricted.append(star)
    minutes, hours, days, months, weekdays = values
    return CronSchedule(stripped, minutes, hours, days, months, weekdays,
                        days_unrestricted=unrestricted[2], weekdays_unrestricted=unrestricted[4])


def _parse_field(text: str, spec: _Field) -> tuple[frozenset[int], bool]:
    allowed: set[int] = set()
    star = False
    for item in text.split(","):
        if not item:
            raise CronError(f"{spec.name} {text!r}: empty item in the list")
        span, _, step_text = item.partition("/")
        step = 1
        if step_text or "/" in item:
            step = _number(step_text, spec, what="step")
            if step <= 0:
                raise CronError(f"{spec.name} {text!r}: the step must be 1 or more")
        if span in ("*", "?"):
            low, high = spec.low, spec.high
            star = star or step == 1
        else:
            first, dash, last = span.partition("-")
            low = _value(first, spec, text)
            high = _value(last, spec, text) if dash else (spec.high if step_text else low)
        if low > high:
            raise CronError(f"{spec.name} {text!r}: range {low}-{high} is backwards")
        allowed.update(range(low, high + 1, step))
    return frozenset(allowed), star


def _value(text: str, spec: _Field, field_text: str) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names[lowered]
    value = _number(text, spec, what="value")
    if not spec.low <= value <= spec.high:
        hint = " (0 is Sunday)" if spec.name == "day of week" else ""
        raise CronError(f"{spec.name} {field_text!r}: {value} is outside "
                        f"{spec.low}-{spec.high}{hint}")
    return value


def _number(text: str, spec: _Field, *, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise CronError(f"{spec.name}: {what} {text!r} is not a number"
                        + (f" or a name ({', '.join(spec.names)})" if spec.names else ""))
    return int(text)
