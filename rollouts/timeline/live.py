"""A live Rollout's place on its timeline. Pure.

`mark_live(timeline, rollout, now)`: stages before the current one are done, the
current one is marked, and the time left is counted from `now` (a timed pause from
when it began, as the planner counts it: `startTime` + duration). The current stage is
`status.currentStepIndex` for a canary, and for blue-green the stage the status says
(`stages.blue_green_stage_of`). Neighbours: `build` makes the timeline from the
Rollout's spec; `rollouts.cli.plan_cmd` reads the Rollout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rollouts.api.common import format_time
from rollouts.bluegreen.plan import PAUSE_BLUE_GREEN
from rollouts.canary.steps import PAUSE_STEP
from rollouts.core.work import parse_time
from rollouts.timeline.model import Timeline, seconds_text
from rollouts.timeline.stages import blue_green_stage_of

__all__ = ["mark_live"]


def _pause_started(status: dict[str, Any], reason: str) -> datetime | None:
    for condition in status.get("pauseConditions") or []:
        if isinstance(condition, dict) and condition.get("reason") == reason:
            try:
                return parse_time(str(condition.get("startTime")))
            except ValueError:
                return None
    return None


def mark_live(timeline: Timeline, live: dict[str, Any], now: datetime) -> None:
    """Place the live Rollout's status on `timeline` (planned from its spec): stages
    before the current one are done, the current one is marked, and the time left is
    counted from `now` (a timed pause from when it began)."""
    status = live.get("status") or {}
    current_hash = status.get("currentPodHash")
    if not current_hash:
        timeline.notes.append("the controller has not reported on this Rollout yet: "
                              "the plan of its first update")
        return
    if current_hash == status.get("stableRS"):
        timeline.notes.append("no update in progress (the current pod template is the "
                              "stable one): the plan an update would follow")
        return
    if timeline.strategy == "canary":
        index = int(status.get("currentStepIndex") or 0)
        steps = 1 + max((s.index for s in timeline.stages if s.index is not None), default=-1)
        index = min(index, steps)
        for stage in timeline.stages:
            position = stage.index if stage.index is not None else steps
            stage.state = ("done" if position < index else
                           "current" if position == index else "pending")
        if status.get("promoteFull"):
            timeline.notes.append("promote --full asked: the remaining steps are skipped")
    else:
        label = blue_green_stage_of(status, (status.get("blueGreen") or {}).get(
            "activeSelector"))
        kinds = [stage.kind for stage in timeline.stages]
        at = kinds.index(label) if label in kinds else 0
        for position, stage in enumerate(timeline.stages):
            stage.state = ("done" if position < at else
                           "current" if position == at else "pending")
    current = next((i for i, s in enumerate(timeline.stages) if s.state == "current"), None)
    timeline.current = current
    if current is not None:
        stage = timeline.stages[current]
        reason = PAUSE_STEP if timeline.strategy == "canary" else PAUSE_BLUE_GREEN
        started = _pause_started(status, reason) if stage.kind == "pause" else None
        if started is not None:
            left = max(0.0, stage.min_seconds - (now - started).total_seconds())
            since = format_time(started.replace(microsecond=0))
            stage.notes.append(f"paused since {since}" + (
                "" if stage.waits else f": {seconds_text(left)} left"))
            stage.min_seconds = left
    if status.get("abort"):
        timeline.notes.append("the rollout is aborted: `rollouts retry` starts it over")
    timeline.retime()
