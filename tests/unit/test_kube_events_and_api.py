"""The Event we record about an object, the leader's run loop, and the pinned public API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

import rollouts.kube
from rollouts.kube import KubeClient, LeaderElector, event_for

ROLLOUT_OBJ = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "9"},
}
AT = datetime(2025, 1, 1, 10, 0, 0, tzinfo=UTC)


class TestEventFor:
    def test_the_event_points_at_the_object(self) -> None:
        event = event_for(ROLLOUT_OBJ, "Normal", "RolloutStepCompleted",
                          "Rollout step 1/3 completed (setWeight: 20)", "rollouts-controller", AT)
        assert event["apiVersion"] == "v1" and event["kind"] == "Event"
        assert event["metadata"]["namespace"] == "shop"
        assert event["metadata"]["name"].startswith("web.")
        assert event["involvedObject"] == {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web",
            "namespace": "shop", "uid": "u-1", "resourceVersion": "9",
        }
        assert (event["type"], event["reason"], event["count"]) == (
            "Normal", "RolloutStepCompleted", 1)
        assert event["firstTimestamp"] == event["lastTimestamp"] == "2025-01-01T10:00:00Z"
        assert event["source"] == {"component": "rollouts-controller"}
        assert event["reportingComponent"] == "rollouts-controller"

    def test_names_differ_from_one_instant_to_the_next(self) -> None:
        later = AT.replace(microsecond=1)
        first = event_for(ROLLOUT_OBJ, "Normal", "R", "m", "c", AT)["metadata"]["name"]
        assert first != event_for(ROLLOUT_OBJ, "Normal", "R", "m", "c", later)["metadata"]["name"]

    def test_a_keyed_event_has_one_name_per_object_and_key_whenever_it_is_made(self) -> None:
        later = AT.replace(microsecond=1)
        first = event_for(ROLLOUT_OBJ, "Normal", "R", "m", "c", AT, key="00a1")
        again = event_for(ROLLOUT_OBJ, "Normal", "R", "m", "c", later, key="00a1")
        assert first["metadata"]["name"] == again["metadata"]["name"] == (
            f"{ROLLOUT_OBJ['metadata']['name']}.00a1")
        with pytest.raises(ValueError, match="lower-case hex"):
            event_for(ROLLOUT_OBJ, "Normal", "R", "m", "c", AT, key="Run/1")

    def test_events_about_cluster_scoped_objects_go_to_default(self) -> None:
        template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ClusterAnalysisTemplate",
                    "metadata": {"name": "rate"}}
        event = event_for(template, "Warning", "Bad", "m", "c", AT)
        assert event["metadata"]["namespace"] == "default"
        assert "namespace" not in event["involvedObject"]

    def test_the_message_is_one_short_line_without_credentials(self) -> None:
        message = "query failed:\nAuthorization: Bearer abc.def\n" + "x" * 5000
        text = event_for(ROLLOUT_OBJ, "Warning", "R", message, "c", AT)["message"]
        assert "\n" not in text and "abc.def" not in text and len(text) <= 1024


class ScriptedElector(LeaderElector):
    """An elector whose Lease writes succeed or fail as the test says."""

    def __init__(self) -> None:
        client: Any = object.__new__(KubeClient)
        super().__init__(client, "ns", "lease", "me", lease_seconds=1, renew_seconds=0.3,
                         retry_seconds=0.05)
        self.succeed = True
        self.released = threading.Event()

    def try_acquire_or_renew(self) -> bool:
        return self.succeed

    def release(self) -> bool:
        self.released.set()
        return True


class TestRunLoop:
    def test_leads_steps_down_when_renewals_fail_and_releases_on_stop(self) -> None:
        elector = ScriptedElector()
        calls: list[str] = []
        started, stopped = threading.Event(), threading.Event()
        stop = threading.Event()

        def on_started() -> None:
            calls.append("started")
            started.set()

        def on_stopped() -> None:
            calls.append("stopped")
            stopped.set()

        thread = threading.Thread(target=elector.run, args=(on_started, on_stopped, stop))
        thread.start()
        assert started.wait(2) and elector.is_leader()
        elector.succeed = False  # the API server goes away
        assert stopped.wait(2), "still leading after the renew deadline"
        assert not elector.is_leader() and not elector.released.is_set()
        started.clear()
        elector.succeed = True  # it comes back: lead again
        assert started.wait(2) and elector.is_leader()
        stop.set()
        thread.join(2)
        assert not thread.is_alive()
        assert calls == ["started", "stopped", "started", "stopped"]
        assert elector.released.is_set() and not elector.is_leader()


def test_the_public_api_is_pinned() -> None:
    assert sorted(rollouts.kube.__all__) == sorted([
        "ANALYSIS_RUN", "ANALYSIS_TEMPLATE", "APP_PROJECT", "APPLICATION",
        "CLUSTER_ANALYSIS_TEMPLATE",
        "CONFIG_MAP", "CUSTOM_RESOURCE_DEFINITION", "DAEMON_SET", "DEFAULT_TIMEOUT",
        "DEPLOYMENT", "EVENT", "EXPERIMENT", "INGRESS", "JOB", "KNOWN_KINDS", "LEASE", "NAMESPACE",
        "PERSISTENT_VOLUME_CLAIM", "POD", "REPLICA_SET", "ROLLOUT", "SECRET", "SERVICE",
        "SERVICE_ACCOUNT", "STATEFUL_SET",
        "AlreadyExists", "ChangeType", "Conflict", "EventType", "FieldCause", "Forbidden",
        "Gone", "Handler", "Informer", "Invalid", "Kind", "KubeClient", "KubeError",
        "LeaderElector", "ListResult", "NotFound", "NotLeader", "PatchType", "Request",
        "Unauthorized",
        "Unavailable", "Verb", "WatchEvent", "WatchStream",
        "backoff_delay", "diff_snapshot", "error_from_response", "event_for", "kind_for",
        "parse_watch_line", "request_for", "should_acquire", "split_lines",
    ])
    for name in rollouts.kube.__all__:
        assert hasattr(rollouts.kube, name), name
