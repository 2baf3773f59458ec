"""Draining older canary ReplicaSets within the availability budget. Pure."""

from __future__ import annotations

from rollouts.core.replica_sets import scale_to
from rollouts.core.work import Pass


def drain_older(work: Pass, available_elsewhere: int) -> None:
    """Scale older ReplicaSets down, oldest first, keeping minimum availability."""
    older_available = sum(rs.available for rs in work.older)
    budget = available_elsewhere + older_available - (work.replicas - work.unavailable)
    for rs in sorted(work.older, key=lambda r: r.revision):
        if rs.replicas == 0:
            continue
        # Pods that are not available can go at once: they serve nothing.
        unavailable_pods = max(0, rs.replicas - rs.available)
        cut = min(rs.replicas, unavailable_pods + max(0, budget))
        budget -= max(0, cut - unavailable_pods)
        if cut > 0:
            scale_to(work, rs, rs.replicas - cut)
