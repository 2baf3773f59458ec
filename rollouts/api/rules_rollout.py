"""Rules of a valid Rollout that a schema cannot say, each naming the field it is about.

Most come from Argo Rollouts' own validation (same conditions, our wording); a few are
ours, where Argo would accept a spec that then never progresses (a background analysis
starting after the last step, a traffic router with nothing to route).
"""

from __future__ import annotations

from collections.abc import Iterator

from rollouts.api.common import ApiModel
from rollouts.api.errors import Problem, Severity, child_path
from rollouts.api.podtemplate import pod_template_labels, pod_template_problems
from rollouts.api.rollout import (
    BlueGreenStrategy,
    CanaryStep,
    CanaryStrategy,
    Rollout,
    RolloutAnalysis,
    RolloutAnalysisBackground,
    RolloutSpec,
    TrafficRouting,
)

__all__ = ["rollout_problems"]

_STEP_ACTIONS = ("setWeight, pause, analysis, setCanaryScale, setHeaderRoute, setMirrorRoute "
                 "or experiment")
_DOWNWARD_METADATA = ("metadata.name", "metadata.namespace", "metadata.uid")


def rollout_problems(rollout: Rollout) -> list[Problem]:
    return list(_spec_problems(rollout.spec, "spec"))


def _spec_problems(spec: RolloutSpec, path: str) -> Iterator[Problem]:
    for field, value in (
        ("replicas", spec.replicas),
        ("minReadySeconds", spec.min_ready_seconds),
        ("revisionHistoryLimit", spec.revision_history_limit),
    ):
        if value is not None and value < 0:
            yield Problem(child_path(path, field), f"must be 0 or more, not {value}")
    deadline = spec.progress_deadline_seconds_or_default
    if deadline <= spec.min_ready_seconds_or_default:
        yield Problem(
            child_path(path, "progressDeadlineSeconds"),
            f"must be greater than minReadySeconds ({spec.min_ready_seconds_or_default}), "
            f"is {deadline}",
        )
    yield from _pod_source_problems(spec, path)
    yield from _strategy_problems(spec, child_path(path, "strategy"))


def _pod_source_problems(spec: RolloutSpec, path: str) -> Iterator[Problem]:
    template_path = child_path(path, "template")
    if spec.template is not None and spec.workload_ref is not None:
        yield Problem(
            template_path,
            "set either template or workloadRef, not both: remove one of them",
        )
        return
    if spec.template is None and spec.workload_ref is None:
        yield Problem(
            template_path,
            "required: a pod template, or spec.workloadRef naming a Deployment to take it from",
        )
        return
    if spec.workload_ref is not None:
        ref, ref_path = spec.workload_ref, child_path(path, "workloadRef")
        if not ref.name:
            yield Problem(child_path(ref_path, "name"), "required: the Deployment's name")
        if ref.kind != "Deployment":
            yield Problem(
                child_path(ref_path, "kind"),
                f"only Deployment is supported (Argo also accepts ReplicaSet and PodTemplate), "
                f"not {ref.kind!r}",
            )
        if ref.api_version not in (None, "apps/v1"):
            yield Problem(child_path(ref_path, "apiVersion"), "must be apps/v1 for a Deployment")
        return
    yield from pod_template_problems(spec.template, template_path)
    selector_path = child_path(path, "selector")
    if spec.selector is None:
        yield Problem(selector_path, "required: the labels that select this rollout's pods")
        return
    match_labels = spec.selector.match_labels or {}
    if not match_labels and not spec.selector.match_expressions:
        yield Problem(
            selector_path, "must not be empty: it would select every pod in the namespace"
        )
    labels = pod_template_labels(spec.template)
    for key, value in sorted(match_labels.items()):
        if labels.get(key) != value:
            yield Problem(
                child_path(child_path(selector_path, "matchLabels"), key),
                f"the pod template has no label {key}={value}, so the selector would not "
                "select the rollout's own pods: add it to spec.template.metadata.labels",
            )


def _strategy_problems(spec: RolloutSpec, path: str) -> Iterator[Problem]:
    strategy = spec.strategy
    if strategy is None or (strategy.canary is None and strategy.blue_green is None):
        yield Problem(path, "required: set exactly one of canary or blueGreen")
        return
    if strategy.canary is not None and strategy.blue_green is not None:
        yield Problem(path, "set exactly one of canary or blueGreen, not both")
        return
    if strategy.canary is not None:
        yield from _canary_problems(strategy.canary, child_path(path, "canary"))
    if strategy.blue_green is not None:
        yield from _blue_green_problems(strategy.blue_green, child_path(path, "blueGreen"))


