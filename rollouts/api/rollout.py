"""The `Rollout` kind: spec (canary, blue-green, traffic routing), status in `rollout_status`.

Field names and shapes are Argo Rollouts' (`argoproj.io/v1alpha1`), for the subset listed
in DESIGN.md section 3; Argo fields outside it are named in each model's
`unsupported_fields` and reported as warnings. The pod template stays a plain dict
(`spec.template`, a Kubernetes PodTemplateSpec); `rollouts.api.podtemplate` checks the
parts of it we depend on.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from rollouts.api import defaults
from rollouts.api.common import (
    API_VERSION,
    ApiModel,
    Bool,
    FieldRef,
    Int,
    LabelSelector,
    ObjectMeta,
    PodTemplateMetadata,
    Time,
)
from rollouts.api.duration import Duration
from rollouts.api.intstr import IntOrPercent
from rollouts.api.phases import PodTemplateHashValue, ScaleDownPolicy, StepAction
from rollouts.api.rollout_status import RolloutStatus

__all__ = [
    "AnalysisRunHistory",
    "AntiAffinity",
    "BlueGreenStrategy",
    "CanaryStep",
    "CanaryStrategy",
    "GatewayAPITrafficRouting",
    "IstioTrafficRouting",
    "IstioVirtualService",
    "NginxTrafficRouting",
    "ObjectRef",
    "Pause",
    "PreferredAntiAffinity",
    "Rollout",
    "RolloutAnalysis",
    "RolloutAnalysisBackground",
    "RolloutAnalysisTemplateRef",
    "RolloutArgument",
    "RolloutArgumentValueFrom",
    "RolloutSpec",
    "RolloutStrategy",
    "SMITrafficRouting",
    "SetCanaryScale",
    "TrafficRouting",
    "TrafficRoutingPlugins",
]

GATEWAY_API_PLUGIN = "argoproj-labs/gatewayAPI"
_ANALYSIS_RUN_EXTRAS = {
    "dryRun": "dry-run metrics are set on the AnalysisTemplate (spec.dryRun), not the Rollout",
    "measurementRetention": "set measurementRetention on the AnalysisTemplate instead",
    "analysisRunMetadata": "extra labels/annotations on AnalysisRuns are not implemented",
}


class RolloutArgumentValueFrom(ApiModel):
    """Where a Rollout takes an analysis argument's value from (exactly one of the two)."""

    pod_template_hash_value: PodTemplateHashValue | None = None
    field_ref: FieldRef | None = None


class RolloutArgument(ApiModel):
    """An argument the Rollout passes to its analysis templates: `value` or `valueFrom`."""

    name: str
    value: str | None = None
    value_from: RolloutArgumentValueFrom | None = None


class RolloutAnalysisTemplateRef(ApiModel):
    """A reference to an AnalysisTemplate, or a ClusterAnalysisTemplate with `clusterScope`."""

    template_name: str | None = None
    cluster_scope: Bool | None = None

    @property
    def is_cluster_scoped(self) -> bool:
        return bool(self.cluster_scope)


class RolloutAnalysis(ApiModel):
    """Templates (merged into one AnalysisRun) and the arguments to run them with."""

    unsupported_fields: ClassVar[dict[str, str]] = _ANALYSIS_RUN_EXTRAS

    templates: list[RolloutAnalysisTemplateRef] | None = None
    args: list[RolloutArgument] | None = None


class RolloutAnalysisBackground(RolloutAnalysis):
    """Background analysis of a canary: runs from `startingStep` until the rollout completes."""

    starting_step: Int | None = None

    @property
    def starting_step_or_default(self) -> int:
        return self.starting_step or 0


class Pause(ApiModel):
    """A pause step: `{duration: 30s}` expires by itself, `{}` waits to be promoted."""

    duration: Duration | None = None

    @property
    def is_indefinite(self) -> bool:
        return self.duration is None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds to wait, or None to wait until promoted."""
        return None if self.duration is None else self.duration.seconds


class SetCanaryScale(ApiModel):
    """Scale the canary apart from its traffic weight (needs traffic routing)."""

    weight: Int | None = None
    replicas: Int | None = None
    match_traffic_weight: Bool | None = None


class StringMatch(ApiModel):
    """Argo's string match: exactly one of exact, prefix, regex."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @property
    def chosen(self) -> list[str]:
        return [key for key, value in (("exact", self.exact), ("prefix", self.prefix),
                                       ("regex", self.regex)) if value is not None]


class HeaderRoutingMatch(ApiModel):
    header_name: str
    header_value: StringMatch


class SetHeaderRoute(ApiModel):
    """Send requests carrying the headers in `match` to the canary (a managed route);
    without `match` the route is removed."""

    name: str
    match: list[HeaderRoutingMatch] | None = None


