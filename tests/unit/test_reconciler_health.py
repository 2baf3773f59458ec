"""Health per kind, with Argo CD's semantics, on literal objects."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.health import (
    Health,
    affects_app_health,
    app_health,
    missing_health,
    resource_health,
)
from rollouts.api.phases import HealthStatusCode as H


def obj(api_version: str, kind: str, spec: dict[str, Any] | None = None,
        status: dict[str, Any] | None = None, generation: int = 1,
        **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "x", "generation": generation, **metadata},
            "spec": spec or {}, "status": status or {}}


def deployment(spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
            "availableReplicas": 3}
    return obj("apps/v1", "Deployment", {"replicas": 3, **(spec or {})}, {**base, **status})


class TestDeployment:
    def test_rolled_out_and_available_is_healthy(self) -> None:
        assert resource_health(deployment()) == Health(H.HEALTHY)

    def test_generation_not_yet_observed_is_progressing(self) -> None:
        health = resource_health(deployment(observedGeneration=0))
        assert health.status is H.PROGRESSING
        assert "generation" in health.message

    @pytest.mark.parametrize(("status", "says"), [
        ({"updatedReplicas": 1}, "1 out of 3 new replicas have been updated"),
        ({"replicas": 4}, "1 old replicas are pending termination"),
        ({"availableReplicas": 2}, "2 of 3 updated replicas are available"),
    ])
    def test_a_rollout_under_way_is_progressing(self, status: dict[str, Any], says: str) -> None:
        health = resource_health(deployment(**status))
        assert health.status is H.PROGRESSING and says in health.message

    def test_an_exceeded_progress_deadline_is_degraded(self) -> None:
        condition = {"type": "Progressing", "status": "False",
                     "reason": "ProgressDeadlineExceeded"}
        health = resource_health(deployment(updatedReplicas=1, conditions=[condition]))
        assert health.status is H.DEGRADED and "progress deadline" in health.message

    def test_paused_is_suspended_whatever_its_progress(self) -> None:
        assert resource_health(deployment({"paused": True}, updatedReplicas=0)).status \
            is H.SUSPENDED

    def test_being_deleted_is_progressing(self) -> None:
        dying = deployment()
        dying["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        assert resource_health(dying) == Health(H.PROGRESSING, "Pending deletion")


class TestReplicaSetStatefulSetDaemonSet:
    def test_replica_set(self) -> None:
        healthy = obj("apps/v1", "ReplicaSet", {"replicas": 2},
                      {"observedGeneration": 1, "availableReplicas": 2})
        assert resource_health(healthy).status is H.HEALTHY
        short = obj("apps/v1", "ReplicaSet", {"replicas": 2},
                    {"observedGeneration": 1, "availableReplicas": 1})
        assert resource_health(short).status is H.PROGRESSING
        failing = obj("apps/v1", "ReplicaSet", {"replicas": 2}, {
            "observedGeneration": 1, "conditions": [
                {"type": "ReplicaFailure", "status": "True", "message": "quota exceeded"}]})
        assert resource_health(failing) == Health(H.DEGRADED, "quota exceeded")

    def test_stateful_set(self) -> None:
        rolling = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        ready = obj("apps/v1", "StatefulSet", {"replicas": 2, "updateStrategy": rolling},
                    {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2})
        assert resource_health(ready).status is H.HEALTHY
        unobserved = obj("apps/v1", "StatefulSet", {"replicas": 2}, {"readyReplicas": 2})
        assert resource_health(unobserved).status is H.PROGRESSING
        not_ready = obj("apps/v1", "StatefulSet", {"replicas": 2},
                        {"observedGeneration": 1, "readyReplicas": 1})
        assert "Waiting for 1 pods" in resource_health(not_ready).message
        partitioned = obj("apps/v1", "StatefulSet", {
            "replicas": 3, "updateStrategy": {"type": "RollingUpdate",
                                              "rollingUpdate": {"partition": 1}}},
            {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1})
        assert resource_health(partitioned).status is H.PROGRESSING
        revisions = obj("apps/v1", "StatefulSet", {"replicas": 1},
                        {"observedGeneration": 1, "readyReplicas": 1,
                         "currentRevision": "a", "updateRevision": "b"})
        assert resource_health(revisions).status is H.PROGRESSING

    def test_daemon_set(self) -> None:
        def daemon(**status: Any) -> dict[str, Any]:
            base = {"observedGeneration": 1, "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3, "numberAvailable": 3}
            return obj("apps/v1", "DaemonSet", {}, {**base, **status})

        assert resource_health(daemon()).status is H.HEALTHY
        assert resource_health(daemon(updatedNumberScheduled=2)).status is H.PROGRESSING
        assert resource_health(daemon(numberAvailable=1)).status is H.PROGRESSING


class TestNetworking:
    def test_a_cluster_ip_service_is_healthy_at_once(self) -> None:
        assert resource_health(obj("v1", "Service", {"type": "ClusterIP"})).status is H.HEALTHY

    def test_a_load_balancer_waits_for_its_address(self) -> None:
        waiting = obj("v1", "Service", {"type": "LoadBalancer"}, {"loadBalancer": {}})
        assert resource_health(waiting).status is H.PROGRESSING
        ready = obj("v1", "Service", {"type": "LoadBalancer"},
                    {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}})
        assert resource_health(ready).status is H.HEALTHY

    def test_an_ingress_waits_for_its_address(self) -> None:
        ingress = obj("networking.k8s.io/v1", "Ingress")
        assert resource_health(ingress).status is H.PROGRESSING
        ingress["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
        assert resource_health(ingress).status is H.HEALTHY


@pytest.mark.parametrize(("phase", "expected"), [
    ("Bound", H.HEALTHY), ("Pending", H.PROGRESSING), ("Lost", H.DEGRADED),
    (None, H.UNKNOWN)])
def test_persistent_volume_claim_by_phase(phase: str | None, expected: H) -> None:
    claim = obj("v1", "PersistentVolumeClaim", status={"phase": phase} if phase else {})
    assert resource_health(claim).status is expected


class TestJob:
    def job(self, spec: dict[str, Any] | None = None, *conditions: tuple[str, str]
            ) -> dict[str, Any]:
        return obj("batch/v1", "Job", spec, {"conditions": [
            {"type": t, "status": "True", "message": m} for t, m in conditions]})

    def test_by_condition(self) -> None:
        assert resource_health(self.job()).status is H.PROGRESSING
        assert resource_health(self.job(None, ("Complete", ""))).status is H.HEALTHY
        failed = resource_health(self.job(None, ("Failed", "BackoffLimitExceeded")))
        assert failed == Health(H.DEGRADED, "BackoffLimitExceeded")

    def test_a_suspended_job_is_suspended(self) -> None:
        assert resource_health(self.job({"suspend": True})).status is H.SUSPENDED
        assert resource_health(self.job(None, ("Suspended", "paused"))).status is H.SUSPENDED


class TestPod:
    def pod(self, phase: str, restart: str = "Always", ready: bool = False,
            **container_state: Any) -> dict[str, Any]:
        return obj("v1", "Pod", {"restartPolicy": restart}, {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "main", **container_state}]})

    def test_running_and_ready_is_healthy(self) -> None:
        assert resource_health(self.pod("Running", ready=True)).status is H.HEALTHY

    def test_running_but_not_ready_is_progressing(self) -> None:
        assert resource_health(self.pod("Running")).status is H.PROGRESSING

    def test_succeeded_is_healthy_pending_progressing_failed_degraded(self) -> None:
        assert resource_health(self.pod("Succeeded", "Never")).status is H.HEALTHY
        assert resource_health(self.pod("Pending")).status is H.PROGRESSING
        failed = self.pod("Failed", "Never", state={"terminated": {"exitCode": 2}})
        assert resource_health(failed) == Health(
            H.DEGRADED, "container 'main' failed with exit code 2")

    def test_crash_loop_back_off_is_degraded(self) -> None:
        crashing = self.pod("Running", state={"waiting": {
            "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}})
        assert resource_health(crashing) == Health(H.DEGRADED, "back-off 5m0s restarting")

    def test_a_hook_pod_pulling_its_image_is_not_failed_early(self) -> None:
        pulling = self.pod("Pending", "Never", state={"waiting": {"reason": "ErrImagePull"}})
        assert resource_health(pulling).status is H.PROGRESSING

    def test_a_running_run_to_completion_pod_is_progressing(self) -> None:
        assert resource_health(self.pod("Running", "Never", ready=True)).status \
            is H.PROGRESSING


class TestArgoKinds:
    def rollout(self, phase: str | None, observed: Any = 1) -> dict[str, Any]:
        status: dict[str, Any] = {"observedGeneration": observed}
        if phase:
            status |= {"phase": phase, "message": f"it is {phase}"}
        return obj("argoproj.io/v1alpha1", "Rollout", status=status)

    @pytest.mark.parametrize(("phase", "expected"), [
        ("Healthy", H.HEALTHY), ("Progressing", H.PROGRESSING), ("Paused", H.SUSPENDED),
        ("Degraded", H.DEGRADED)])
    def test_rollout_by_phase(self, phase: str, expected: H) -> None:
        assert resource_health(self.rollout(phase)) == Health(expected, f"it is {phase}")

    def test_rollout_generation_not_observed_is_progressing(self) -> None:
        assert resource_health(self.rollout("Healthy", observed=0)).status is H.PROGRESSING
        assert resource_health(self.rollout("Healthy", observed="1")).status is H.HEALTHY
        assert resource_health(self.rollout(None)).status is H.PROGRESSING

    def test_an_application_reports_its_own_health(self) -> None:
        app = obj("argoproj.io/v1alpha1", "Application",
                  status={"health": {"status": "Degraded", "message": "boom"}})
        assert resource_health(app) == Health(H.DEGRADED, "boom")
        fresh = obj("argoproj.io/v1alpha1", "Application")
        assert resource_health(fresh).status is H.PROGRESSING


def test_a_kind_without_a_check_is_healthy() -> None:
    assert resource_health(obj("v1", "ConfigMap")) == Health(H.HEALTHY)
    assert resource_health(obj("example.com/v1", "Widget")) == Health(H.HEALTHY)


class TestAppHealth:
    def test_the_worst_wins_in_argo_cds_order(self) -> None:
        assert app_health([]) is H.HEALTHY
        assert app_health([H.HEALTHY, H.SUSPENDED]) is H.SUSPENDED
        assert app_health([H.SUSPENDED, H.PROGRESSING]) is H.PROGRESSING
        assert app_health([H.PROGRESSING, missing_health().status]) is H.MISSING
        assert app_health([H.MISSING, H.DEGRADED]) is H.DEGRADED
        assert app_health([H.DEGRADED, H.UNKNOWN]) is H.UNKNOWN

    def test_hooks_and_missing_child_apps_do_not_count(self) -> None:
        hook = obj("batch/v1", "Job", annotations={"argocd.argoproj.io/hook": "PreSync"})
        assert not affects_app_health(hook, H.DEGRADED)
        helm_hook = obj("batch/v1", "Job", annotations={"helm.sh/hook": "post-install"})
        assert not affects_app_health(helm_hook, H.DEGRADED)
        skipped = obj("v1", "ConfigMap", annotations={"argocd.argoproj.io/hook": "Skip"})
        assert not affects_app_health(skipped, H.MISSING)
        child = obj("argoproj.io/v1alpha1", "Application")
        assert not affects_app_health(child, H.MISSING)
        assert affects_app_health(child, H.DEGRADED)
        assert affects_app_health(obj("apps/v1", "Deployment"), H.MISSING)
