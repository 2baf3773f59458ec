"""The `Experiment` kind: a few ReplicaSets run side by side for a while, with analyses.

Field names and shapes are Argo Rollouts' (`argoproj.io/v1alpha1`). Each entry of
`spec.templates` becomes one ReplicaSet (`<experiment>-<template>`) and, with `service`,
one Service; each entry of `spec.analyses` becomes one AnalysisRun
(`<experiment>-<analysis>`) from an AnalysisTemplate or ClusterAnalysisTemplate, started
once every template is available. The experiment controller (`rollouts.experiments`)
writes the status; a Rollout's `experiment` canary step creates Experiments too.

Status, as the controller writes it for an experiment whose analysis failed::

    status:
      phase: Failed
      message: "AnalysisRun 'error-rate' Failed: Metric \\"errors\\" assessed Failed ..."
      availableAt: "2024-05-01T12:00:05Z"
      templateStatuses:
      - name: baseline
        status: Successful
        replicas: 1
        updatedReplicas: 1
        readyReplicas: 1
        availableReplicas: 1
        podTemplateHash: 7c9b4fd5d2
        lastTransitionTime: "2024-05-01T12:00:05Z"
      analysisRuns:
      - name: error-rate
        analysisRun: demo-error-rate
        phase: Failed
        message: Metric "errors" assessed Failed due to failed (1) > failureLimit (0)
      conditions:
      - type: Progressing
        status: "False"
        reason: ExperimentCompleted
        message: Experiment "demo" has completed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field

from rollouts.api import defaults
from rollouts.api.analysis import Argument, DryRun, MeasurementRetention
from rollouts.api.common import (
    API_VERSION,
    ApiModel,
    Bool,
    Condition,
    Int,
    LabelSelector,
    ObjectMeta,
    Time,
)
from rollouts.api.duration import Duration
from rollouts.api.phases import AnalysisPhase

__all__ = [
    "Experiment",
    "ExperimentAnalysis",
    "ExperimentAnalysisRunStatus",
    "ExperimentSpec",
    "ExperimentStatus",
    "ExperimentTemplate",
    "TemplateService",
    "TemplateStatus",
    "TemplateStatusCode",
]


class TemplateStatusCode(StrEnum):
    """How one template's ReplicaSet is doing (`status.templateStatuses[].status`).

    Ordered best to worst by `severity`, as Argo folds them into the experiment's phase:
    Successful < Running < Progressing < Error < Failed.
    """

    PROGRESSING = "Progressing"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"

    @property
    def completed(self) -> bool:
        """Successful, Failed or Error: the template's pods are no longer wanted."""
        return self in (TemplateStatusCode.SUCCESSFUL, TemplateStatusCode.FAILED,
                        TemplateStatusCode.ERROR)

    @property
    def severity(self) -> int:
        return _TEMPLATE_ORDER.index(self)

    @property
    def as_phase(self) -> AnalysisPhase:
        """The experiment phase this template status stands for (Progressing -> Pending)."""
        return _TEMPLATE_PHASE[self]


_TEMPLATE_ORDER = (
    TemplateStatusCode.SUCCESSFUL,
    TemplateStatusCode.RUNNING,
    TemplateStatusCode.PROGRESSING,
    TemplateStatusCode.ERROR,
    TemplateStatusCode.FAILED,
)
_TEMPLATE_PHASE = {
    TemplateStatusCode.PROGRESSING: AnalysisPhase.PENDING,
    TemplateStatusCode.RUNNING: AnalysisPhase.RUNNING,
    TemplateStatusCode.SUCCESSFUL: AnalysisPhase.SUCCESSFUL,
    TemplateStatusCode.FAILED: AnalysisPhase.FAILED,
    TemplateStatusCode.ERROR: AnalysisPhase.ERROR,
}


class TemplateService(ApiModel):
    """`templates[].service`: a Service selecting the template's pods (`name` optional:
    the ReplicaSet's name by default)."""

    name: str | None = None


