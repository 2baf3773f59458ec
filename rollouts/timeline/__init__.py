"""`rollouts plan`: the timeline a Rollout will follow, read off the controller's own
planner run in a simulated world (`build`, `world`), with its analysis gates (`gates`),
as a model with a stable JSON shape (`model`) and a text rendering (`render`)."""

from rollouts.timeline.build import PlanProblem, plan_timeline
from rollouts.timeline.model import Gate, Sizes, Stage, Timeline

__all__ = ["Gate", "PlanProblem", "Sizes", "Stage", "Timeline", "plan_timeline"]
