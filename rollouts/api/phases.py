"""Enums with behaviour: the phases, statuses and reasons that appear in our objects' status.

The string values are Argo's, so objects written by Argo Rollouts / Argo CD parse and ours
read the same to their tools (and to the Argo CD health checks of a Rollout).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = [
    "AnalysisPhase",
    "ConditionStatus",
    "HealthStatusCode",
    "OperationPhase",
    "PauseReason",
    "PodTemplateHashValue",
    "RolloutConditionType",
    "RolloutPhase",
    "ScaleDownPolicy",
    "StepAction",
    "SyncStatusCode",
]


class AnalysisPhase(StrEnum):
    """Phase of an AnalysisRun, of one metric's result, or of one measurement.

    Ordered from best to worst by `severity`, as Argo does when it folds the metric phases
    into the run phase: Successful < Running < Pending < Inconclusive < Error < Failed.
    """

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"

    @property
    def completed(self) -> bool:
        """True once nothing will change it: Successful, Failed, Error or Inconclusive."""
        return self in _ANALYSIS_COMPLETED

    @property
    def severity(self) -> int:
        """Rank in the worst-of ordering; a higher number is worse."""
        return _ANALYSIS_ORDER.index(self)

    @classmethod
    def worst(cls, phases: Iterable[AnalysisPhase]) -> AnalysisPhase:
        """The worst of `phases`; Successful when there are none (nothing went wrong)."""
        return max(phases, key=lambda phase: phase.severity, default=cls.SUCCESSFUL)


_ANALYSIS_ORDER = (
    AnalysisPhase.SUCCESSFUL,
    AnalysisPhase.RUNNING,
    AnalysisPhase.PENDING,
    AnalysisPhase.INCONCLUSIVE,
    AnalysisPhase.ERROR,
    AnalysisPhase.FAILED,
)
_ANALYSIS_COMPLETED = frozenset(
    {
        AnalysisPhase.SUCCESSFUL,
        AnalysisPhase.FAILED,
        AnalysisPhase.ERROR,
        AnalysisPhase.INCONCLUSIVE,
    }
)


class HealthStatusCode(StrEnum):
    """Argo CD health of a resource or an Application, worst last in `severity` order."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        return _HEALTH_ORDER.index(self)

    @classmethod
    def worst(cls, statuses: Iterable[HealthStatusCode]) -> HealthStatusCode:
        """An Application's health: the worst of its resources' (Healthy when it has none)."""
        return max(statuses, key=lambda status: status.severity, default=cls.HEALTHY)


# Argo CD's order (gitops-engine health.IsWorse): Unknown is the worst.
_HEALTH_ORDER = (
    HealthStatusCode.HEALTHY,
    HealthStatusCode.SUSPENDED,
    HealthStatusCode.PROGRESSING,
    HealthStatusCode.MISSING,
    HealthStatusCode.DEGRADED,
    HealthStatusCode.UNKNOWN,
)


class RolloutPhase(StrEnum):
    """`status.phase` of a Rollout."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    DEGRADED = "Degraded"

    @property
    def health(self) -> HealthStatusCode:
        """How Argo CD (and our reconciler) reports a Rollout in this phase."""
        return _ROLLOUT_HEALTH[self]


_ROLLOUT_HEALTH = {
    RolloutPhase.HEALTHY: HealthStatusCode.HEALTHY,
    RolloutPhase.PROGRESSING: HealthStatusCode.PROGRESSING,
    RolloutPhase.PAUSED: HealthStatusCode.SUSPENDED,
    RolloutPhase.DEGRADED: HealthStatusCode.DEGRADED,
}


class SyncStatusCode(StrEnum):
    """Whether the live objects of an Application match Git."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class OperationPhase(StrEnum):
    """Phase of an Application sync operation."""

    RUNNING = "Running"
    TERMINATING = "Terminating"
    FAILED = "Failed"
    ERROR = "Error"
    SUCCEEDED = "Succeeded"

    @property
    def completed(self) -> bool:
        return self in (OperationPhase.FAILED, OperationPhase.ERROR, OperationPhase.SUCCEEDED)

    @property
    def successful(self) -> bool:
        return self is OperationPhase.SUCCEEDED


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class RolloutConditionType(StrEnum):
    AVAILABLE = "Available"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    HEALTHY = "Healthy"
    COMPLETED = "Completed"
    INVALID_SPEC = "InvalidSpec"
    REPLICA_FAILURE = "ReplicaFailure"


class PauseReason(StrEnum):
    """Why the controller paused a Rollout (`status.pauseConditions[].reason`)."""

    CANARY_PAUSE_STEP = "CanaryPauseStep"
    BLUE_GREEN_PAUSE = "BlueGreenPause"
    INCONCLUSIVE_ANALYSIS = "InconclusiveAnalysisRun"
    INCONCLUSIVE_EXPERIMENT = "InconclusiveExperiment"


class PodTemplateHashValue(StrEnum):
    """Which ReplicaSet's pod-template hash an analysis argument takes (`valueFrom`)."""

    STABLE = "Stable"
    LATEST = "Latest"


class ScaleDownPolicy(StrEnum):
    """What to do with a `workloadRef` Deployment once the Rollout runs its pods."""

    NEVER = "never"
    ON_SUCCESS = "onsuccess"
    PROGRESSIVELY = "progressively"


class StepAction(StrEnum):
    """The one thing a canary step does (the key it sets)."""

    SET_WEIGHT = "setWeight"
    PAUSE = "pause"
    ANALYSIS = "analysis"
    SET_CANARY_SCALE = "setCanaryScale"
    SET_HEADER_ROUTE = "setHeaderRoute"
    SET_MIRROR_ROUTE = "setMirrorRoute"
    EXPERIMENT = "experiment"
