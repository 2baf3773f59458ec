"""Notifications on the real control plane: a real controller process delivers to a local
HTTP receiver (a thread of this test), once per event, also across a SIGKILL and restart.

- An Application subscribed to `on-sync-succeeded` through Argo CD's ConfigMap format,
  synced for real: automated sync of a Git repository (a `git daemon` of this test)
  holding one ConfigMap; the Application controller runs in the same process. A second
  commit after the restart is a second sync, and a second notification.
- A canary whose analysis step fails (a web metric answered by the same receiver says
  `ok: false`), so the Rollout controller aborts it: `on-rollout-aborted` (the Rollout's
  `RolloutAborted` Event) and the built-in `on-analysis-run-failed` (the AnalysisRun's
  `AnalysisRunFailed` Event, mapped to its Rollout) are delivered through Argo Rollouts'
  ConfigMap format; the abort also goes to `service.slack` as a Slack-compatible incoming
  webhook (the receiver again, its URL a `$secret`), channel `deploys`.

After each is received once and recorded in `notified.notifications.argoproj.io`, the
controller is killed (SIGKILL) and started again; a while later the receiver still has
exactly one of each, and the aborted Rollout has exactly one `RolloutAborted` Event.
The webhook's Authorization header comes from the Secret (`$hook-token`), and the token
never appears in the controller's log.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TestCluster
from tests.integration.gitserver import GitDaemon
from tests.integration.reconciler_support import Reconciler, application, daemon, wait_app
from tests.integration.support import events, get, set_image, wait_for, wait_phase

pytestmark = pytest.mark.integration
__all__ = ["daemon"]  # the fixture, imported for pytest

TOKEN = "s3cret-hook-token-4242"
NOTIFIED = "notified.notifications.argoproj.io"
SUBSCRIBE = "notifications.argoproj.io/subscribe."


class Receiver:
    """Records every request; answers the analysis metric `GET /metric` with ok: false."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if self.path == "/metric":
                    answer = b'{"ok": false}'
                else:
                    with outer.lock:
                        outer.received.append({"method": self.command, "path": self.path,
                                               "body": body,
                                               "auth": self.headers.get("Authorization")})
                    answer = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _record

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        with self.lock:
            return [r["path"] for r in self.received]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as serving:
        yield serving


def _apply(cluster: TestCluster, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def _settings(cluster: TestCluster, namespace: str, url: str) -> None:
    hook = ("url: " + url + "\nheaders:\n- name: Authorization\n"
            "  value: Bearer $hook-token\n")
    secret_data = {"hook-token": base64.b64encode(TOKEN.encode()).decode(),
                   "slack-url": base64.b64encode(f"{url}/slack".encode()).decode()}
    for secret in ("argocd-notifications-secret", "argo-rollouts-notification-secret"):
        _apply(cluster, namespace, {"apiVersion": "v1", "kind": "Secret",
                                    "metadata": {"name": secret}, "data": secret_data})
    _apply(cluster, namespace, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-notifications-cm"},
        "data": {
            "service.webhook.receiver": hook,
            "template.app-sync-succeeded": (
                "message: synced\nwebhook:\n  receiver:\n    method: POST\n"
                "    path: /app/{{.app.metadata.name}}\n"
                "    body: '{\"app\": \"{{.app.metadata.name}}\", \"revision\": "
                "\"{{.app.status.operationState.syncResult.revision}}\"}'\n"),
            "trigger.on-sync-succeeded": (
                "- when: app.status.operationState.phase in ['Succeeded']\n"
                "  oncePer: app.status.operationState.syncResult.revision\n"
                "  send: [app-sync-succeeded]\n"),
        }})
    _apply(cluster, namespace, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argo-rollouts-notification-configmap"},
        "data": {
            "service.webhook.receiver": hook,
            # A Slack-compatible incoming webhook (the receiver again), its URL a secret.
            "service.slack": "webhookURL: $slack-url\nusername: deploy-bot\n",
            # Ours replaces the built-in template of the same name; on-analysis-run-failed
            # keeps the built-in one (a GET whose body is the message, as Argo's webhooks).
            "template.rollout-aborted": (
                "message: aborted\nwebhook:\n  receiver:\n    method: POST\n"
                "    path: /rollout/{{.rollout.metadata.name}}/aborted\n"
                "    body: '{{.rollout.status.message}}'\n"),
        }})


MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  v: '{v}'\n"


def _application(name: str, repo_url: str, namespace: str) -> dict[str, Any]:
    app = application(name, repo_url, "app", namespace, automated=True)
    app["metadata"]["annotations"] = {SUBSCRIBE + "on-sync-succeeded.receiver": ""}
    return app


def _analysis_and_rollout(url: str) -> list[dict[str, Any]]:
    template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                "metadata": {"name": "says-no"},
                "spec": {"metrics": [{"name": "ok", "count": 1, "successCondition":
                                      "result == true",
                                      "provider": {"web": {"url": url + "/metric",
                                                           "jsonPath": "{$.ok}"}}}]}}
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
               "metadata": {"name": "web", "annotations": {
                   SUBSCRIBE + "on-rollout-aborted.receiver": "",
                   SUBSCRIBE + "on-rollout-aborted.slack": "deploys",
                   SUBSCRIBE + "on-analysis-run-failed.receiver": ""}},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "app",
                                                              "image": "app:1"}]}},
                        "strategy": {"canary": {"steps": [
                            {"setWeight": 50},
                            {"analysis": {"templates": [{"templateName": "says-no"}]}},
                            {"setWeight": 100}]}}}}
    return [template, rollout]


