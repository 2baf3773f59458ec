"""The pure planner of the canary strategy (steps, replica arithmetic), on top of
`rollouts.core`."""

from rollouts.canary.plan import plan_canary

__all__ = ["plan_canary"]
