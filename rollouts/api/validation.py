"""Semantic validation: the rules of each kind that a schema cannot express.

`semantic_problems(obj)` runs the rules for the object's kind (`rules_rollout`,
`rules_analysis`, `rules_experiment`, `rules_application`, `rules_appproject`) plus those
every object shares. Each problem names the field it is about (`spec.strategy.canary.steps[2]`) and
says what to do; most are errors, a few are warnings (legal settings that have no effect).
"""

from __future__ import annotations

from rollouts.api.analysis import AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate
from rollouts.api.application import Application
from rollouts.api.appproject import AppProject
from rollouts.api.common import ApiModel
from rollouts.api.errors import Problem
from rollouts.api.experiment import Experiment
from rollouts.api.rollout import Rollout
from rollouts.api.rules_analysis import analysis_problems
from rollouts.api.rules_application import application_problems
from rollouts.api.rules_appproject import appproject_problems
from rollouts.api.rules_experiment import experiment_problems
from rollouts.api.rules_rollout import rollout_problems

__all__ = ["semantic_problems"]


def semantic_problems(obj: ApiModel) -> list[Problem]:
    """Problems with `obj` (one of our kinds) beyond what its model's types enforce."""
    problems = _metadata_problems(obj)
    if isinstance(obj, Rollout):
        problems.extend(rollout_problems(obj))
    elif isinstance(obj, AnalysisTemplate | ClusterAnalysisTemplate | AnalysisRun):
        problems.extend(analysis_problems(obj))
    elif isinstance(obj, Experiment):
        problems.extend(experiment_problems(obj))
    elif isinstance(obj, Application):
        problems.extend(application_problems(obj))
    elif isinstance(obj, AppProject):
        problems.extend(appproject_problems(obj))
    return problems


def _metadata_problems(obj: ApiModel) -> list[Problem]:
    metadata = getattr(obj, "metadata", None)
    name = getattr(metadata, "name", None)
    generate_name = getattr(metadata, "generate_name", None)
    if not name and not generate_name:
        return [Problem("metadata.name", "required: every object needs a name")]
    return []