class RouteMatch(ApiModel):
    method: StringMatch | None = None
    path: StringMatch | None = None
    headers: dict[str, StringMatch] | None = None


class SetMirrorRoute(ApiModel):
    """Copy requests matching `match` to the canary (a managed route); without `match`
    the route is removed."""

    name: str
    match: list[RouteMatch] | None = None
    percentage: Int | None = None


class ExperimentTemplateRef(ApiModel):
    """A template of a canary `experiment` step: pods like the canary or the stable."""

    name: str
    spec_ref: str
    replicas: Int | None = None
    weight: Int | None = None
    metadata: dict[str, Any] | None = None
    selector: dict[str, Any] | None = None
    service: dict[str, Any] | None = None


class ExperimentAnalysisRef(ApiModel):
    name: str
    template_name: str
    cluster_scope: Bool | None = None
    args: list[RolloutArgument] | None = None
    required_for_completion: Bool | None = None


class RolloutExperimentStep(ApiModel):
    """A canary `experiment` step: run an Experiment and wait for its verdict."""

    templates: list[ExperimentTemplateRef]
    duration: Duration | None = None
    analyses: list[ExperimentAnalysisRef] | None = None
    dry_run: list[dict[str, Any]] | None = None


class CanaryStep(ApiModel):
    """One canary step; it sets exactly one of the fields below."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "plugin": "step plugins are not implemented",
    }

    set_weight: Int | None = None
    pause: Pause | None = None
    analysis: RolloutAnalysis | None = None
    set_canary_scale: SetCanaryScale | None = None
    set_header_route: SetHeaderRoute | None = None
    set_mirror_route: SetMirrorRoute | None = None
    experiment: RolloutExperimentStep | None = None

    @property
    def actions(self) -> list[str]:
        """The action keys this step sets, including Argo actions we do not implement."""
        found = [
            action.value
            for action, value in (
                (StepAction.SET_WEIGHT, self.set_weight),
                (StepAction.PAUSE, self.pause),
                (StepAction.ANALYSIS, self.analysis),
                (StepAction.SET_CANARY_SCALE, self.set_canary_scale),
                (StepAction.SET_HEADER_ROUTE, self.set_header_route),
                (StepAction.SET_MIRROR_ROUTE, self.set_mirror_route),
                (StepAction.EXPERIMENT, self.experiment),
            )
            if value is not None
        ]
        extras = self.model_extra or {}
        found.extend(key for key in self.unsupported_fields if key in extras)
        return found

    @property
    def action(self) -> StepAction | None:
        """The step's action when it is exactly one we implement, else None."""
        actions = self.actions
        if len(actions) != 1:
            return None
        try:
            return StepAction(actions[0])
        except ValueError:
            return None


class NginxTrafficRouting(ApiModel):
    """NGINX Ingress: a canary copy of `stableIngress` carries the canary weight annotation."""

    stable_ingress: str | None = None
    stable_ingresses: list[str] | None = None
    annotation_prefix: str | None = None
    additional_ingress_annotations: dict[str, str] | None = None
    canary_ingress_annotations: dict[str, str] | None = None


class IstioVirtualService(ApiModel):
    """The VirtualService (and its named HTTP routes) whose weights the rollout sets."""

    name: str
    routes: list[str] | None = None
    tls_routes: list[dict[str, Any]] | None = None
    tcp_routes: list[dict[str, Any]] | None = None


class IstioDestinationRule(ApiModel):
    """Subset-level split: the DestinationRule whose subsets carry the pod hashes."""

    name: str
    canary_subset_name: str
    stable_subset_name: str


class IstioTrafficRouting(ApiModel):
    virtual_service: IstioVirtualService | None = None
    virtual_services: list[IstioVirtualService] | None = None
    destination_rule: IstioDestinationRule | None = None


class SMITrafficRouting(ApiModel):
    root_service: str | None = None
    traffic_split_name: str | None = None


class GatewayAPIRouteRef(ApiModel):
    name: str
    use_header_routes: Bool | None = None


class ManagedRoute(ApiModel):
    name: str


