"""What both Rollout strategies share: observed views, the Plan, ReplicaSets, Services,
AnalysisRuns, pauses/abort/retry, phase and conditions. Pure; `rollouts.canary` and
`rollouts.bluegreen` plan on top of it, `rollouts.controller` carries plans out."""

from rollouts.core.observed import (
    HASH_LABEL,
    MANAGED_BY_ANNOTATION,
    REVISION_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
    AnalysisRunView,
    Observed,
    PodView,
    ReplicaSetView,
    pod_template_hash,
)
from rollouts.core.work import Event, MetadataChange, Pass, Plan, match_labels, selector_string

__all__ = [
    "HASH_LABEL",
    "MANAGED_BY_ANNOTATION",
    "REVISION_ANNOTATION",
    "SCALE_DOWN_DEADLINE_ANNOTATION",
    "AnalysisRunView",
    "Event",
    "MetadataChange",
    "Observed",
    "Pass",
    "Plan",
    "PodView",
    "ReplicaSetView",
    "match_labels",
    "pod_template_hash",
    "selector_string",
]