def _canary_problems(canary: CanaryStrategy, path: str) -> Iterator[Problem]:
    surge, unavailable = canary.max_surge_or_default, canary.max_unavailable_or_default
    if surge.value == 0 and unavailable.value == 0:
        yield Problem(
            child_path(path, "maxSurge"),
            "maxSurge and maxUnavailable cannot both be 0: the rollout could never replace a pod",
        )
    if unavailable.is_percent and unavailable.value > 100:
        yield Problem(child_path(path, "maxUnavailable"), "must be at most 100%")
    if canary.canary_service and canary.canary_service == canary.stable_service:
        yield Problem(
            child_path(path, "stableService"),
            "the stable and canary services must be two different Services",
        )
    yield from _non_negative(
        canary.scale_down_delay_seconds, child_path(path, "scaleDownDelaySeconds")
    )
    yield from _non_negative(
        canary.abort_scale_down_delay_seconds, child_path(path, "abortScaleDownDelaySeconds")
    )
    routing = canary.traffic_routing
    if routing is None:
        if canary.scale_down_delay_seconds is not None:
            yield Problem(
                child_path(path, "scaleDownDelaySeconds"),
                "only applies with trafficRouting: remove it, or configure a traffic router",
            )
        if canary.dynamic_stable_scale:
            yield Problem(
                child_path(path, "dynamicStableScale"),
                "only applies with trafficRouting: remove it, or configure a traffic router",
            )
    else:
        yield from _traffic_routing_problems(canary, routing, path)
    steps = canary.step_list
    for index, step in enumerate(steps):
        yield from _step_problems(step, child_path(child_path(path, "steps"), index), routing)
    if canary.analysis is not None:
        yield from _background_analysis_problems(
            canary.analysis, len(steps), child_path(path, "analysis")
        )


def _traffic_routing_problems(
    canary: CanaryStrategy, routing: TrafficRouting, path: str
) -> Iterator[Problem]:
    routing_path = child_path(path, "trafficRouting")
    if not routing.routers and not routing.other_routers:
        yield Problem(routing_path, "names no traffic router: add nginx, istio, smi or plugins")
    for field, value in (
        ("stableService", canary.stable_service),
        ("canaryService", canary.canary_service),
    ):
        if not value:
            yield Problem(
                child_path(path, field),
                "required with trafficRouting: the router sends traffic to the canary and "
                "stable Services",
            )
    if canary.dynamic_stable_scale and canary.scale_down_delay_seconds is not None:
        yield Problem(
            child_path(path, "dynamicStableScale"),
            "cannot be used with scaleDownDelaySeconds: remove one of them",
        )
    nginx, istio = routing.nginx, routing.istio
    if (
        nginx is not None
        and not nginx.stable_ingress
        and "stableIngresses" not in _extra_keys(nginx)
    ):
        yield Problem(
            child_path(child_path(routing_path, "nginx"), "stableIngress"),
            "required: the Ingress that routes to the stable Service",
        )
    if (
        istio is not None
        and istio.virtual_service is None
        and not {"virtualServices", "destinationRule"} & _extra_keys(istio)
    ):
        yield Problem(
            child_path(child_path(routing_path, "istio"), "virtualService"),
            "required: {name, routes} of the VirtualService to set weights on",
        )
    gateway = routing.plugins.gateway_api if routing.plugins is not None else None
    if gateway is not None and not gateway.http_route and "httpRoutes" not in _extra_keys(gateway):
        yield Problem(
            child_path(
                child_path(child_path(routing_path, "plugins"), "argoproj-labs/gatewayAPI"),
                "httpRoute",
            ),
            "required: the HTTPRoute whose backendRef weights the rollout sets",
        )


