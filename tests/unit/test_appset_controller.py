"""The ApplicationSet controller's reconcile against fake informers and a fake client
(reconciler.appset.controller): what it writes, and what it refuses to write.

The real API server is in tests/integration/test_appset.py; here each case sets up the
cache and checks the calls, so a safety rule (a broken cluster Secret deletes nothing)
fails loudly when broken.
"""

from __future__ import annotations

import base64
import copy
from typing import Any, cast

from reconciler.appset.controller import ApplicationSetController
from reconciler.source import GitSource
from rollouts.kube import APPLICATION, Conflict, Kind, KubeClient
from rollouts.kube.shared import SharedInformers
from tests.unit.fake_informers import FakeInformer, FakeShared

Obj = dict[str, Any]
NS = "rollouts"


class FakeClient:
    """Records the calls and applies them to the informers, as a watch would."""

    def __init__(self, appsets: FakeInformer, applications: FakeInformer) -> None:
        self.appsets = appsets
        self.applications = applications
        self.calls: list[tuple[str, str]] = []
        self.statuses: list[Obj] = []
        self.version = 100

    def _stamp(self, body: Obj) -> Obj:
        self.version += 1
        out = copy.deepcopy(body)
        out["metadata"]["resourceVersion"] = str(self.version)
        out["metadata"].setdefault("uid", f"uid-{out['metadata']['name']}")
        return out

    def create(self, kind: Any, namespace: str, body: Obj) -> Obj:
        self.calls.append(("create", body["metadata"]["name"]))
        created = self._stamp({**body, "metadata": {**body["metadata"], "namespace": namespace}})
        self.applications.put(created)
        return created

    def replace(self, kind: Any, namespace: str, body: Obj) -> Obj:
        self.calls.append(("replace", body["metadata"]["name"]))
        replaced = self._stamp(body)
        self.applications.put(replaced)
        return replaced

    def delete(self, kind: Any, namespace: str, name: str, **_: Any) -> None:
        self.calls.append(("delete", name))
        self.applications.objects.pop((namespace, name), None)

    def _appset(self, namespace: str, name: str, change: Obj) -> Obj:
        current = copy.deepcopy(self.appsets.objects[(namespace, name)])
        for key, value in change.items():
            current[key] = {**(current.get(key) or {}), **value}
        stamped = self._stamp(current)
        self.appsets.put(stamped)
        return stamped

    def patch(self, kind: Any, namespace: str, name: str, body: Obj) -> Obj:
        self.calls.append(("patch", name))
        if kind.kind == "ApplicationSet":
            return self._appset(namespace, name, {"metadata": {}})
        return self._stamp({"metadata": {"name": name, "namespace": namespace}})

    def patch_status(self, kind: Any, namespace: str, name: str, body: Obj) -> Obj:
        self.statuses.append(body["status"])
        return self._appset(namespace, name, {"status": body["status"]})

    def emit_event(self, *_: Any, **__: Any) -> bool:
        return True


class Setup:
    def __init__(self, spec: Obj) -> None:
        self.shared = FakeShared()
        self.client = FakeClient(self.shared.informer(Kind("argoproj.io", "v1alpha1",
                                                           "applicationsets", "ApplicationSet")),
                                 self.shared.informer(APPLICATION))
        self.controller = ApplicationSetController(
            cast(KubeClient, self.client), namespace=NS,
            informers=cast(SharedInformers, self.shared),
            source=cast(GitSource, object()))
        self.appset: Obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                            "metadata": {"name": "guestbook", "namespace": NS,
                                         "uid": "set-uid", "resourceVersion": "1",
                                         "generation": 1},
                            "spec": spec}
        self.cache("appsets").put(self.appset)

    def owned_app(self, name: str, **metadata: Any) -> Obj:
        app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                            "resourceVersion": "5",
                            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1",
                                                 "kind": "ApplicationSet", "name": "guestbook",
                                                 "uid": "set-uid", "controller": True,
                                                 "blockOwnerDeletion": True}],
                            **metadata},
               "spec": {"project": "default"}}
        self.cache("applications").put(app)
        return app

    def cache(self, name: str) -> FakeInformer:
        """The fake behind one of the controller's informers (appsets, applications,
        cluster_secrets, repo_secrets)."""
        return cast(FakeInformer, getattr(self.controller, name))

    def reconcile(self) -> Any:
        return self.controller.reconcile(f"{NS}/guestbook")


