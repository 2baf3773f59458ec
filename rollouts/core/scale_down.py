"""Delayed scale-down of ReplicaSets that left service: Argo's `scale-down-deadline`
annotation, shared by blue-green and the canary with a traffic router. Pure.

A set that stops receiving traffic keeps its pods until its deadline, so a router or
a Service that has not caught up yet still finds them; the deadline lives on the
ReplicaSet, so a restarted controller honours it.
"""

from __future__ import annotations

from datetime import timedelta

from rollouts.api.common import format_time
from rollouts.core.observed import SCALE_DOWN_DEADLINE_ANNOTATION, ReplicaSetView
from rollouts.core.replica_sets import scale_to
from rollouts.core.work import Pass, parse_time

__all__ = ["clear_deadline", "retire_older", "set_deadline"]


def clear_deadline(work: Pass, rs: ReplicaSetView) -> None:
    if SCALE_DOWN_DEADLINE_ANNOTATION in rs.annotations:
        work.plan.annotate_replica_sets[rs.name] = {SCALE_DOWN_DEADLINE_ANNOTATION: None}


def set_deadline(work: Pass, rs: ReplicaSetView, delay_seconds: int) -> None:
    """Give `rs` a deadline `delay_seconds` from now, unless it has one already."""
    if rs.scale_down_deadline is None and rs.name not in work.plan.annotate_replica_sets:
        deadline = format_time(work.now + timedelta(seconds=delay_seconds))
        work.plan.annotate_replica_sets[rs.name] = {SCALE_DOWN_DEADLINE_ANNOTATION: deadline}


def retire_older(work: Pass, limit: int | None) -> None:
    """Sets that are neither new nor stable go to 0, once their scale-down deadline (if
    any, and within `limit` sets kept up, newest first) has passed."""
    delayed = 0
    for rs in sorted(work.older, key=lambda r: r.revision, reverse=True):
        if rs.replicas == 0:
            continue
        deadline = rs.scale_down_deadline
        if rs.name in work.plan.annotate_replica_sets:
            text = work.plan.annotate_replica_sets[rs.name].get(SCALE_DOWN_DEADLINE_ANNOTATION)
            deadline = parse_time(text) if text else None
        if deadline is not None and (limit is None or delayed < limit):
            delayed += 1
            if work.now < deadline:
                work.delayed.add(rs.name)
                work.plan.wake_at[f"scale-down-{rs.name}"] = deadline
                continue
        scale_to(work, rs, 0)
