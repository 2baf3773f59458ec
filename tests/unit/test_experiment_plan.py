"""The Experiment planner, read like Argo's docs: given an experiment in some state and
what the cluster holds, when a pass is planned at some time, then these intents."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from rollouts.api import Experiment, check_object
from rollouts.core.observed import HASH_LABEL, AnalysisRunView, ReplicaSetView
from rollouts.experiments import is_terminating, plan_experiment
from rollouts.experiments.work import (
    EXPERIMENT_NAME_ANNOTATION,
    TEMPLATE_NAME_ANNOTATION,
    ExperimentPlan,
    ObservedExperiment,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def template(name: str, *, replicas: int | None = None, service: bool = False
             ) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "selector": {"matchLabels": {"app": "demo", "variant": name}},
        "template": {"metadata": {"labels": {"app": "demo", "variant": name}},
                     "spec": {"containers": [{"name": "app", "image": f"app:{name}",
                                              "ports": [{"containerPort": 8080,
                                                         "name": "http"}]}]}},
    }
    if replicas is not None:
        entry["replicas"] = replicas
    if service:
        entry["service"] = {}
    return entry


def experiment(*, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"templates": [template("baseline"), template("canary")]}
    body.update(spec)
    raw: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
        "metadata": {"name": "demo", "namespace": "ns", "uid": "uid-1",
                     "resourceVersion": "7"},
        "spec": body,
    }
    if status is not None:
        raw["status"] = status
    return raw


def replica_set(name: str, *, replicas: int = 1, available: int = 1,
                annotations: dict[str, str] | None = None) -> ReplicaSetView:
    return ReplicaSetView.parse({
        "metadata": {"name": f"demo-{name}", "labels": {HASH_LABEL: f"h-{name}"},
                     "annotations": {EXPERIMENT_NAME_ANNOTATION: "demo",
                                     TEMPLATE_NAME_ANNOTATION: name, **(annotations or {})},
                     "creationTimestamp": stamp(T0)},
        "spec": {"replicas": replicas,
                 "template": template(name)["template"]},
        "status": {"replicas": replicas, "readyReplicas": available,
                   "availableReplicas": available},
    })


def run(name: str, phase: str, message: str = "", terminated: bool = False
        ) -> AnalysisRunView:
    return AnalysisRunView.parse({
        "metadata": {"name": name}, "spec": {"terminate": terminated},
        "status": {"phase": phase, "message": message}})


ANALYSIS_TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
    "metadata": {"name": "ok", "namespace": "ns"},
    "spec": {"args": [{"name": "hash"}],
             "metrics": [{"name": "m", "provider": {"web": {"url": "http://x/{{args.hash}}"}}}]},
}


def observed(now: datetime = T0, *, replica_sets: dict[str, ReplicaSetView] | None = None,
             runs: dict[str, AnalysisRunView] | None = None, services: dict[str, str] | None = None,
             other_services: frozenset[str] = frozenset(),
             templates: dict[str, dict[str, Any]] | None = None) -> ObservedExperiment:
    return ObservedExperiment(
        replica_sets=replica_sets or {}, services=services or {},
        other_services=other_services, analysis_runs=runs or {},
        templates={"ok": ANALYSIS_TEMPLATE} if templates is None else templates,
        cluster_templates={}, now=now)


def plan(raw: dict[str, Any], seen: ObservedExperiment) -> ExperimentPlan:
    result = check_object(raw)
    assert result.ok, result.problems
    assert isinstance(result.obj, Experiment)
    return plan_experiment(raw, result.obj, seen)


def running_status(available_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "phase": "Running", "availableAt": stamp(available_at),
        "templateStatuses": [
            {"name": name, "status": "Running", "replicas": 1, "updatedReplicas": 1,
             "readyReplicas": 1, "availableReplicas": 1, "podTemplateHash": f"h-{name}",
             "lastTransitionTime": stamp(available_at)}
            for name in ("baseline", "canary")],
        **extra,
    }


BOTH_UP = {"baseline": replica_set("baseline"), "canary": replica_set("canary")}


class TestGivenANewExperiment:
    def test_then_one_replica_set_per_template_is_created_owned_by_it(self) -> None:
        result = plan(experiment(), observed())
        names = [m["metadata"]["name"] for m in result.create_replica_sets]
        assert names == ["demo-baseline", "demo-canary"]
        rs = result.create_replica_sets[0]
        pod_hash = rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL]
        assert rs["metadata"]["labels"][HASH_LABEL] == pod_hash
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "demo", "variant": "baseline",
                                                         HASH_LABEL: pod_hash}
        assert rs["spec"]["replicas"] == 1
        assert rs["metadata"]["annotations"] == {EXPERIMENT_NAME_ANNOTATION: "demo",
                                                 TEMPLATE_NAME_ANNOTATION: "baseline"}
        owner = rs["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "Experiment", "demo", "uid-1", True)

    def test_then_it_is_pending_with_templates_progressing(self) -> None:
        result = plan(experiment(), observed())
        assert result.status["phase"] == "Pending"
        assert [t["status"] for t in result.status["templateStatuses"]] == [
            "Progressing", "Progressing"]
        assert "availableAt" not in result.status

    def test_when_replicas_is_given_then_the_set_has_that_many(self) -> None:
        raw = experiment(templates=[template("only", replicas=3)])
        assert plan(raw, observed()).create_replica_sets[0]["spec"]["replicas"] == 3


class TestGivenTemplatesBecomingAvailable:
    def test_when_all_pods_are_available_then_running_and_available_at_is_stamped(self) -> None:
        result = plan(experiment(duration="2s"), observed(replica_sets=BOTH_UP))
        assert result.status["phase"] == "Running"
        assert result.status["availableAt"] == stamp(T0)
        assert result.wake_at["duration"] == T0 + timedelta(seconds=2)

    def test_when_one_template_is_still_short_then_pending(self) -> None:
        seen = observed(replica_sets={"baseline": replica_set("baseline"),
                                      "canary": replica_set("canary", available=0)})
        result = plan(experiment(), seen)
        assert result.status["phase"] == "Pending"

    def test_when_the_progress_deadline_passes_then_failed_naming_the_template(self) -> None:
        status = {"phase": "Pending", "templateStatuses": [
            {"name": "baseline", "status": "Progressing", "lastTransitionTime": stamp(T0),
             "replicas": 1, "updatedReplicas": 1},
            {"name": "canary", "status": "Running", "availableReplicas": 1, "replicas": 1,
             "updatedReplicas": 1, "readyReplicas": 1, "lastTransitionTime": stamp(T0)}]}
        seen = observed(T0 + timedelta(seconds=11), replica_sets={
            "baseline": replica_set("baseline", available=0), "canary": replica_set("canary")})
        result = plan(experiment(status=status, progressDeadlineSeconds=10), seen)
        assert result.status["phase"] == "Failed"
        assert "Template 'baseline' exceeded its progressDeadlineSeconds (10)" in (
            result.status["message"])

    def test_before_the_deadline_then_a_timer_is_set_for_it(self) -> None:
        status = {"phase": "Pending", "templateStatuses": [
            {"name": "baseline", "status": "Progressing", "lastTransitionTime": stamp(T0),
             "replicas": 1, "updatedReplicas": 1}]}
        raw = experiment(status=status, templates=[template("baseline")])
        seen = observed(T0 + timedelta(seconds=5),
                        replica_sets={"baseline": replica_set("baseline", available=0)})
        result = plan(raw, seen)
        assert result.wake_at["progress-deadline-baseline"] == T0 + timedelta(seconds=600)


class TestGivenADuration:
    def test_when_it_elapses_then_successful_and_the_sets_scale_down_after_the_delay(
            self) -> None:
        raw = experiment(duration="2s", status=running_status(T0))
        result = plan(raw, observed(T0 + timedelta(seconds=2), replica_sets=BOTH_UP))
        assert result.status["phase"] == "Successful"
        assert [t["status"] for t in result.status["templateStatuses"]] == [
            "Successful", "Successful"]
        assert result.requeue
        # next pass: completed, so the sets get their scale-down deadline
        raw = experiment(duration="2s", status=result.status)
        later = T0 + timedelta(seconds=3)
        result = plan(raw, observed(later, replica_sets=BOTH_UP))
        assert result.annotate_replica_sets["demo-baseline"] == {
            "scale-down-deadline": stamp(later + timedelta(seconds=30))}
        assert result.scale == {}
        assert result.wake_at["scale-down-baseline"] == later + timedelta(seconds=30)

    def test_when_the_scale_down_deadline_has_passed_then_scaled_to_zero(self) -> None:
        deadline = {"scale-down-deadline": stamp(T0)}
        status = running_status(T0 - timedelta(seconds=60), phase="Successful")
        for entry in status["templateStatuses"]:
            entry["status"] = "Successful"
        seen = observed(T0, replica_sets={
            "baseline": replica_set("baseline", annotations=deadline),
            "canary": replica_set("canary", annotations=deadline)})
        result = plan(experiment(duration="2s", status=status), seen)
        assert result.scale == {"demo-baseline": 0, "demo-canary": 0}

    def test_when_the_delay_is_zero_then_scaled_to_zero_at_once(self) -> None:
        status = running_status(T0 - timedelta(seconds=60), phase="Successful")
        result = plan(experiment(status=status, scaleDownDelaySeconds=0),
                      observed(replica_sets=BOTH_UP))
        assert result.scale == {"demo-baseline": 0, "demo-canary": 0}
        assert result.annotate_replica_sets == {}


class TestGivenAnalyses:
    ANALYSES = [{"name": "check", "templateName": "ok",
                 "args": [{"name": "hash", "value": "{{templates.canary.podTemplateHash}}"}]}]

    def test_before_the_templates_are_available_then_no_run_is_started(self) -> None:
        result = plan(experiment(analyses=self.ANALYSES), observed())
        assert result.create_analysis_runs == []

    def test_when_available_then_a_run_is_created_with_experiment_args(self) -> None:
        result = plan(experiment(analyses=self.ANALYSES), observed(replica_sets=BOTH_UP))
        (manifest,) = result.create_analysis_runs
        assert manifest["metadata"]["name"] == "demo-check"
        assert manifest["metadata"]["ownerReferences"][0]["kind"] == "Experiment"
        assert manifest["spec"]["args"] == [{"name": "hash", "value": "h-canary"}]
        assert manifest["spec"]["metrics"][0]["name"] == "m"
        assert result.status["analysisRuns"] == [
            {"name": "check", "analysisRun": "demo-check", "phase": "Pending"}]
        assert result.status["phase"] == "Running"

    def test_when_the_template_is_missing_then_error_naming_the_analysis(self) -> None:
        result = plan(experiment(analyses=self.ANALYSES), observed(templates={}))
        assert result.status["phase"] == "Error"
        assert "analysis 'check'" in result.status["message"]
        assert "AnalysisTemplate 'ok' not found" in result.status["message"]

    def test_when_the_run_fails_then_failed_naming_the_analysis(self) -> None:
        status = running_status(T0, analysisRuns=[
            {"name": "check", "analysisRun": "demo-check", "phase": "Running"}])
        seen = observed(replica_sets=BOTH_UP,
                        runs={"demo-check": run("demo-check", "Failed", "metric m failed")})
        result = plan(experiment(analyses=self.ANALYSES, status=status), seen)
        assert result.status["phase"] == "Failed"
        assert result.status["message"] == "AnalysisRun 'check' Failed: metric m failed"
        assert any(e.reason == "ExperimentFailed" and e.type == "Warning"
                   for e in result.events)

    def test_without_duration_when_all_succeed_but_none_is_required_then_still_running(
            self) -> None:
        status = running_status(T0, analysisRuns=[
            {"name": "check", "analysisRun": "demo-check", "phase": "Running"}])
        seen = observed(replica_sets=BOTH_UP, runs={"demo-check": run("demo-check",
                                                                      "Successful")})
        result = plan(experiment(analyses=self.ANALYSES, status=status), seen)
        assert result.status["phase"] == "Running"

    def test_without_duration_when_the_required_ones_succeed_then_successful(self) -> None:
        analyses = [dict(self.ANALYSES[0], requiredForCompletion=True)]
        status = running_status(T0, analysisRuns=[
            {"name": "check", "analysisRun": "demo-check", "phase": "Running"}])
        seen = observed(replica_sets=BOTH_UP, runs={"demo-check": run("demo-check",
                                                                      "Successful")})
        result = plan(experiment(analyses=analyses, status=status), seen)
        assert result.status["phase"] == "Successful"
        assert result.status["message"] == "Required AnalysisRuns completed"

    def test_when_the_duration_ends_with_the_run_still_going_then_successful_and_it_is_terminated(
            self) -> None:
        status = running_status(T0, analysisRuns=[
            {"name": "check", "analysisRun": "demo-check", "phase": "Running"}])
        seen = observed(T0 + timedelta(seconds=5), replica_sets=BOTH_UP,
                        runs={"demo-check": run("demo-check", "Running")})
        result = plan(experiment(duration="2s", analyses=self.ANALYSES, status=status), seen)
        assert result.status["phase"] == "Successful"
        again = plan(experiment(duration="2s", analyses=self.ANALYSES, status=result.status),
                     seen)
        assert again.terminate_analysis_runs == ["demo-check"]

    def test_when_the_run_is_not_in_the_cache_yet_then_creating_it_again_is_planned(
            self) -> None:
        status = running_status(T0, analysisRuns=[
            {"name": "check", "analysisRun": "demo-check", "phase": "Pending"}])
        result = plan(experiment(analyses=self.ANALYSES, status=status),
                      observed(replica_sets=BOTH_UP))
        assert [m["metadata"]["name"] for m in result.create_analysis_runs] == ["demo-check"]
        assert result.status["phase"] == "Running"


class TestGivenTerminate:
    def test_then_successful_and_runs_are_terminated_and_sets_scale_down(self) -> None:
        analyses = TestGivenAnalyses.ANALYSES
        status = running_status(T0, analysisRuns=[
            {"name": "check", "analysisRun": "demo-check", "phase": "Running"}])
        seen = observed(replica_sets=BOTH_UP, runs={"demo-check": run("demo-check", "Running")})
        result = plan(experiment(analyses=analyses, status=status, terminate=True), seen)
        assert result.status["phase"] == "Successful"
        assert result.status["message"] == "Experiment terminated"
        assert result.terminate_analysis_runs == ["demo-check"]
        assert set(result.annotate_replica_sets) == {"demo-baseline", "demo-canary"}

    def test_an_already_failed_experiment_stays_failed(self) -> None:
        status = running_status(T0, phase="Failed", message="AnalysisRun 'x' Failed")
        result = plan(experiment(status=status, terminate=True), observed(replica_sets=BOTH_UP))
        assert result.status["phase"] == "Failed"
        assert result.status["message"] == "AnalysisRun 'x' Failed"

    def test_is_terminating_follows_argo(self) -> None:
        raw = experiment()
        model = check_object(raw).obj
        assert isinstance(model, Experiment)
        assert not is_terminating(model, {})
        assert is_terminating(model, {"phase": "Successful"})
        assert is_terminating(model, {"templateStatuses": [{"name": "a", "status": "Failed"}]})
        assert is_terminating(model, {"analysisRuns": [{"name": "a", "phase": "Inconclusive"}]})


class TestGivenAService:
    def test_when_the_set_exists_then_a_service_selecting_its_pods_is_created(self) -> None:
        raw = experiment(templates=[template("canary", service=True)])
        result = plan(raw, observed(replica_sets={"canary": replica_set("canary")}))
        (service,) = result.create_services
        assert service["metadata"]["name"] == "demo-canary"
        assert service["spec"]["selector"] == {"app": "demo", "variant": "canary",
                                               HASH_LABEL: "h-canary"}
        assert service["spec"]["ports"] == [
            {"port": 8080, "targetPort": 8080, "protocol": "TCP", "name": "http"}]
        assert result.status["templateStatuses"][0]["serviceName"] == "demo-canary"

    def test_when_a_foreign_service_has_the_name_then_error(self) -> None:
        raw = experiment(templates=[template("canary", service=True)])
        seen = observed(replica_sets={"canary": replica_set("canary")},
                        other_services=frozenset({"demo-canary"}))
        result = plan(raw, seen)
        assert result.create_services == []
        assert result.status["phase"] == "Error"
        assert "not this experiment's" in result.status["message"]

    def test_when_scaled_to_zero_then_the_service_is_deleted(self) -> None:
        status = running_status(T0, phase="Successful")
        raw = experiment(templates=[template("canary", service=True)], status=status)
        seen = observed(replica_sets={"canary": replica_set("canary", replicas=0,
                                                            available=0)},
                        services={"canary": "demo-canary"})
        assert plan(raw, seen).delete_services == ["demo-canary"]


class TestGivenAnInvalidSpec:
    def test_then_error_with_invalid_spec_and_nothing_created(self) -> None:
        raw = experiment()
        result = plan_experiment(raw, None, observed(), ["spec.templates[0]: bad"])
        assert result.status["phase"] == "Error"
        assert result.status["message"] == "InvalidSpec: spec.templates[0]: bad"
        assert result.create_replica_sets == []
        assert result.status["conditions"][0]["type"] == "InvalidSpec"

    def test_lint_rules_name_the_field(self) -> None:
        raw = experiment(templates=[template("a"), template("a")])
        raw["spec"]["templates"][1]["selector"] = {"matchLabels": {"app": "other"}}
        problems = {p.path: p.message for p in check_object(raw).problems}
        assert "used twice" in problems["spec.templates[1].name"]
        assert "no label app=other" in problems["spec.templates[1].selector.matchLabels.app"]


class TestGivenASecondPassWithNothingNew:
    def test_then_the_status_does_not_change(self) -> None:
        raw = experiment(duration="1h")
        first = plan(raw, observed(replica_sets=BOTH_UP))
        second = plan(experiment(duration="1h", status=copy.deepcopy(first.status)),
                      observed(T0 + timedelta(seconds=5), replica_sets=BOTH_UP))
        assert second.status == first.status
        assert second.events == []