class GatewayAPITrafficRouting(ApiModel):
    """Gateway API: the HTTPRoute whose backendRef weights the rollout sets."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "tlsRoute": "TLSRoutes are not implemented; use httpRoute(s), grpcRoute(s), tcpRoute(s)",
        "tlsRoutes": "TLSRoutes are not implemented; use httpRoute(s), grpcRoute(s), tcpRoute(s)",
    }

    http_route: str | None = None
    http_routes: list[GatewayAPIRouteRef] | None = None
    grpc_route: str | None = None
    grpc_routes: list[GatewayAPIRouteRef] | None = None
    tcp_route: str | None = None
    tcp_routes: list[GatewayAPIRouteRef] | None = None
    namespace: str | None = None
    # The plugin keeps its managed routes in this ConfigMap; we keep them on the route
    # itself, so the name is accepted and not used.
    config_map: str | None = None


class TrafficRoutingPlugins(ApiModel):
    """Traffic router plugins by name; only Gateway API's is implemented."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "*": f"only the {GATEWAY_API_PLUGIN} traffic router plugin is implemented",
    }

    gateway_api: GatewayAPITrafficRouting | None = Field(default=None, alias=GATEWAY_API_PLUGIN)


class TrafficRouting(ApiModel):
    """The traffic router that carries the canary weight."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "alb": "the AWS ALB router is not implemented",
        "ambassador": "the Ambassador router is not implemented",
        "appMesh": "the AWS App Mesh router is not implemented",
        "traefik": "the Traefik router is not implemented",
        "apisix": "the APISIX router is not implemented",
        "maxTrafficWeight": "weights are always out of 100",
    }

    nginx: NginxTrafficRouting | None = None
    istio: IstioTrafficRouting | None = None
    smi: SMITrafficRouting | None = None
    plugins: TrafficRoutingPlugins | None = None
    managed_routes: list[ManagedRoute] | None = None

    @property
    def routers(self) -> list[str]:
        """The routers we implement that are configured: nginx, istio, smi, gatewayAPI."""
        found = [
            name
            for name, value in (("nginx", self.nginx), ("istio", self.istio), ("smi", self.smi))
            if value is not None
        ]
        if self.plugins is not None and self.plugins.gateway_api is not None:
            found.append("gatewayAPI")
        return found

    @property
    def other_routers(self) -> list[str]:
        """Argo routers present that we do not implement (alb, traefik, other plugins...)."""
        extras = self.model_extra or {}
        found = [key for key in _OTHER_ROUTERS if key in extras]
        if self.plugins is not None:
            found.extend(self.plugins.model_extra or {})
        return found


_OTHER_ROUTERS = ("alb", "ambassador", "appMesh", "traefik", "apisix")


class PreferredAntiAffinity(ApiModel):
    weight: Int | None = None


class AntiAffinity(ApiModel):
    """`antiAffinity`: keep the new pods off the nodes of the previous version's pods."""

    preferred_during_scheduling_ignored_during_execution: PreferredAntiAffinity | None = None
    required_during_scheduling_ignored_during_execution: dict[str, Any] | None = None


class CanaryStrategy(ApiModel):
    """`spec.strategy.canary`: steps, services, surge limits, router and background analysis."""

    unsupported_fields: ClassVar[dict[str, str]] = {
        "pingPong": "ping-pong services (ALB) are not implemented",
        "minPodsPerReplicaSet": "a minimum of pods per ReplicaSet is not implemented",
        "replicaProgressThreshold": "partial availability thresholds are not implemented",
    }

    canary_service: str | None = None
    stable_service: str | None = None
    steps: list[CanaryStep] | None = None
    traffic_routing: TrafficRouting | None = None
    max_surge: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None
    analysis: RolloutAnalysisBackground | None = None
    canary_metadata: PodTemplateMetadata | None = None
    stable_metadata: PodTemplateMetadata | None = None
    scale_down_delay_seconds: Int | None = None
    scale_down_delay_revision_limit: Int | None = None
    abort_scale_down_delay_seconds: Int | None = None
    dynamic_stable_scale: Bool | None = None
    anti_affinity: AntiAffinity | None = None

    @property
    def step_list(self) -> list[CanaryStep]:
        return list(self.steps or [])

    @property
    def max_surge_or_default(self) -> IntOrPercent:
        return self.max_surge or IntOrPercent(defaults.MAX_SURGE)

    @property
    def max_unavailable_or_default(self) -> IntOrPercent:
        return self.max_unavailable or IntOrPercent(defaults.MAX_UNAVAILABLE)

    @property
    def scale_down_delay_seconds_or_default(self) -> int:
        """Delay before the old stable scales down; only meaningful with traffic routing."""
        if self.scale_down_delay_seconds is None:
            return defaults.SCALE_DOWN_DELAY_SECONDS
        return self.scale_down_delay_seconds

    @property
    def abort_scale_down_delay_seconds_or_default(self) -> int:
        if self.abort_scale_down_delay_seconds is None:
            return defaults.ABORT_SCALE_DOWN_DELAY_SECONDS
        return self.abort_scale_down_delay_seconds


