"""The notification controller's pass, on fake caches and a fake client: send, then record;
never twice; a failed record is written before anything is sent again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

import rollouts.notifications.controller as controller_module
from rollouts.kube import Unavailable
from rollouts.notifications.controller import NotificationController
from rollouts.notifications.plan import Outcome
from rollouts.notifications.state import NOTIFIED_ANNOTATION
from rollouts.runtime import FakeClock
from tests.unit.fake_informers import FakeInformer, FakeShared

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class FakeClient:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []
        self.fail_patch = False
        self.leader = True
        self.version = 10

    def may_write(self) -> bool:
        return self.leader

    def patch(self, kind: Any, namespace: str, name: str, body: dict[str, Any]
              ) -> dict[str, Any]:
        if self.fail_patch:
            raise Unavailable("API server unavailable", 503, "ServiceUnavailable")
        self.patches.append(body)
        self.version += 1
        return {"metadata": {"name": name, "namespace": namespace,
                             "resourceVersion": str(self.version)}}

    def emit_event(self, obj: Any, type_: str, reason: str, message: str, **_: Any) -> bool:
        self.events.append((reason, message))
        return True


CONFIG = {
    "service.webhook.hook": "url: http://127.0.0.1:9/x\nheaders: [{name: T, value: $tok}]",
    "template.done": "message: done",
    "trigger.on-sync-succeeded": "- when: app.status.operationState.phase == 'Succeeded'\n"
                                 "  send: [done]\n",
}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    sent: list[tuple[str, Mapping[str, str]]] = []
    answers: list[Outcome] = []

    def fake_send(notification: Any, service: Any, destination: Any, egress: Any) -> Outcome:
        sent.append((notification.message, dict(service.headers)))
        return answers.pop(0) if answers else Outcome(True)

    monkeypatch.setattr(controller_module, "send", fake_send)
    shared, client = FakeShared(), FakeClient()
    controller = NotificationController(
        client, namespace="ns", clock=FakeClock(NOW), informers=shared,  # type: ignore[arg-type]
        render=lambda source, data, name: source)
    shared.made[("ConfigMap", "metadata.name=argocd-notifications-cm")].put(
        {"metadata": {"name": "argocd-notifications-cm", "namespace": "ns",
                      "resourceVersion": "1"}, "data": CONFIG})
    shared.made[("Secret", "metadata.name=argocd-notifications-secret")].put(
        {"metadata": {"name": "argocd-notifications-secret", "namespace": "ns",
                      "resourceVersion": "1"}, "data": {"tok": "c2VjcmV0LXRva2Vu"}})
    apps = shared.made[("Application", None)]
    apps.put({"metadata": {"name": "guestbook", "namespace": "ns", "resourceVersion": "5",
                           "annotations": {"notifications.argoproj.io/subscribe."
                                           "on-sync-succeeded.hook": ""}},
              "status": {"operationState": {"phase": "Succeeded"}}})
    return controller, client, apps, sent, answers


def _apply_patch(apps: FakeInformer, client: FakeClient) -> None:
    """The patch coming back through the watch, as the API server would echo it."""
    app = apps.get("ns", "guestbook")
    assert app is not None
    annotations = dict(app["metadata"]["annotations"])
    for key, value in client.patches[-1]["metadata"]["annotations"].items():
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value
    apps.put({**app, "metadata": {**app["metadata"], "annotations": annotations,
                                  "resourceVersion": str(client.version)}})


def test_sent_once_recorded_then_never_again(world: Any) -> None:
    controller, client, apps, sent, _ = world
    controller.reconcile("Application:ns/guestbook")
    assert sent == [("done", {"T": "secret-token"})]
    (patch,) = client.patches
    assert "on-sync-succeeded" in json.loads(patch["metadata"]["annotations"][NOTIFIED_ANNOTATION]
                                             ).popitem()[0]
    _apply_patch(apps, client)
    controller.reconcile("Application:ns/guestbook")
    assert len(sent) == 1 and len(client.patches) == 1


def test_a_record_that_failed_is_written_before_anything_is_sent_again(world: Any) -> None:
    controller, client, apps, sent, _ = world
    client.fail_patch = True
    with pytest.raises(Unavailable):
        controller.reconcile("Application:ns/guestbook")
    client.fail_patch = False
    controller.reconcile("Application:ns/guestbook")  # writes the record, sends nothing
    assert len(sent) == 1 and len(client.patches) == 1
    _apply_patch(apps, client)
    controller.reconcile("Application:ns/guestbook")
    assert len(sent) == 1


def test_a_deposed_leader_sends_nothing(world: Any) -> None:
    controller, client, _, sent, _ = world
    client.leader = False
    controller.reconcile("Application:ns/guestbook")
    assert sent == [] and client.patches == []


def test_given_up_after_a_permanent_error_with_a_redacted_warning(world: Any) -> None:
    controller, client, _, _, answers = world
    answers.append(Outcome(False, False, "webhook hook: answered HTTP 404 for secret-token"))
    controller.reconcile("Application:ns/guestbook")
    ((reason, message),) = client.events
    assert reason == "NotificationFailed" and "secret-token" not in message
    assert "******" in message
    assert NOTIFIED_ANNOTATION in client.patches[0]["metadata"]["annotations"]


def test_the_counters_are_served_with_the_process_metrics(world: Any) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from rollouts.metrics.wiring import instrument

    controller, _, _, _, answers = world
    registry = CollectorRegistry()
    assert instrument([controller], registry) == [controller]
    answers.append(Outcome(False, True, "HTTP 503"))
    controller.reconcile("Application:ns/guestbook")
    text = generate_latest(registry).decode()
    assert ('argocd_notifications_deliveries_total{service="hook",succeeded="false",'
            'trigger="on-sync-succeeded"} 1.0') in text
    assert ('argocd_notifications_trigger_eval_total{name="on-sync-succeeded",'
            'triggered="true"} 1.0') in text