def _step_problems(
    step: CanaryStep, path: str, routing: TrafficRouting | None
) -> Iterator[Problem]:
    actions = step.actions
    if not actions:
        yield Problem(path, f"a step needs exactly one of {_STEP_ACTIONS}")
        return
    if len(actions) > 1:
        yield Problem(
            path,
            f"a step does exactly one thing, this one sets {', '.join(actions)}: "
            "split it into one step each",
        )
    if step.set_weight is not None and not 0 <= step.set_weight <= 100:
        yield Problem(
            child_path(path, "setWeight"), f"must be between 0 and 100, not {step.set_weight}"
        )
    if (
        step.pause is not None
        and step.pause.duration is not None
        and step.pause.duration.is_negative
    ):
        yield Problem(
            child_path(child_path(path, "pause"), "duration"),
            f"must not be negative ({step.pause.duration}); use pause: {{}} to wait until promoted",
        )
    if step.analysis is not None:
        yield from _analysis_problems(step.analysis, child_path(path, "analysis"))
    if step.set_canary_scale is not None:
        scale, scale_path = step.set_canary_scale, child_path(path, "setCanaryScale")
        if routing is None:
            yield Problem(
                scale_path,
                "needs trafficRouting: without a router the canary's scale is its weight",
            )
        chosen = [
            key
            for key, value in (
                ("replicas", scale.replicas),
                ("weight", scale.weight),
                ("matchTrafficWeight", scale.match_traffic_weight or None),
            )
            if value is not None
        ]
        if len(chosen) != 1:
            yield Problem(
                scale_path,
                "set exactly one of replicas, weight or matchTrafficWeight: true"
                + (f" (found {', '.join(chosen)})" if chosen else ""),
            )
        if scale.weight is not None and not 0 <= scale.weight <= 100:
            yield Problem(
                child_path(scale_path, "weight"), f"must be between 0 and 100, not {scale.weight}"
            )
        yield from _non_negative(scale.replicas, child_path(scale_path, "replicas"))
    yield from _managed_route_problems(step, path, routing)
    if step.experiment is not None:
        yield from _experiment_step_problems(step, path, routing)


def _managed_route_problems(
    step: CanaryStep, path: str, routing: TrafficRouting | None
) -> Iterator[Problem]:
    managed = [route.name for route in (routing.managed_routes or [])] if routing else []
    for key, route in (("setHeaderRoute", step.set_header_route),
                       ("setMirrorRoute", step.set_mirror_route)):
        if route is None:
            continue
        route_path = child_path(path, key)
        if routing is None:
            yield Problem(route_path, "needs trafficRouting: only a traffic router can route "
                          "by header or mirror traffic")
        elif route.name not in managed:
            yield Problem(child_path(route_path, "name"),
                          f"'{route.name}' is not in trafficRouting.managedRoutes: add "
                          f"{{name: {route.name}}} there")
    header = step.set_header_route
    for index, match in enumerate((header.match or []) if header else []):
        chosen = match.header_value.chosen
        if len(chosen) != 1:
            yield Problem(child_path(child_path(child_path(path, "setHeaderRoute"), "match"),
                                     index), "headerValue needs exactly one of exact, prefix "
                          "or regex")
    mirror = step.set_mirror_route
    if mirror is not None and mirror.percentage is not None and not (
            0 <= mirror.percentage <= 100):
        yield Problem(child_path(child_path(path, "setMirrorRoute"), "percentage"),
                      f"must be between 0 and 100, not {mirror.percentage}")


def _experiment_step_problems(
    step: CanaryStep, path: str, routing: TrafficRouting | None
) -> Iterator[Problem]:
    experiment = step.experiment
    if experiment is None:
        return
    exp_path = child_path(path, "experiment")
    if not experiment.templates:
        yield Problem(child_path(exp_path, "templates"), "needs at least one template")
    for index, template in enumerate(experiment.templates):
        template_path = child_path(child_path(exp_path, "templates"), index)
        if template.spec_ref not in ("canary", "stable"):
            yield Problem(child_path(template_path, "specRef"),
                          f"must be canary or stable, not '{template.spec_ref}'")
        if template.weight is not None:
            if routing is None:
                yield Problem(child_path(template_path, "weight"),
                              "needs trafficRouting: only a traffic router can send a share "
                              "of traffic to an experiment")
            elif not 0 <= template.weight <= 100:
                yield Problem(child_path(template_path, "weight"),
                              f"must be between 0 and 100, not {template.weight}")


