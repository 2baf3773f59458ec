"""The Application controller's seam to clusters (`reconciler.destinations`): an app's
destination resolves to the local machinery or to a registered cluster's own client and
watches; an unknown one to an error; a deleted Secret closes its connection. The cluster
Secrets are fed to the controller's watch cache as watch events; nothing is sent."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from reconciler.clusters import DestinationError
from reconciler.controller import ApplicationController
from reconciler.destinations import Destination
from rollouts.api import Application, parse_object
from rollouts.kube import KubeClient, WatchEvent


def _secret(secret_name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": "rollouts", "resourceVersion": "1",
                         "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def _app(**destination: str) -> Application:
    obj = parse_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                        "metadata": {"name": "shop", "namespace": "rollouts"},
                        "spec": {"destination": {**destination, "namespace": "web"},
                                 "source": {"repoURL": "https://git.example/a.git",
                                            "path": "shop"}}})
    assert isinstance(obj, Application)
    return obj


def _controller(tmp_path: Path) -> ApplicationController:
    client = KubeClient.for_server("https://127.0.0.1:9")  # never contacted here
    return ApplicationController(client, namespace="rollouts", repo_cache=tmp_path)


def test_destinations_resolve_to_the_right_client(tmp_path: Path) -> None:
    controller = _controller(tmp_path)
    informer = controller.destinations.informer
    config = json.dumps({"bearerToken": "tok"})
    informer._apply(WatchEvent("ADDED", _secret("c-second", name="second",
                                                 server="https://10.0.0.2:6443",
                                                 config=config)))
    local = controller.destinations.for_app(_app(server="https://kubernetes.default.svc"))
    assert isinstance(local, Destination) and local.client is controller.client
    assert local.watches is controller.watches
    second = controller.destinations.for_app(_app(name="second"))
    assert isinstance(second, Destination) and second.client.host == "https://10.0.0.2:6443"
    assert second.runner.client is second.client and second.watches is not controller.watches
    assert controller.destinations.for_app(_app(server="https://10.0.0.2:6443")) is second

    unknown = controller.destinations.for_app(_app(name="prod"))
    assert isinstance(unknown, DestinationError)

    informer._apply(WatchEvent("DELETED", _secret("c-second", name="second",
                                                   server="https://10.0.0.2:6443")))
    assert isinstance(controller.destinations.for_app(_app(name="second")), DestinationError)
    assert second.watches._stopped  # the connection of the gone Secret was closed
    controller.destinations.stop()


def test_a_renamed_local_cluster_keeps_the_local_client_under_its_new_name(
        tmp_path: Path) -> None:
    controller = _controller(tmp_path)
    controller.destinations.informer._apply(WatchEvent("ADDED", _secret(
        "c-home", name="home", server="https://kubernetes.default.svc")))
    home = controller.destinations.for_app(_app(name="home"))
    assert isinstance(home, Destination) and home.client is controller.client
    assert home.runner.cluster is not None and home.runner.cluster.name == "home"
    assert isinstance(controller.destinations.for_app(_app(name="in-cluster")),
                      DestinationError)
    # The same machinery: what a compare under the new name saw of Secrets is what the
    # controller scrubs, and forgetting the app forgets it there too.
    assert home.watches is controller.watches and home.diffs is controller.diffs
    assert home.runner.applied is controller.applied and home.runner is not controller.runner
    home.runner.secrets.remember("rollouts/shop", "1" * 40, frozenset({"s3cr3t-value"}))
    assert controller.destinations.secret_values_of("rollouts/shop") == {"s3cr3t-value"}
    controller.destinations.forget("rollouts/shop")
    assert home.runner.secret_values_of("rollouts/shop") == frozenset()


def test_a_remote_clusters_temporary_error_is_retried_with_a_backoff(tmp_path: Path) -> None:
    """A registered cluster that cannot be reached: a ComparisonError on the app, and the
    app looked at again after 1 s, 2 s, 4 s ... (not only at the next Git poll)."""
    from reconciler.projects import default_project
    from reconciler.source import SourceError
    from rollouts.kube import KubeError

    controller = _controller(tmp_path)
    controller.destinations.informer._apply(WatchEvent("ADDED", _secret(
        "c-second", name="second", server="https://10.0.0.2:6443")))
    project = default_project("rollouts")
    project["metadata"]["resourceVersion"] = "1"
    controller.projects.informer._apply(WatchEvent("ADDED", project))
    raw = _app(name="second").model_dump(by_alias=True, exclude_none=True, mode="json")
    raw["metadata"]["resourceVersion"] = "1"
    second = controller.destinations.for_app(_app(name="second"))
    assert isinstance(second, Destination)
    failure: list[Exception] = []
    patched: Any = controller

    def compare(*_a: Any) -> Any:
        raise failure[0]

    patched.sources.target = lambda *_a, **_k: type(
        "T", (), {"error": None, "revision": "1" * 40, "polled": False, "next_poll": None})()
    patched._timers = None
    patched._finish = lambda *_a, **_k: None
    cast_runner: Any = second.runner
    cast_runner.compare = compare
    failure[:] = [KubeError("connection refused", temporary=True)]
    delays = [controller._reconcile("rollouts/shop", raw).requeue_after for _ in range(3)]
    assert delays == [1.0, 2.0, 4.0]
    failure[:] = [KubeError("Unauthorized", temporary=False)]  # waits for a change instead
    assert controller._reconcile("rollouts/shop", raw).requeue_after is None
    failure[:] = [KubeError("connection refused", temporary=True)]
    assert controller._reconcile("rollouts/shop", raw).requeue_after == 1.0  # started over
    failure[:] = [SourceError("bad render", temporary=False)]
    assert controller._reconcile("rollouts/shop", raw).requeue_after is None
    controller.destinations.stop()


def test_messages_keep_the_apps_own_names_even_when_a_secret_holds_them(
        tmp_path: Path) -> None:
    controller = _controller(tmp_path)
    patched: Any = controller.destinations
    patched.secret_values_of = lambda _key: frozenset({"shop", "web", "s3cr3t-value"})
    raw = _app(name="second").model_dump(by_alias=True, exclude_none=True, mode="json")
    assert controller._secret_values("rollouts/shop", raw) == frozenset({"s3cr3t-value"})
