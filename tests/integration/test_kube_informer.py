"""`Informer` and raw watches against the real API server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from rollouts.kube import CONFIG_MAP, Informer, KubeClient
from rollouts.kube.shared import SharedInformers

if TYPE_CHECKING:
    from tests.conftest import TestCluster


@pytest.fixture
def kube(cluster: TestCluster) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    yield client
    client.close()


class Seen:
    """What the handlers were called with, and a way to wait for it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any] | None]] = []
        self.changed = threading.Condition()

    def __call__(self, event_type: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        with self.changed:
            self.events.append((event_type, obj["metadata"]["name"], old))
            self.changed.notify_all()

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), f"no {what}; saw {self.events}"

    def saw(self, event_type: str, name: str) -> bool:
        return any(t == event_type and n == name for t, n, _ in self.events)


def test_the_informer_sees_every_change_and_indexes_owners(
    kube: KubeClient, namespace: str
) -> None:
    owner = kube.create(CONFIG_MAP, namespace, {"metadata": {"name": "owner"}})
    informer = Informer(kube, CONFIG_MAP, namespace)
    seen = Seen()
    informer.add_handler(seen)
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        assert seen.saw("ADDED", "owner")  # the first list is delivered before sync

        reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                     "uid": owner["metadata"]["uid"]}
        kube.create(CONFIG_MAP, namespace, {"metadata": {
            "name": "owned", "ownerReferences": [reference]}, "data": {"v": "1"}})
        seen.wait_until(lambda: seen.saw("ADDED", "owned"), "ADDED of owned")
        assert [o["metadata"]["name"] for o in informer.by_owner(owner["metadata"]["uid"])] == [
            "owned"]
        assert informer.get(namespace, "owned")["kind"] == "ConfigMap"  # type: ignore[index]

        kube.patch(CONFIG_MAP, namespace, "owned", {"data": {"v": "2"}})
        seen.wait_until(lambda: seen.saw("MODIFIED", "owned"), "MODIFIED of owned")
        (_, _, old) = next(e for e in seen.events if e[0] == "MODIFIED" and e[1] == "owned")
        assert old is not None and old["data"] == {"v": "1"}
        assert informer.get(namespace, "owned")["data"] == {"v": "2"}  # type: ignore[index]

        kube.delete(CONFIG_MAP, namespace, "owned")
        seen.wait_until(lambda: seen.saw("DELETED", "owned"), "DELETED of owned")
        assert informer.get(namespace, "owned") is None
        assert informer.by_owner(owner["metadata"]["uid"]) == []
        assert [o["metadata"]["name"] for o in informer.list(namespace)] == [
            n["metadata"]["name"] for n in kube.list(CONFIG_MAP, namespace).items]
    finally:
        began = time.monotonic()
        informer.stop()
        assert time.monotonic() - began < 2.5


def test_a_label_selected_informer_sees_only_its_objects(
    kube: KubeClient, namespace: str
) -> None:
    informer = Informer(kube, CONFIG_MAP, namespace, label_selector="team=payments")
    seen = Seen()
    informer.add_handler(seen)
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        kube.create(CONFIG_MAP, namespace, {"metadata": {"name": "other"}})
        kube.create(CONFIG_MAP, namespace,
                    {"metadata": {"name": "mine", "labels": {"team": "payments"}}})
        seen.wait_until(lambda: seen.saw("ADDED", "mine"), "ADDED of mine")
        assert informer.get(namespace, "other") is None
        assert not seen.saw("ADDED", "other")
    finally:
        informer.stop()


def test_a_watch_streams_changes_and_closes_at_once(kube: KubeClient, namespace: str) -> None:
    start = kube.list(CONFIG_MAP, namespace)
    stream = kube.watch(CONFIG_MAP, namespace, start.resource_version, timeout_seconds=60)
    kube.create(CONFIG_MAP, namespace, {"metadata": {"name": "watched"}})
    # The namespace's kube-root-ca.crt may be published by the controller-manager while
    # we watch: skip it and anything else that is not ours.
    event = next(e for e in stream if e.object["metadata"]["name"] == "watched")
    assert event.type == "ADDED"

    ended = threading.Event()

    def drain() -> None:
        for _ in stream:
            pass
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    time.sleep(0.2)  # the reader is now blocked waiting for the next event
    stream.close()
    assert ended.wait(2)


def test_shared_informers_cache_lean_copies_of_what_the_server_sends(
    kube: KubeClient, namespace: str
) -> None:
    """Through `SharedInformers` the cache holds the object without managedFields nor the
    last-applied annotation, from the list and from the watch alike; all else is equal."""
    last_applied = "kubectl.kubernetes.io/last-applied-configuration"
    body: dict[str, Any] = {"metadata": {"name": "listed", "labels": {"app": "web"},
                         "annotations": {last_applied: '{"big": "copy"}', "keep": "me"}},
            "data": {"v": "1"}}
    kube.create(CONFIG_MAP, namespace, body)
    shared = SharedInformers(kube)
    informer = shared.informer(CONFIG_MAP, namespace)
    assert shared.informer(CONFIG_MAP, namespace) is informer
    seen = Seen()
    informer.add_handler(seen)
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        kube.create(CONFIG_MAP, namespace, {**body, "metadata": {**body["metadata"],
                                                                 "name": "watched"}})
        seen.wait_until(lambda: seen.saw("ADDED", "watched"), "ADDED of watched")
        for name in ("listed", "watched"):
            served = kube.get(CONFIG_MAP, namespace, name)
            assert served["metadata"]["managedFields"]  # the server keeps them ...
            cached = informer.get(namespace, name)
            assert cached is not None  # ... the cache does not, nor the applied copy
            assert "managedFields" not in cached["metadata"]
            assert cached["metadata"]["annotations"] == {"keep": "me"}
            served["metadata"].pop("managedFields")
            served["metadata"]["annotations"].pop(last_applied)
            assert cached == served
    finally:
        informer.stop()
