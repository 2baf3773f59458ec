"""`Rollout.status`: the typed record of a rollout's progress, written only by the controller.

The controls (`promote`, `abort`, `retry`, `promote --full`) are patches of this record
(`pauseConditions`, `abort`, `promoteFull`), exactly as Argo's kubectl plugin does, so the
record is also the contract between the CLI and the controller.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BeforeValidator, Field

from rollouts.api.common import ApiModel, Bool, Condition, Int, Time
from rollouts.api.phases import (
    AnalysisPhase,
    PauseReason,
    RolloutConditionType,
    RolloutPhase,
)

__all__ = [
    "BlueGreenStatus",
    "CanaryStatus",
    "PauseCondition",
    "RolloutAnalysisRunStatus",
    "RolloutCondition",
    "RolloutStatus",
    "TrafficWeights",
    "WeightDestination",
]


def _generation_as_text(value: object) -> object:
    # Argo stores observedGeneration as a string; accept the integer spelling too.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class PauseCondition(ApiModel):
    """Why and since when the controller paused the rollout; `promote` removes these."""

    reason: PauseReason
    start_time: Time


class RolloutAnalysisRunStatus(ApiModel):
    """The AnalysisRun a rollout is waiting on, and its phase as last seen."""

    name: str
    status: AnalysisPhase
    message: str | None = None


class WeightDestination(ApiModel):
    weight: Int
    service_name: str | None = None
    pod_template_hash: str | None = None


class TrafficWeights(ApiModel):
    """The weights last written to the traffic router (only with traffic routing)."""

    canary: WeightDestination
    stable: WeightDestination
    additional: list[WeightDestination] | None = None
    verified: Bool | None = None


class CanaryStatus(ApiModel):
    current_step_analysis_run_status: RolloutAnalysisRunStatus | None = None
    current_background_analysis_run_status: RolloutAnalysisRunStatus | None = None
    current_experiment: str | None = None
    weights: TrafficWeights | None = None
    stable_ping_pong: str | None = None


class BlueGreenStatus(ApiModel):
    preview_selector: str | None = None
    active_selector: str | None = None
    scale_up_preview_check_point: Bool | None = None
    pre_promotion_analysis_run_status: RolloutAnalysisRunStatus | None = None
    post_promotion_analysis_run_status: RolloutAnalysisRunStatus | None = None


class RolloutCondition(Condition):
    type: RolloutConditionType


class RolloutStatus(ApiModel):
    """Status of a Rollout, as Argo Rollouts writes it.

    Example, a canary paused at its second step with its analysis still running::

        status:
          phase: Paused
          message: CanaryPauseStep
          observedGeneration: "4"
          currentPodHash: 6f7c9d8b5
          stableRS: 58c4f7d9c
          currentStepIndex: 1
          replicas: 5
          updatedReplicas: 1
          readyReplicas: 5
          availableReplicas: 5
          controllerPause: true
          pauseConditions:
          - reason: CanaryPauseStep
            startTime: "2024-05-01T12:00:00Z"
          canary:
            currentBackgroundAnalysisRunStatus:
              name: web-6f7c9d8b5-4
              status: Running
            weights:
              canary: {weight: 20, serviceName: web-canary, podTemplateHash: 6f7c9d8b5}
              stable: {weight: 80, serviceName: web-stable, podTemplateHash: 58c4f7d9c}
          conditions:
          - type: Paused
            status: "True"
            reason: RolloutPaused
            message: Rollout is paused
            lastUpdateTime: "2024-05-01T12:00:00Z"
            lastTransitionTime: "2024-05-01T12:00:00Z"

    `abort: true` (with `abortedAt`) asks for and records an abort; `promoteFull: true`
    skips the remaining steps; `currentStepIndex` equal to the number of steps means all
    steps are done.
    """

    unsupported_fields: ClassVar[dict[str, str]] = {
        "alb": "written by Argo's ALB router, which is not implemented",
        "albs": "written by Argo's ALB router, which is not implemented",
    }

    phase: RolloutPhase | None = None
    message: str | None = None
    observed_generation: Annotated[str | None, BeforeValidator(_generation_as_text)] = None
    current_pod_hash: str | None = None
    current_step_hash: str | None = None
    current_step_index: Int | None = None
    stable_rs: str | None = Field(default=None, alias="stableRS")
    replicas: Int | None = None
    updated_replicas: Int | None = None
    ready_replicas: Int | None = None
    available_replicas: Int | None = None
    hpa_replicas: Int | None = Field(default=None, alias="HPAReplicas")
    selector: str | None = None
    collision_count: Int | None = None
    pause_conditions: list[PauseCondition] | None = None
    controller_pause: Bool | None = None
    abort: Bool | None = None
    aborted_at: Time | None = None
    promote_full: Bool | None = None
    restarted_at: Time | None = None
    canary: CanaryStatus | None = None
    blue_green: BlueGreenStatus | None = None
    conditions: list[RolloutCondition] | None = None
    workload_observed_generation: str | None = None

    @property
    def observed_generation_number(self) -> int | None:
        text = self.observed_generation
        return int(text) if text is not None and text.isdigit() else None

    @property
    def is_aborted(self) -> bool:
        return bool(self.abort)

    def condition(self, kind: RolloutConditionType) -> RolloutCondition | None:
        """The condition of type `kind`, if the controller has set one."""
        return next((c for c in self.conditions or [] if c.type is kind), None)

    def pause_condition(self, reason: PauseReason) -> PauseCondition | None:
        return next((p for p in self.pause_conditions or [] if p.reason is reason), None)
