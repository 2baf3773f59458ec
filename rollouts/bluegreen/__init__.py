"""The pure planner of the blue-green strategy, on top of `rollouts.core`."""

from rollouts.bluegreen.plan import PAUSE_BLUE_GREEN, plan_blue_green

__all__ = ["PAUSE_BLUE_GREEN", "plan_blue_green"]
