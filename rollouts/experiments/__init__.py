"""Argo Rollouts' Experiments: a few ReplicaSets run side by side for a while, judged by
AnalysisRuns. Their own controller, talking to Rollouts through API objects only.

- `plan` (with `templates`, `analyses`, `work`): the pure planner,
  `plan_experiment(raw, experiment, observed, problems) -> ExperimentPlan`;
- `step`: what a Rollout's `experiment` canary step creates (`step_experiment`) and
  reads back (`ExperimentView`), pure, for `rollouts.canary`;
- `controller`: informers, work queue, timers and the executor (impure; imported on its
  own, so the pure parts stay importable by the planners).
"""

from rollouts.experiments.plan import is_terminating, plan_experiment
from rollouts.experiments.work import ExperimentPlan, ObservedExperiment

__all__ = ["ExperimentPlan", "ObservedExperiment", "is_terminating", "plan_experiment"]
