"""Sync windows: may an Application sync now, and when should it be looked at again.

Argo CD's semantics, with `now` passed in:

- a window applies to an Application when one of its non-empty lists matches (globs, no
  negation): `applications` the Application's name, `namespaces` its destination
  namespace, `clusters` its destination server or name; with `andOperator` every
  non-empty list must match. A window with no list applies to nothing;
- a window is open at `now` when its schedule fired at some time `t` with
  `now - duration < t < now` (the first fire time after `now - duration` is before
  `now`), fire times computed in the window's `timeZone` (default UTC);
- an open `deny` window blocks every sync, except a manual one when *every* open deny
  window has `manualSync`;
- otherwise an open `allow` window permits the sync; if allow windows apply but none is
  open, the sync is blocked, except a manual one when every closed allow window has
  `manualSync`;
- with no window applying, syncs are allowed.

A window that cannot be evaluated (bad schedule, duration or time zone; lint reports
these) fails closed: it blocks the sync and says why. Fire times come from APScheduler's
`CronTrigger`, built from the schedule as `rollouts.api.cron` parsed it (robfig/cron's
dialect: weekday 0 is Sunday, and both day fields restricted means either may match, so
that case is two triggers).

Neighbours: `reconciler.project_gate` (asks `sync_window_verdict` before a sync and
`next_window_change` for when to look again), `rollouts.cli.proj_cmds` (shows
`window_states`).
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from reconciler.projects.rules import IN_CLUSTER_NAME, IN_CLUSTER_SERVER
from rollouts.api.appproject import AppProject, SyncWindow
from rollouts.api.cron import WEEKDAY_NAMES, CronError, CronSchedule, parse_cron
from rollouts.api.errors import SpecError
from rollouts.api.globs import glob_match

__all__ = [
    "WindowState",
    "matching_windows",
    "next_window_change",
    "sync_window_verdict",
    "window_state",
    "window_states",
]

_STRICTLY_AFTER = timedelta(microseconds=1)


class WindowError(ValueError):
    """A window that cannot be evaluated; the message says which field is wrong."""


@dataclass(frozen=True)
class WindowState:
    """One window at one instant: open or not, since and until when, or why unknown."""

    index: int
    window: SyncWindow
    active: bool
    opened_at: datetime | None = None
    """The fire time that opened the window (when active)."""
    closes_at: datetime | None = None
    next_opens_at: datetime | None = None
    """The next fire time after `now` (None when it never fires again)."""
    error: str | None = None

    @property
    def label(self) -> str:
        window = self.window
        zone = window.time_zone_or_default
        return (f"syncWindows[{self.index}] ({window.kind} '{window.schedule}' for "
                f"{window.duration} {zone})")


def _match_any(patterns: Sequence[str], values: Sequence[str]) -> bool:
    return any(pattern == "*" or glob_match(pattern, value)
               for pattern in patterns for value in values if value)


def _applies(window: SyncWindow, *, app: str, namespace: str, clusters: Sequence[str]) -> bool:
    checks = [(window.applications, [app]), (window.namespaces, [namespace]),
              (window.clusters, clusters)]
    given = [(patterns, values) for patterns, values in checks if patterns]
    if not given:
        return False
    results = [_match_any(patterns, values) for patterns, values in given]
    return all(results) if window.and_operator else any(results)


def _cluster_names(cluster: str) -> list[str]:
    if cluster.rstrip("/") in (IN_CLUSTER_SERVER, IN_CLUSTER_NAME):
        return [IN_CLUSTER_SERVER, IN_CLUSTER_NAME]
    return [cluster]


def matching_windows(project: AppProject, *, app: str, namespace: str,
                     cluster: str) -> list[tuple[int, SyncWindow]]:
    """(index, window) of the project's windows that apply to this Application."""
    clusters = _cluster_names(cluster)
    return [(index, window) for index, window in enumerate(project.spec.sync_windows or [])
            if _applies(window, app=app, namespace=namespace, clusters=clusters)]


@functools.lru_cache(maxsize=256)
def _triggers(schedule_text: str, zone: str) -> tuple[CronSchedule, tuple[CronTrigger, ...]]:
    schedule = parse_cron(schedule_text)
    tz = zoneinfo.ZoneInfo(zone)

    def csv(values: frozenset[int]) -> str:
        return ",".join(str(value) for value in sorted(values))

    weekdays = ",".join(WEEKDAY_NAMES[day] for day in sorted(schedule.weekdays))
    common = {"minute": csv(schedule.minutes), "hour": csv(schedule.hours),
              "month": csv(schedule.months), "timezone": tz}
    triggers: tuple[CronTrigger, ...]
    if schedule.day_fields_or:
        triggers = (CronTrigger(day=csv(schedule.days), day_of_week="*", **common),
                    CronTrigger(day="*", day_of_week=weekdays, **common))
    else:
        triggers = (CronTrigger(day=csv(schedule.days), day_of_week=weekdays, **common),)
    return schedule, triggers