def _notified(cluster: TestCluster, namespace: str, kind: str, name: str) -> dict[str, int]:
    annotations = get(cluster, namespace, kind, name)["metadata"].get("annotations") or {}
    return dict(json.loads(annotations.get(NOTIFIED) or "{}"))


@pytest.mark.timeout(300)
def test_sync_succeeded_and_canary_aborted_are_each_delivered_once_across_a_restart(
    cluster: TestCluster, namespace: str, tmp_path: Path, receiver: Receiver,
    daemon: GitDaemon,
) -> None:
    _settings(cluster, namespace, receiver.url)
    repo = daemon.create_repo("apps", {"app/cm.yaml": MANIFEST.format(v=1)})
    first = repo.head()
    controller = Reconciler(cluster, namespace, tmp_path,
                            controllers="reconciler,rollouts,analysis,notifications")
    controller.start()
    try:
        # -- the Application: an automated sync of the repository's first commit --
        _apply(cluster, namespace, _application("guestbook", daemon.url("apps"), namespace))
        wait_app(cluster, namespace, "guestbook", revision=first, timeout=90,
                 check=lambda s: (s.get("operationState") or {}).get("phase") == "Succeeded")

        # -- the canary: its analysis step fails, the Rollout controller aborts it --
        for obj in _analysis_and_rollout(receiver.url):
            _apply(cluster, namespace, obj)
        wait_phase(cluster, namespace, "web", "Healthy", timeout=60)
        set_image(cluster, namespace, "web", "app:2")
        wait_phase(cluster, namespace, "web", "Degraded", timeout=90)

        expected = sorted(["/app/guestbook", "/rollout/web/aborted", "/", "/slack"])
        wait_for(lambda: sorted(receiver.paths()) == expected, 60,
                 "one notification of each kind", receiver.paths)
        wait_for(lambda: len(_notified(cluster, namespace, "application", "guestbook")) == 1
                 and len(_notified(cluster, namespace, "rollout", "web")) == 3, 30,
                 "the deliveries recorded on the objects")

        by_path = {r["path"]: r for r in receiver.received}
        assert json.loads(by_path["/app/guestbook"]["body"]) == {"app": "guestbook",
                                                                 "revision": first}
        assert by_path["/app/guestbook"]["method"] == "POST"
        assert by_path["/app/guestbook"]["auth"] == f"Bearer {TOKEN}"
        assert "RolloutAborted" in by_path["/rollout/web/aborted"]["body"]
        assert by_path["/"]["method"] == "GET"  # the built-in template, Argo's default
        assert "analysis run of Rollout web failed" in by_path["/"]["body"]
        slack = json.loads(by_path["/slack"]["body"])
        assert (slack["channel"], slack["username"], slack["text"]) == (
            "deploys", "deploy-bot", "aborted")
        (app_key,) = _notified(cluster, namespace, "application", "guestbook")
        assert app_key.startswith(f"{first}:on-sync-succeeded:[0].")

        # -- killed and started again: nothing is sent twice --
        controller.kill()
        controller.start()
        time.sleep(8)
        assert sorted(receiver.paths()) == expected
        aborted = [reason for reason, _ in events(cluster, namespace, "web")
                   if reason == "RolloutAborted"]
        assert aborted == ["RolloutAborted"]
        # ... and the new process is at work: a sync of the next commit is news.
        second = repo.commit({"app/cm.yaml": MANIFEST.format(v=2)})
        wait_for(lambda: receiver.paths().count("/app/guestbook") == 2, 60,
                 "the next revision's notification", receiver.paths)
        time.sleep(2)
        assert sorted(receiver.paths()) == sorted([*expected, "/app/guestbook"])
        bodies = [json.loads(r["body"]) for r in receiver.received
                  if r["path"] == "/app/guestbook"]
        assert [b["revision"] for b in bodies] == [first, second]
    finally:
        controller.stop()
    assert TOKEN not in controller.log.read_text()


def test_the_installed_role_reads_its_settings_by_name_and_nothing_else(
    cluster: TestCluster,
) -> None:
    """The informers list and watch the settings with a metadata.name field selector, which
    is what the Role's resourceNames allow; any other ConfigMap or Secret is refused."""
    from tests.integration.install_support import HOME, INSTALL, NOTIFICATIONS_SA

    cluster.kubectl_run("apply", "--server-side", "-k", str(INSTALL))
    for kind, name in (("configmaps", "argocd-notifications-cm"),
                       ("secrets", "argo-rollouts-notification-secret")):
        allowed = cluster.kubectl_run(
            "get", kind, "-n", HOME, f"--field-selector=metadata.name={name}",
            f"--as={NOTIFICATIONS_SA}", "--request-timeout=5s", check=False)
        assert allowed.returncode == 0, allowed.stderr
        everything = cluster.kubectl_run("get", kind, "-n", HOME, f"--as={NOTIFICATIONS_SA}",
                                         check=False)
        assert everything.returncode != 0 and "forbidden" in everything.stderr