def cluster_secret(name: str, server: str, config: str = "{}") -> Obj:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {"metadata": {"name": name, "namespace": NS,
                         "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "data": {"name": b64(name), "server": b64(server), "config": b64(config)}}


CLUSTERS_SPEC: Obj = {
    "generators": [{"clusters": {}}],
    "template": {"metadata": {"name": "app-{{name}}"},
                 "spec": {"project": "default",
                          "source": {"repoURL": "https://git.example/x.git", "path": "."},
                          "destination": {"server": "{{server}}", "namespace": "x"}}},
    "syncPolicy": {"preserveResourcesOnDeletion": True},
}


def deletes(setup: Setup) -> list[str]:
    return [name for call, name in setup.client.calls if call == "delete"]


# -- a cluster Secret that cannot be read -------------------------------------------------


def test_a_broken_cluster_secret_deletes_nothing_and_names_the_secret() -> None:
    setup = Setup(CLUSTERS_SPEC)
    secrets = setup.cache("cluster_secrets")
    secrets.put(cluster_secret("eu", "https://eu.example:6443"))
    setup.owned_app("app-in-cluster")
    setup.owned_app("app-eu")
    setup.reconcile()
    assert not deletes(setup)  # both wanted

    # A typo in the config: the cluster drops out of read_clusters' list.
    secrets.put(cluster_secret("eu", "https://eu.example:6443", config="{not json"))
    setup.reconcile()
    assert not deletes(setup)
    message = setup.client.statuses[-1]["conditions"][0]["message"]
    assert "cluster Secret eu" in message and "spec.generators[0].clusters" in message


def test_two_secrets_naming_one_cluster_delete_nothing() -> None:
    setup = Setup(CLUSTERS_SPEC)
    secrets = setup.cache("cluster_secrets")
    secrets.put(cluster_secret("eu", "https://eu.example:6443"))
    secrets.put(cluster_secret("eu-copy", "https://eu.example:6443"))
    setup.owned_app("app-eu")
    setup.reconcile()
    assert not deletes(setup)
    assert "eu-copy" in setup.client.statuses[-1]["conditions"][0]["message"]


def test_a_broken_secret_does_not_stop_a_set_without_a_clusters_generator() -> None:
    setup = Setup({**CLUSTERS_SPEC, "generators": [{"list": {"elements": [
        {"name": "one", "server": "https://kubernetes.default.svc"}]}}]})
    setup.cache("cluster_secrets").put(cluster_secret("eu", "https://eu", config="{x"))
    setup.owned_app("app-gone")
    setup.reconcile()
    assert ("create", "app-one") in setup.client.calls
    assert ("delete", "app-gone") in setup.client.calls


# -- which Application events queue the ApplicationSet ----------------------------------


class Queue:
    def __init__(self) -> None:
        self.added: list[str] = []

    def add(self, key: str) -> None:
        self.added.append(key)


def test_only_changes_it_writes_or_shows_queue_the_application_set() -> None:
    setup = Setup(CLUSTERS_SPEC)
    queue = Queue()
    setup.controller.bind(cast(Any, queue), cast(Any, None))
    app = setup.owned_app("app-eu")
    app["status"] = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"},
                     "reconciledAt": "2026-12-04T20:00:00Z"}

    def event(type_: str, new: Obj, old: Obj | None) -> list[str]:
        queue.added.clear()
        setup.controller._on_application(type_, new, old)
        return queue.added

    assert event("ADDED", app, None) == []  # most likely our own creation
    noise = copy.deepcopy(app)
    noise["status"]["reconciledAt"] = "2026-12-04T20:03:00Z"
    noise["metadata"]["resourceVersion"] = "6"
    assert event("MODIFIED", noise, app) == []
    degraded = copy.deepcopy(noise)
    degraded["status"]["health"] = {"status": "Degraded", "message": "crash loop"}
    assert event("MODIFIED", degraded, noise) == [f"{NS}/guestbook"]
    edited = copy.deepcopy(noise)
    edited["spec"]["project"] = "other"
    assert event("MODIFIED", edited, noise) == [f"{NS}/guestbook"]
    assert f"{NS}/guestbook" in event("DELETED", app, app)


def test_after_writing_applications_it_looks_again_soon_for_their_status() -> None:
    setup = Setup({**CLUSTERS_SPEC, "generators": [{"list": {"elements": [
        {"name": "one", "server": "https://kubernetes.default.svc"}]}}]})
    first = setup.reconcile()
    assert ("create", "app-one") in setup.client.calls
    assert first.requeue_after is not None and first.requeue_after <= 1.0
    second = setup.reconcile()
    assert second.requeue_after is None  # nothing written: list generators wait for events
    assert [r["name"] for r in setup.client.statuses[-1]["resources"]] == ["app-one"]


def test_a_conflict_while_unhooking_a_deleted_sets_applications_is_retried() -> None:
    setup = Setup({**CLUSTERS_SPEC, "syncPolicy": {"applicationsSync": "create-only"}})
    appset = setup.cache("appsets").get(NS, "guestbook")
    assert appset is not None
    appset["metadata"].update(deletionTimestamp="2026-12-04T20:00:00Z",
                              finalizers=["resources-finalizer.argocd.argoproj.io"])
    setup.owned_app("app-eu")

    def conflict(*_: Any) -> Obj:
        raise Conflict("the object has been modified", 409, "Conflict")

    setup.client.patch = conflict  # type: ignore[method-assign,assignment]
    assert setup.reconcile().requeue_after == 0.2