class ExperimentTemplate(ApiModel):
    """One ReplicaSet of the experiment (Argo's `TemplateSpec`)."""

    name: str
    replicas: Int | None = None
    min_ready_seconds: Int | None = None
    selector: LabelSelector
    template: dict[str, Any]
    """A Kubernetes PodTemplateSpec, kept as a plain dict (`rollouts.api.podtemplate`)."""
    service: TemplateService | None = None

    @property
    def replicas_or_default(self) -> int:
        return defaults.REPLICAS if self.replicas is None else self.replicas


class ExperimentAnalysis(ApiModel):
    """An AnalysisRun to start once the templates are available (Argo's
    `ExperimentAnalysisTemplateRef`). Argument values may use
    `{{templates.NAME.podTemplateHash}}`, `{{templates.NAME.replicaset.name}}`,
    `{{experiment.availableAt}}` and `{{experiment.finishedAt}}`."""

    name: str
    template_name: str
    cluster_scope: Bool | None = None
    args: list[Argument] | None = None
    required_for_completion: Bool | None = None

    @property
    def is_cluster_scoped(self) -> bool:
        return bool(self.cluster_scope)

    @property
    def is_required(self) -> bool:
        return bool(self.required_for_completion)


class ExperimentSpec(ApiModel):
    unsupported_fields: ClassVar[dict[str, str]] = {
        "analysisRunMetadata": "extra labels/annotations on AnalysisRuns are not implemented",
    }

    templates: list[ExperimentTemplate]
    duration: Duration | None = None
    """How long to run once every template is available; none: until terminated, failed,
    or every `requiredForCompletion` analysis has succeeded."""
    progress_deadline_seconds: Int | None = None
    terminate: Bool | None = None
    scale_down_delay_seconds: Int | None = None
    analyses: list[ExperimentAnalysis] | None = None
    dry_run: list[DryRun] | None = None
    measurement_retention: list[MeasurementRetention] | None = None

    @property
    def progress_deadline_seconds_or_default(self) -> int:
        if self.progress_deadline_seconds is None:
            return defaults.PROGRESS_DEADLINE_SECONDS
        return self.progress_deadline_seconds

    @property
    def scale_down_delay_seconds_or_default(self) -> int:
        if self.scale_down_delay_seconds is None:
            return defaults.SCALE_DOWN_DELAY_SECONDS
        return self.scale_down_delay_seconds

    @property
    def analysis_list(self) -> list[ExperimentAnalysis]:
        return list(self.analyses or [])

    @property
    def has_required_analyses(self) -> bool:
        return any(analysis.is_required for analysis in self.analysis_list)


class TemplateStatus(ApiModel):
    """One template's ReplicaSet as last seen, and since when it is in this state."""

    name: str
    replicas: Int | None = None
    updated_replicas: Int | None = None
    ready_replicas: Int | None = None
    available_replicas: Int | None = None
    collision_count: Int | None = None
    status: TemplateStatusCode | None = None
    message: str | None = None
    last_transition_time: Time | None = None
    """Reset whenever the replica counts change: the progress deadline counts from it."""
    service_name: str | None = None
    pod_template_hash: str | None = None


class ExperimentAnalysisRunStatus(ApiModel):
    """One analysis of the experiment: its AnalysisRun and the run's phase as last seen."""

    name: str
    analysis_run: str | None = None
    phase: AnalysisPhase | None = None
    message: str | None = None


class ExperimentStatus(ApiModel):
    phase: AnalysisPhase | None = None
    message: str | None = None
    template_statuses: list[TemplateStatus] | None = None
    analysis_runs: list[ExperimentAnalysisRunStatus] | None = None
    available_at: Time | None = None
    """When every template first had all its pods available; `duration` counts from it."""
    conditions: list[Condition] | None = None


class Experiment(ApiModel):
    """ReplicaSets run side by side for a while, judged by AnalysisRuns."""

    api_version: str = API_VERSION
    kind: Literal["Experiment"] = "Experiment"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ExperimentSpec
    status: ExperimentStatus | None = None
