"""The rules a schema cannot say: each broken spec gets a problem naming the field.

Every test starts from a valid object, breaks one thing, and checks the problem's path,
severity and that the message says what to do.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollouts.api import Problem, Rollout, Severity, SpecError, check_object, parse_object

POD_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.25",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            }
        ]
    },
}


def canary_rollout(**canary: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": copy.deepcopy(POD_TEMPLATE),
            "strategy": {"canary": canary or {"steps": [{"setWeight": 20}, {"pause": {}}]}},
        },
    }


def routed_canary(**extra: Any) -> dict[str, Any]:
    return canary_rollout(
        canaryService="web-canary",
        stableService="web-stable",
        trafficRouting={"nginx": {"stableIngress": "web"}},
        **extra,
    )


def analysis_template(**metric: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate"},
        "spec": {
            "metrics": [
                {
                    "name": "success-rate",
                    "successCondition": "result[0] >= 0.95",
                    "provider": {"prometheus": {"address": "http://prom:9090", "query": "up"}},
                    **metric,
                }
            ]
        },
    }


def application(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example/apps.git", "path": "guestbook"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            **spec,
        },
    }


def problems(doc: dict[str, Any]) -> dict[str, Problem]:
    return {problem.path: problem for problem in check_object(doc).problems}


def error_at(doc: dict[str, Any], path: str) -> str:
    found = problems(doc)
    assert path in found, f"no problem at {path}; found {sorted(found)}"
    assert found[path].severity is Severity.ERROR
    return found[path].message


class TestGivenValidObjects:
    @pytest.mark.parametrize(
        "doc",
        [canary_rollout(), routed_canary(), analysis_template(), application()],
        ids=["canary", "routed-canary", "analysis-template", "application"],
    )
    def test_when_checked_then_there_is_no_problem(self, doc: dict[str, Any]) -> None:
        assert problems(doc) == {}


class TestGivenCanarySteps:
    def test_when_a_step_sets_two_actions_then_the_step_is_named(self) -> None:
        doc = canary_rollout(steps=[{"setWeight": 10}, {"setWeight": 20, "pause": {}}])
        assert "setWeight, pause" in error_at(doc, "spec.strategy.canary.steps[1]")

    def test_when_a_step_sets_nothing_then_it_lists_the_choices(self) -> None:
        doc = canary_rollout(steps=[{"setWeight": 10}, {}, {"pause": {}}])
        assert "setWeight, pause, analysis, setCanaryScale, setHeaderRoute" in error_at(
            doc, "spec.strategy.canary.steps[1]"
        )

    @pytest.mark.parametrize("weight", [-1, 101])
    def test_when_set_weight_is_out_of_range_then_error(self, weight: int) -> None:
        doc = canary_rollout(steps=[{"setWeight": weight}])
        assert "between 0 and 100" in error_at(doc, "spec.strategy.canary.steps[0].setWeight")

    def test_when_a_pause_is_negative_then_error_suggests_an_indefinite_pause(self) -> None:
        doc = canary_rollout(steps=[{"pause": {"duration": "-5s"}}])
        assert "pause: {}" in error_at(doc, "spec.strategy.canary.steps[0].pause.duration")

    def test_when_a_pause_duration_is_garbage_then_error_says_how_to_write_it(self) -> None:
        doc = canary_rollout(steps=[{"pause": {"duration": "soon"}}])
        assert "30s" in error_at(doc, "spec.strategy.canary.steps[0].pause.duration")

    def test_when_set_weight_is_a_string_then_error_says_it_must_be_a_number(self) -> None:
        doc = canary_rollout(steps=[{"setWeight": "20"}])
        assert "whole number" in error_at(doc, "spec.strategy.canary.steps[0].setWeight")

    def test_when_set_canary_scale_without_traffic_routing_then_error(self) -> None:
        doc = canary_rollout(steps=[{"setCanaryScale": {"replicas": 1}}])
        assert "trafficRouting" in error_at(doc, "spec.strategy.canary.steps[0].setCanaryScale")

    def test_when_set_canary_scale_sets_two_things_then_error(self) -> None:
        doc = routed_canary(steps=[{"setCanaryScale": {"replicas": 1, "weight": 10}}])
        message = error_at(doc, "spec.strategy.canary.steps[0].setCanaryScale")
        assert "exactly one of replicas, weight or matchTrafficWeight" in message

    def test_when_an_analysis_step_has_no_template_then_error(self) -> None:
        doc = canary_rollout(steps=[{"analysis": {"templates": []}}])
        assert "at least one" in error_at(doc, "spec.strategy.canary.steps[0].analysis.templates")

    def test_when_an_argument_has_both_value_and_value_from_then_error(self) -> None:
        arg = {"name": "hash", "value": "x", "valueFrom": {"podTemplateHashValue": "Latest"}}
        doc = canary_rollout(
            steps=[{"analysis": {"templates": [{"templateName": "t"}], "args": [arg]}}]
        )
        assert "exactly one of value or valueFrom" in error_at(
            doc, "spec.strategy.canary.steps[0].analysis.args[0]"
        )

    def test_when_pod_template_hash_value_is_unknown_then_error_lists_the_choices(self) -> None:
        arg = {"name": "hash", "valueFrom": {"podTemplateHashValue": "Canary"}}
        doc = canary_rollout(
            steps=[{"analysis": {"templates": [{"templateName": "t"}], "args": [arg]}}]
        )
        path = "spec.strategy.canary.steps[0].analysis.args[0].valueFrom.podTemplateHashValue"
        assert "'Stable' or 'Latest'" in error_at(doc, path)

    def test_when_background_analysis_starts_after_the_last_step_then_error(self) -> None:
        doc = canary_rollout(
            steps=[{"setWeight": 50}],
            analysis={"templates": [{"templateName": "t"}], "startingStep": 3},
        )
        assert "never start" in error_at(doc, "spec.strategy.canary.analysis.startingStep")


class TestGivenCanaryServicesAndRouting:
    def test_when_both_surge_limits_are_zero_then_error(self) -> None:
        doc = canary_rollout(maxSurge=0, maxUnavailable="0%")
        assert "cannot both be 0" in error_at(doc, "spec.strategy.canary.maxSurge")

    def test_when_max_surge_is_a_bare_string_then_error_shows_both_spellings(self) -> None:
        doc = canary_rollout(maxSurge="1")
        assert "'25%'" in error_at(doc, "spec.strategy.canary.maxSurge")

    def test_when_the_same_service_is_stable_and_canary_then_error(self) -> None:
        doc = routed_canary()
        doc["spec"]["strategy"]["canary"]["canaryService"] = "web-stable"
        assert "two different" in error_at(doc, "spec.strategy.canary.stableService")

    def test_when_traffic_routing_has_no_services_then_each_missing_one_is_named(self) -> None:
        doc = canary_rollout(trafficRouting={"nginx": {"stableIngress": "web"}})
        assert "required with trafficRouting" in error_at(doc, "spec.strategy.canary.canaryService")
        assert "required with trafficRouting" in error_at(doc, "spec.strategy.canary.stableService")

    def test_when_traffic_routing_names_no_router_then_error(self) -> None:
        doc = routed_canary()
        doc["spec"]["strategy"]["canary"]["trafficRouting"] = {}
        assert "no traffic router" in error_at(doc, "spec.strategy.canary.trafficRouting")

    def test_when_nginx_has_no_stable_ingress_then_error(self) -> None:
        doc = routed_canary()
        doc["spec"]["strategy"]["canary"]["trafficRouting"] = {"nginx": {}}
        error_at(doc, "spec.strategy.canary.trafficRouting.nginx.stableIngress")

    def test_when_the_gateway_api_plugin_has_no_route_then_the_path_quotes_the_plugin(self) -> None:
        doc = routed_canary()
        doc["spec"]["strategy"]["canary"]["trafficRouting"] = {
            "plugins": {"argoproj-labs/gatewayAPI": {"namespace": "default"}}
        }
        path = 'spec.strategy.canary.trafficRouting.plugins["argoproj-labs/gatewayAPI"].httpRoute'
        assert "HTTPRoute" in error_at(doc, path)

    def test_when_the_gateway_api_plugin_is_configured_then_it_is_a_router(self) -> None:
        doc = routed_canary()
        doc["spec"]["strategy"]["canary"]["trafficRouting"] = {
            "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": "default"}}
        }
        assert problems(doc) == {}
        rollout = parse_object(doc)
        assert isinstance(rollout, Rollout)
        assert rollout.spec.strategy is not None and rollout.spec.strategy.canary is not None
        routing = rollout.spec.strategy.canary.traffic_routing
        assert routing is not None and routing.routers == ["gatewayAPI"]

    def test_when_scale_down_delay_is_set_without_routing_then_error(self) -> None:
        doc = canary_rollout(scaleDownDelaySeconds=30)
        assert "only applies with trafficRouting" in error_at(
            doc, "spec.strategy.canary.scaleDownDelaySeconds"
        )

    def test_when_dynamic_stable_scale_meets_scale_down_delay_then_error(self) -> None:
        doc = routed_canary(dynamicStableScale=True, scaleDownDelaySeconds=10)
        error_at(doc, "spec.strategy.canary.dynamicStableScale")


class TestGivenTheRolloutShape:
    def test_when_both_strategies_are_set_then_error(self) -> None:
        doc = canary_rollout()
        doc["spec"]["strategy"]["blueGreen"] = {"activeService": "web"}
        assert "exactly one of canary or blueGreen" in error_at(doc, "spec.strategy")

    def test_when_no_strategy_is_set_then_error(self) -> None:
        doc = canary_rollout()
        del doc["spec"]["strategy"]
        assert "exactly one of canary or blueGreen" in error_at(doc, "spec.strategy")

    def test_when_template_and_workload_ref_are_both_set_then_error(self) -> None:
        doc = canary_rollout()
        doc["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
        assert "not both" in error_at(doc, "spec.template")

    def test_when_neither_template_nor_workload_ref_then_error(self) -> None:
        doc = canary_rollout()
        del doc["spec"]["template"]
        assert "workloadRef" in error_at(doc, "spec.template")

    def test_when_workload_ref_names_a_replica_set_then_error(self) -> None:
        doc = canary_rollout()
        del doc["spec"]["template"]
        doc["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web"}
        assert "only Deployment" in error_at(doc, "spec.workloadRef.kind")

    def test_when_the_selector_does_not_match_the_template_then_the_label_is_named(self) -> None:
        doc = canary_rollout()
        doc["spec"]["selector"] = {"matchLabels": {"app": "api"}}
        assert "app=api" in error_at(doc, "spec.selector.matchLabels.app")

    def test_when_a_container_memory_is_not_a_quantity_then_its_path_is_named(self) -> None:
        doc = canary_rollout()
        doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {"memory": "lots"}
        error_at(doc, "spec.template.spec.containers[0].resources.limits.memory")

    def test_when_a_request_exceeds_its_limit_then_error(self) -> None:
        doc = canary_rollout()
        doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {"cpu": "50m"}
        assert "above the limit (50m)" in error_at(
            doc, "spec.template.spec.containers[0].resources.requests.cpu"
        )

    def test_when_the_pods_restart_policy_is_never_then_error(self) -> None:
        doc = canary_rollout()
        doc["spec"]["template"]["spec"]["restartPolicy"] = "Never"
        assert "ReplicaSet" in error_at(doc, "spec.template.spec.restartPolicy")

    def test_when_progress_deadline_is_not_above_min_ready_then_error(self) -> None:
        doc = canary_rollout()
        doc["spec"]["minReadySeconds"] = 30
        doc["spec"]["progressDeadlineSeconds"] = 30
        error_at(doc, "spec.progressDeadlineSeconds")

    def test_when_the_name_is_missing_then_error(self) -> None:
        doc = canary_rollout()
        doc["metadata"] = {}
        error_at(doc, "metadata.name")


class TestGivenBlueGreen:
    def rollout(self, **blue_green: Any) -> dict[str, Any]:
        doc = canary_rollout()
        doc["spec"]["strategy"] = {"blueGreen": blue_green}
        return doc

    def test_when_active_service_is_missing_then_error(self) -> None:
        assert "required" in error_at(
            self.rollout(previewService="p"), "spec.strategy.blueGreen.activeService"
        )

    def test_when_preview_is_the_active_service_then_error(self) -> None:
        doc = self.rollout(activeService="web", previewService="web")
        error_at(doc, "spec.strategy.blueGreen.previewService")

    def test_when_auto_promotion_seconds_is_set_with_auto_promotion_on_then_a_warning(
        self,
    ) -> None:
        # Argo's controller counts autoPromotionSeconds only while paused, and it pauses
        # only with autoPromotionEnabled: false.
        doc = self.rollout(activeService="web", autoPromotionSeconds=30)
        found = problems(doc)["spec.strategy.blueGreen.autoPromotionSeconds"]
        assert found.severity is Severity.WARNING
        assert "autoPromotionEnabled is false" in found.message

    def test_when_auto_promotion_seconds_is_set_with_auto_promotion_off_then_fine(
        self,
    ) -> None:
        doc = self.rollout(activeService="web", autoPromotionEnabled=False, autoPromotionSeconds=30)
        assert "spec.strategy.blueGreen.autoPromotionSeconds" not in problems(doc)


class TestGivenMetrics:
    def test_when_a_metric_has_no_provider_then_error(self) -> None:
        doc = analysis_template(provider={})
        assert "prometheus, web or job" in error_at(doc, "spec.metrics[0].provider")

    def test_when_a_metric_has_two_providers_then_error(self) -> None:
        doc = analysis_template(
            provider={"prometheus": {"query": "up"}, "web": {"url": "http://x"}}
        )
        assert "prometheus, web" in error_at(doc, "spec.metrics[0].provider")

    def test_when_count_is_below_the_failure_limit_then_error(self) -> None:
        doc = analysis_template(count=2, interval="1m", failureLimit=3)
        assert "failureLimit (3)" in error_at(doc, "spec.metrics[0].count")

    def test_when_count_is_above_one_without_interval_then_error(self) -> None:
        doc = analysis_template(count=3)
        error_at(doc, "spec.metrics[0].interval")

    def test_when_limits_are_placeholders_then_they_wait_for_the_run(self) -> None:
        doc = analysis_template(count="{{args.count}}", failureLimit="{{args.limit}}")
        assert problems(doc) == {}

    def test_when_metric_names_repeat_then_error(self) -> None:
        doc = analysis_template()
        doc["spec"]["metrics"].append(copy.deepcopy(doc["spec"]["metrics"][0]))
        assert "used twice" in error_at(doc, "spec.metrics[1].name")

    def test_when_a_job_template_lacks_a_restart_policy_then_error(self) -> None:
        job = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
        doc = analysis_template(provider={"job": job})
        assert "Never or OnFailure" in error_at(
            doc, "spec.metrics[0].provider.job.spec.template.spec.restartPolicy"
        )

    def test_when_a_web_body_is_sent_with_get_then_error(self) -> None:
        doc = analysis_template(provider={"web": {"url": "http://x", "body": "{}"}})
        error_at(doc, "spec.metrics[0].provider.web.body")

    def test_when_a_dry_run_rule_matches_nothing_in_a_template_then_only_a_warning(self) -> None:
        doc = analysis_template()
        doc["spec"]["dryRun"] = [{"metricName": "latency"}]
        found = problems(doc)["spec.dryRun[0].metricName"]
        assert found.severity is Severity.WARNING

    def test_when_a_dry_run_rule_matches_nothing_in_a_run_then_error(self) -> None:
        doc = analysis_template()
        doc["kind"] = "AnalysisRun"
        doc["spec"]["dryRun"] = [{"metricName": "latency"}]
        error_at(doc, "spec.dryRun[0].metricName")

    def test_when_an_argument_from_a_secret_names_two_sources_then_error(self) -> None:
        doc = analysis_template()
        doc["spec"]["args"] = [
            {
                "name": "token",
                "valueFrom": {
                    "secretKeyRef": {"name": "s", "key": "k"},
                    "fieldRef": {"fieldPath": "metadata.name"},
                },
            }
        ]
        error_at(doc, "spec.args[0].valueFrom")


class TestGivenApplications:
    def test_when_a_sync_option_is_misspelled_then_error_lists_the_known_ones(self) -> None:
        doc = application(syncPolicy={"syncOptions": ["CreateNamspace=true"]})
        assert "CreateNamespace" in error_at(doc, "spec.syncPolicy.syncOptions[0]")

    def test_when_a_sync_option_is_argo_but_not_ours_then_a_warning(self) -> None:
        doc = application(syncPolicy={"syncOptions": ["Replace=true"]})
        found = problems(doc)["spec.syncPolicy.syncOptions[0]"]
        assert found.severity is Severity.WARNING and "not supported yet" in found.message

    def test_when_another_cluster_is_the_destination_then_no_problem(self) -> None:
        # Registered clusters are resolved by the controller; lint cannot know them.
        for destination in ({"server": "https://other:6443"}, {"name": "staging"}):
            assert not [p for p in problems(application(destination=destination)).values()
                        if p.severity is not Severity.WARNING]

    def test_when_both_server_and_name_are_set_then_error(self) -> None:
        doc = application(destination={"server": "https://other:6443", "name": "other"})
        assert "not both" in error_at(doc, "spec.destination")

    def test_when_neither_server_nor_name_is_set_then_error(self) -> None:
        doc = application(destination={"namespace": "x"})
        assert "destination.name" in error_at(doc, "spec.destination.server")

    def test_when_the_path_leaves_the_repository_then_error(self) -> None:
        doc = application(source={"repoURL": "https://git.example/a.git", "path": "../x"})
        error_at(doc, "spec.source.path")

    def test_when_a_project_other_than_default_then_no_warning_as_projects_are_enforced(
            self) -> None:
        assert "spec.project" not in problems(application(project="team-a"))

    def test_when_ignore_differences_has_a_bad_pointer_then_error(self) -> None:
        doc = application(
            ignoreDifferences=[{"kind": "Deployment", "jsonPointers": ["spec/replicas"]}]
        )
        error_at(doc, "spec.ignoreDifferences[0].jsonPointers[0]")

    def test_when_the_repo_url_is_missing_then_the_argo_spelling_is_named(self) -> None:
        doc = application(source={"path": "guestbook"})
        assert "required" in error_at(doc, "spec.source.repoURL")


class TestGivenParseObject:
    def test_when_the_spec_is_broken_then_one_spec_error_lists_every_error(self) -> None:
        doc = canary_rollout(steps=[{"setWeight": 120}, {}])
        with pytest.raises(SpecError) as raised:
            parse_object(doc)
        paths = [problem.path for problem in raised.value.problems]
        assert paths == ["spec.strategy.canary.steps[0].setWeight", "spec.strategy.canary.steps[1]"]

    def test_when_only_warnings_then_the_model_is_returned(self) -> None:
        doc = canary_rollout(antiAffinity={"requiredDuringSchedulingIgnoredDuringExecution": {}})
        assert parse_object(doc).kind == "Rollout"
