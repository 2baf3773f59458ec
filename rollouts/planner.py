"""One entry point for planning a Rollout pass, whichever its strategy. Pure.

The strategy planners never import each other; this module picks one.
"""

from __future__ import annotations

from typing import Any

from rollouts.api.rollout import Rollout
from rollouts.bluegreen import plan_blue_green
from rollouts.canary import plan_canary
from rollouts.core import Observed, Plan

__all__ = ["plan_rollout"]


def plan_rollout(raw: dict[str, Any], rollout: Rollout, observed: Observed,
                 problems: list[str]) -> Plan:
    strategy = rollout.spec.strategy
    if strategy is not None and strategy.blue_green is not None and strategy.canary is None:
        return plan_blue_green(raw, rollout, observed, problems)
    return plan_canary(raw, rollout, observed, problems)
