"""Models of our CRDs (`argoproj.io/v1alpha1`), field-compatible with Argo Rollouts / Argo CD.

Imports pydantic and the standard library only; every other package builds on it.

Entry points: `parse_object` (document -> model, or `SpecError`), `check_object` (model plus
every problem, for `rollouts lint`), `dump_object` (model -> the user's YAML shape).
Modules: `rollout`/`rollout_status`, `analysis`/`analysis_status`, `experiment`,
`application`/`application_status`, `appproject` (the kinds), `duration`, `intstr`,
`quantity` (scalar types), `phases` (enums with behaviour), `defaults`, `validation` and
`rules_*` (semantic rules), `globs` and `cron` (Argo CD's glob and cron dialects),
`fields` (unknown and not-yet-supported fields), `podtemplate`, `kinds`, `secret_data`
(a Secret's values as text, for every side that reads Secrets).
"""

from rollouts.api import defaults
from rollouts.api.analysis import (
    AnalysisRun,
    AnalysisRunSpec,
    AnalysisTemplate,
    AnalysisTemplateSpec,
    Argument,
    ClusterAnalysisTemplate,
    DryRun,
    EmptyResult,
    JobMetric,
    MeasurementRetention,
    Metric,
    MetricProvider,
    PrometheusMetric,
    WebMethod,
    WebMetric,
)
from rollouts.api.analysis_status import AnalysisRunStatus, Measurement, MetricResult, RunSummary
from rollouts.api.application import (
    Application,
    ApplicationDestination,
    ApplicationSource,
    ApplicationSpec,
    SyncPolicy,
)
from rollouts.api.application_status import (
    ApplicationStatus,
    HealthStatus,
    Operation,
    OperationState,
    ResourceStatus,
    RevisionHistory,
    SyncStatus,
)
from rollouts.api.appproject import (
    AppProject,
    AppProjectSpec,
    ClusterResourceRestriction,
    GroupKind,
    OrphanedResourceKey,
    OrphanedResources,
    ProjectDestination,
    SyncWindow,
)
from rollouts.api.common import API_GROUP, API_VERSION, ApiModel, Condition, ObjectMeta
from rollouts.api.duration import Duration
from rollouts.api.errors import Problem, Severity, SpecError
from rollouts.api.experiment import (
    Experiment,
    ExperimentAnalysis,
    ExperimentAnalysisRunStatus,
    ExperimentSpec,
    ExperimentStatus,
    ExperimentTemplate,
    TemplateStatus,
    TemplateStatusCode,
)
from rollouts.api.fields import field_problems, unsupported_field_catalog
from rollouts.api.intstr import IntOrArg, IntOrPercent
from rollouts.api.kinds import (
    KINDS,
    OTHER_ARGO_KINDS,
    ArgoObject,
    CheckResult,
    check_object,
    dump_object,
    is_argo_document,
    parse_object,
)
from rollouts.api.phases import (
    AnalysisPhase,
    ConditionStatus,
    HealthStatusCode,
    OperationPhase,
    PauseReason,
    PodTemplateHashValue,
    RolloutConditionType,
    RolloutPhase,
    ScaleDownPolicy,
    StepAction,
    SyncStatusCode,
)
from rollouts.api.quantity import parse_quantity
from rollouts.api.rollout import (
    BlueGreenStrategy,
    CanaryStep,
    CanaryStrategy,
    Pause,
    Rollout,
    RolloutAnalysis,
    RolloutSpec,
    TrafficRouting,
)
from rollouts.api.rollout_status import PauseCondition, RolloutCondition, RolloutStatus
from rollouts.api.rules_analysis import unsupported_metric_providers
from rollouts.api.validation import semantic_problems

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "KINDS",
    "OTHER_ARGO_KINDS",
    "AnalysisPhase",
    "AnalysisRun",
    "AnalysisRunSpec",
    "AnalysisRunStatus",
    "AnalysisTemplate",
    "AnalysisTemplateSpec",
    "ApiModel",
    "AppProject",
    "AppProjectSpec",
    "Application",
    "ApplicationDestination",
    "ApplicationSource",
    "ApplicationSpec",
    "ApplicationStatus",
    "ArgoObject",
    "Argument",
    "BlueGreenStrategy",
    "CanaryStep",
    "CanaryStrategy",
    "CheckResult",
    "ClusterAnalysisTemplate",
    "ClusterResourceRestriction",
    "Condition",
    "ConditionStatus",
    "DryRun",
    "Duration",
    "EmptyResult",
    "Experiment",
    "ExperimentAnalysis",
    "ExperimentAnalysisRunStatus",
    "ExperimentSpec",
    "ExperimentStatus",
    "ExperimentTemplate",
    "GroupKind",
    "HealthStatus",
    "HealthStatusCode",
    "IntOrArg",
    "IntOrPercent",
    "JobMetric",
    "Measurement",
    "MeasurementRetention",
    "Metric",
    "MetricProvider",
    "MetricResult",
    "ObjectMeta",
    "Operation",
    "OperationPhase",
    "OperationState",
    "OrphanedResourceKey",
    "OrphanedResources",
    "Pause",
    "PauseCondition",
    "PauseReason",
    "PodTemplateHashValue",
    "Problem",
    "ProjectDestination",
    "PrometheusMetric",
    "ResourceStatus",
    "RevisionHistory",
    "Rollout",
    "RolloutAnalysis",
    "RolloutCondition",
    "RolloutConditionType",
    "RolloutPhase",
    "RolloutSpec",
    "RolloutStatus",
    "RunSummary",
    "ScaleDownPolicy",
    "Severity",
    "SpecError",
    "StepAction",
    "SyncPolicy",
    "SyncStatus",
    "SyncStatusCode",
    "SyncWindow",
    "TemplateStatus",
    "TemplateStatusCode",
    "TrafficRouting",
    "WebMethod",
    "WebMetric",
    "check_object",
    "defaults",
    "dump_object",
    "field_problems",
    "is_argo_document",
    "parse_object",
    "parse_quantity",
    "semantic_problems",
    "unsupported_field_catalog",
    "unsupported_metric_providers",
]