def _background_analysis_problems(
    analysis: RolloutAnalysisBackground, step_count: int, path: str
) -> Iterator[Problem]:
    yield from _analysis_problems(analysis, path)
    start = analysis.starting_step
    if start is None:
        return
    if start < 0:
        yield Problem(child_path(path, "startingStep"), f"must be 0 or more, not {start}")
    elif start > 0 and start >= step_count:
        yield Problem(
            child_path(path, "startingStep"),
            f"is {start} but the canary has {step_count} step(s) (numbered from 0), so the "
            "analysis would never start",
        )


def _analysis_problems(analysis: RolloutAnalysis, path: str) -> Iterator[Problem]:
    templates_path = child_path(path, "templates")
    if not analysis.templates:
        yield Problem(templates_path, "required: at least one {templateName} to run")
    for index, ref in enumerate(analysis.templates or []):
        if not ref.template_name:
            yield Problem(
                child_path(child_path(templates_path, index), "templateName"),
                "required: the name of an AnalysisTemplate (or ClusterAnalysisTemplate)",
            )
    seen: set[str] = set()
    for index, arg in enumerate(analysis.args or []):
        arg_path = child_path(child_path(path, "args"), index)
        if arg.name in seen:
            yield Problem(child_path(arg_path, "name"), f"argument {arg.name!r} is given twice")
        seen.add(arg.name)
        if (arg.value is None) == (arg.value_from is None):
            yield Problem(arg_path, "set exactly one of value or valueFrom")
        if arg.value_from is None:
            continue
        source = arg.value_from
        from_path = child_path(arg_path, "valueFrom")
        if (source.pod_template_hash_value is None) == (source.field_ref is None):
            yield Problem(from_path, "set exactly one of podTemplateHashValue or fieldRef")
        if source.field_ref is not None:
            field_path = source.field_ref.field_path
            if field_path.startswith("metadata") and not _is_downward_metadata(field_path):
                yield Problem(
                    child_path(child_path(from_path, "fieldRef"), "fieldPath"),
                    f"{field_path!r} is not a metadata field the rollout can read: use "
                    "metadata.name, metadata.namespace, metadata.uid, "
                    "metadata.labels['KEY'] or metadata.annotations['KEY']",
                )


def _is_downward_metadata(field_path: str) -> bool:
    if field_path in _DOWNWARD_METADATA:
        return True
    for prefix in ("metadata.labels['", "metadata.annotations['"):
        if (
            field_path.startswith(prefix)
            and field_path.endswith("']")
            and len(field_path) > len(prefix) + 2
        ):
            return True
    return False


def _blue_green_problems(blue_green: BlueGreenStrategy, path: str) -> Iterator[Problem]:
    if not blue_green.active_service:
        yield Problem(
            child_path(path, "activeService"),
            "required: the Service the blue-green rollout switches to the new version",
        )
    elif blue_green.active_service == blue_green.preview_service:
        yield Problem(
            child_path(path, "previewService"),
            "the active and preview services must be two different Services",
        )
    for field, value in (
        ("previewReplicaCount", blue_green.preview_replica_count),
        ("autoPromotionSeconds", blue_green.auto_promotion_seconds),
        ("scaleDownDelaySeconds", blue_green.scale_down_delay_seconds),
        ("abortScaleDownDelaySeconds", blue_green.abort_scale_down_delay_seconds),
        ("scaleDownDelayRevisionLimit", blue_green.scale_down_delay_revision_limit),
    ):
        yield from _non_negative(value, child_path(path, field))
    if blue_green.auto_promotion_seconds and blue_green.auto_promotion_enabled is not False:
        # Argo's controller pauses (and so counts autoPromotionSeconds) only when
        # autoPromotionEnabled is false; with the default it promotes at once.
        yield Problem(
            child_path(path, "autoPromotionSeconds"),
            "has no effect unless autoPromotionEnabled is false (the rollout promotes at "
            "once); set autoPromotionEnabled: false to pause this long before promoting",
            Severity.WARNING,
        )
    for field, analysis in (
        ("prePromotionAnalysis", blue_green.pre_promotion_analysis),
        ("postPromotionAnalysis", blue_green.post_promotion_analysis),
    ):
        if analysis is not None:
            yield from _analysis_problems(analysis, child_path(path, field))


def _extra_keys(model: ApiModel) -> set[str]:
    return set(model.model_extra or {})


def _non_negative(value: int | None, path: str) -> Iterator[Problem]:
    if value is not None and value < 0:
        yield Problem(path, f"must be 0 or more, not {value}")