def _prepared(window: SyncWindow) -> tuple[tuple[CronTrigger, ...], timedelta]:
    try:
        length = window.length()
    except SpecError as error:
        raise WindowError(f"duration: {error}") from None
    try:
        schedule, triggers = _triggers(window.schedule or "", window.time_zone_or_default)
    except CronError as error:
        raise WindowError(f"schedule: {error}") from None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"timeZone: unknown time zone {window.time_zone!r}") from None
    if not schedule.can_fire:
        return (), length
    return triggers, length


def _first_fire_after(triggers: Sequence[CronTrigger], instant: datetime) -> datetime | None:
    # CronTrigger gives the first fire time at or after its argument; cron fires on whole
    # minutes, so one microsecond later makes it "strictly after", as robfig's Next is.
    found = [trigger.get_next_fire_time(None, instant + _STRICTLY_AFTER) for trigger in triggers]
    times: list[datetime] = [when for when in found if when is not None]
    return min(times) if times else None


def window_state(index: int, window: SyncWindow, now: datetime) -> WindowState:
    """Whether `window` is open at `now` (an aware datetime), with its times."""
    try:
        triggers, length = _prepared(window)
    except WindowError as error:
        return WindowState(index, window, active=False, error=str(error))
    opened = _first_fire_after(triggers, now - length)
    upcoming = _first_fire_after(triggers, now)
    if opened is not None and opened < now:
        return WindowState(index, window, active=True, opened_at=opened,
                           closes_at=opened + length, next_opens_at=upcoming)
    return WindowState(index, window, active=False, next_opens_at=upcoming)


def window_states(project: AppProject, now: datetime) -> list[WindowState]:
    """Every window of the project at `now`, matching or not (for `rollouts proj get`)."""
    return [window_state(index, window, now)
            for index, window in enumerate(project.spec.sync_windows or [])]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ") \
        if moment is not None else "never"


def sync_window_verdict(project: AppProject, *, app: str, namespace: str, cluster: str,
                        now: datetime, manual: bool) -> str | None:
    """None when a sync of this Application may start at `now`, else the window that blocks.

    `namespace` is the destination namespace, `cluster` the destination server or name,
    `manual` whether a person asked for the sync (`rollouts app sync`).
    """
    states = [window_state(index, window, now)
              for index, window in matching_windows(project, app=app, namespace=namespace,
                                                    cluster=cluster)]
    prefix = f"project '{project.name}':"
    for state in states:
        if state.error is not None:
            return (f"{prefix} sync window {state.label} cannot be evaluated ({state.error}), "
                    "so syncs are blocked; fix the AppProject")
    open_denies = [s for s in states if s.active and s.window.kind == "deny"]
    if open_denies:
        if manual and all(s.window.manual_sync_or_default for s in open_denies):
            return None
        blocking = next((s for s in open_denies if not s.window.manual_sync_or_default),
                        open_denies[0])
        extra = "" if manual else (" (manual syncs are allowed)" if all(
            s.window.manual_sync_or_default for s in open_denies) else "")
        return (f"{prefix} sync window {blocking.label} is open until "
                f"{_when(blocking.closes_at)} and denies syncs{extra}")
    if any(s.active and s.window.kind == "allow" for s in states):
        return None
    closed_allows = [s for s in states if s.window.kind == "allow"]
    if not closed_allows:
        return None
    if manual and all(s.window.manual_sync_or_default for s in closed_allows):
        return None
    soonest = min(closed_allows, key=lambda s: (s.next_opens_at is None, s.next_opens_at or now))
    return (f"{prefix} no allow sync window is open; the next, {soonest.label}, opens at "
            f"{_when(soonest.next_opens_at)}")


def next_window_change(project: AppProject, *, app: str, namespace: str, cluster: str,
                       now: datetime) -> datetime | None:
    """The next instant after `now` at which a matching window opens or closes.

    A hint for when a blocked Application should be looked at again (the verdict may not
    change then: another window may still block). None when no window applies or none
    will change.
    """
    moments: list[datetime] = []
    for index, window in matching_windows(project, app=app, namespace=namespace,
                                          cluster=cluster):
        state = window_state(index, window, now)
        for moment in (state.closes_at, state.next_opens_at):
            if moment is not None and moment > now:
                moments.append(moment)
    return min(moments) if moments else None
