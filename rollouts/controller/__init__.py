"""The Rollout controller: caches -> pure planner (`rollouts.canary`) -> executor."""

from rollouts.controller.rollout_controller import RolloutController

__all__ = ["RolloutController"]