class BlueGreenStrategy(ApiModel):
    """`spec.strategy.blueGreen`: active/preview services, promotion and its analyses."""

    unsupported_fields: ClassVar[dict[str, str]] = {}

    active_service: str | None = None
    preview_service: str | None = None
    preview_replica_count: Int | None = None
    auto_promotion_enabled: Bool | None = None
    auto_promotion_seconds: Int | None = None
    scale_down_delay_seconds: Int | None = None
    scale_down_delay_revision_limit: Int | None = None
    abort_scale_down_delay_seconds: Int | None = None
    active_metadata: PodTemplateMetadata | None = None
    preview_metadata: PodTemplateMetadata | None = None
    anti_affinity: AntiAffinity | None = None
    max_unavailable: IntOrPercent | None = None
    pre_promotion_analysis: RolloutAnalysis | None = None
    post_promotion_analysis: RolloutAnalysis | None = None

    @property
    def auto_promotion_enabled_or_default(self) -> bool:
        if self.auto_promotion_enabled is None:
            return defaults.AUTO_PROMOTION_ENABLED
        return self.auto_promotion_enabled

    @property
    def auto_promotion_seconds_or_default(self) -> int:
        return self.auto_promotion_seconds or 0

    @property
    def max_unavailable_or_default(self) -> IntOrPercent:
        return self.max_unavailable or IntOrPercent(defaults.MAX_UNAVAILABLE)

    @property
    def scale_down_delay_seconds_or_default(self) -> int:
        if self.scale_down_delay_seconds is None:
            return defaults.SCALE_DOWN_DELAY_SECONDS
        return self.scale_down_delay_seconds

    @property
    def abort_scale_down_delay_seconds_or_default(self) -> int:
        if self.abort_scale_down_delay_seconds is None:
            return defaults.ABORT_SCALE_DOWN_DELAY_SECONDS
        return self.abort_scale_down_delay_seconds


class RolloutStrategy(ApiModel):
    canary: CanaryStrategy | None = None
    blue_green: BlueGreenStrategy | None = None

    @property
    def name(self) -> Literal["canary", "blueGreen"] | None:
        """`canary` or `blueGreen` when exactly one is set, else None (an invalid spec)."""
        if (self.canary is None) == (self.blue_green is None):
            return None
        return "canary" if self.canary is not None else "blueGreen"


class ObjectRef(ApiModel):
    """`spec.workloadRef`: the Deployment whose pod template the Rollout runs."""

    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    scale_down: ScaleDownPolicy | None = None


class AnalysisRunHistory(ApiModel):
    """`spec.analysis`: how many finished AnalysisRuns a Rollout keeps (5 and 5)."""

    successful_run_history_limit: Int | None = None
    unsuccessful_run_history_limit: Int | None = None

    @property
    def successful_or_default(self) -> int:
        if self.successful_run_history_limit is None:
            return defaults.ANALYSIS_RUN_HISTORY_LIMIT
        return self.successful_run_history_limit

    @property
    def unsuccessful_or_default(self) -> int:
        if self.unsuccessful_run_history_limit is None:
            return defaults.ANALYSIS_RUN_HISTORY_LIMIT
        return self.unsuccessful_run_history_limit


class RolloutSpec(ApiModel):
    unsupported_fields: ClassVar[dict[str, str]] = {
        "rollbackWindow": "rollback windows are not implemented",
    }

    replicas: Int | None = None
    selector: LabelSelector | None = None
    template: dict[str, Any] | None = None
    workload_ref: ObjectRef | None = None
    min_ready_seconds: Int | None = None
    revision_history_limit: Int | None = None
    progress_deadline_seconds: Int | None = None
    progress_deadline_abort: Bool | None = None
    paused: Bool | None = None
    restart_at: Time | None = None
    strategy: RolloutStrategy | None = None
    analysis: AnalysisRunHistory | None = None

    @property
    def run_history(self) -> AnalysisRunHistory:
        return self.analysis or AnalysisRunHistory()

    @property
    def replicas_or_default(self) -> int:
        return defaults.REPLICAS if self.replicas is None else self.replicas

    @property
    def min_ready_seconds_or_default(self) -> int:
        return self.min_ready_seconds or 0

    @property
    def revision_history_limit_or_default(self) -> int:
        if self.revision_history_limit is None:
            return defaults.REVISION_HISTORY_LIMIT
        return self.revision_history_limit

    @property
    def progress_deadline_seconds_or_default(self) -> int:
        if self.progress_deadline_seconds is None:
            return defaults.PROGRESS_DEADLINE_SECONDS
        return self.progress_deadline_seconds


class Rollout(ApiModel):
    """A Rollout: a Deployment replacement that updates pods by canary or blue-green steps."""

    api_version: str = API_VERSION
    kind: Literal["Rollout"] = "Rollout"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RolloutSpec
    status: RolloutStatus | None = None
