"""The informer's cache and events, driven by a scripted client (no API server)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rollouts.kube import (
    CONFIG_MAP,
    Gone,
    Informer,
    ListResult,
    Unavailable,
    WatchEvent,
    backoff_delay,
    diff_snapshot,
)


def obj(name: str, rv: str, uid: str | None = None, owner: str | None = None,
        namespace: str = "ns") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": rv,
                                "uid": uid or f"uid-{name}"}
    if owner:
        metadata["ownerReferences"] = [{"uid": owner, "kind": "Rollout", "name": "r"}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


class ScriptedWatch:
    """A watch whose events the test pushes; `close()` ends it like a shut socket."""

    def __init__(self) -> None:
        self.events: queue.Queue[WatchEvent | Exception | None] = queue.Queue()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[WatchEvent]:
        while not self.closed.is_set():
            try:
                item = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def close(self) -> None:
        self.closed.set()


class ScriptedClient:
    def __init__(self, *lists: ListResult | Exception) -> None:
        self.lists = list(lists)
        self.watches: queue.Queue[ScriptedWatch] = queue.Queue()
        self.list_calls = 0
        self.watch_from: list[str | None] = []

    def list(self, kind: Any, namespace: Any = None, label_selector: Any = None,
             field_selector: Any = None, transform: Any = None) -> ListResult:
        self.list_calls += 1
        result = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        if isinstance(result, Exception):
            raise result
        if transform is not None:  # as KubeClient.list does, page by page
            return ListResult([transform(item) for item in result.items],
                              result.resource_version)
        return result

    def watch(self, kind: Any, namespace: Any, resource_version: str | None, timeout: int,
              **_: Any) -> ScriptedWatch:
        self.watch_from.append(resource_version)
        w = ScriptedWatch()
        self.watches.put(w)
        return w

    def next_watch(self) -> ScriptedWatch:
        return self.watches.get(timeout=5)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.changed = threading.Condition()

    def __call__(self, event_type: str, new: dict[str, Any], old: dict[str, Any] | None) -> None:
        with self.changed:
            self.seen.append((event_type, new["metadata"]["name"],
                              old["metadata"]["resourceVersion"] if old else None))
            self.changed.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, str, str | None]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.seen) >= count, timeout=5), self.seen
            return list(self.seen)


@pytest.fixture
def running() -> Iterator[list[Informer]]:
    started: list[Informer] = []
    yield started
    for informer in started:
        informer.stop()


def start(client: ScriptedClient, running: list[Informer]) -> tuple[Informer, Recorder]:
    informer = Informer(client, CONFIG_MAP)  # type: ignore[arg-type]
    recorder = Recorder()
    informer.add_handler(recorder)
    informer.start()
    running.append(informer)
    assert informer.wait_for_sync(5)
    return informer, recorder


class TestCache:
    def test_the_first_list_is_delivered_as_added_then_synced(
        self, running: list[Informer]
    ) -> None:
        client = ScriptedClient(ListResult([obj("a", "1"), obj("b", "2")], "10"))
        informer, recorder = start(client, running)
        assert recorder.seen == [("ADDED", "a", None), ("ADDED", "b", None)]
        assert informer.has_synced()
        assert informer.get("ns", "a") == obj("a", "1")
        assert informer.get("other", "a") is None
        assert sorted(o["metadata"]["name"] for o in informer.list()) == ["a", "b"]
        assert informer.list("elsewhere") == []

    def test_watch_events_update_the_cache_and_call_handlers_with_the_old_object(
        self, running: list[Informer]
    ) -> None:
        client = ScriptedClient(ListResult([obj("a", "1")], "10"))
        informer, recorder = start(client, running)
        watch = client.next_watch()
        assert client.watch_from == ["10"]
        watch.events.put(WatchEvent("MODIFIED", obj("a", "11")))
        watch.events.put(WatchEvent("ADDED", obj("b", "12")))
        watch.events.put(WatchEvent("DELETED", obj("a", "13")))
        assert recorder.wait_for(4)[1:] == [
            ("MODIFIED", "a", "1"), ("ADDED", "b", None), ("DELETED", "a", "11"),
        ]
        assert informer.get("ns", "a") is None
        assert informer.resource_version == "13"

    def test_bookmarks_only_move_the_resource_version(self, running: list[Informer]) -> None:
        client = ScriptedClient(ListResult([], "10"))
        informer, recorder = start(client, running)
        watch = client.next_watch()
        watch.events.put(WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "55"}}))
        watch.events.put(None)  # the server ends the watch: it resumes from the bookmark
        client.next_watch()
        assert client.watch_from[-1] == "55"
        assert recorder.seen == [] and informer.list() == []

    def test_by_owner_follows_owner_references(self, running: list[Informer]) -> None:
        client = ScriptedClient(ListResult([obj("a", "1", owner="r1"), obj("b", "2")], "10"))
        informer, recorder = start(client, running)
        assert [o["metadata"]["name"] for o in informer.by_owner("r1")] == ["a"]
        watch = client.next_watch()
        watch.events.put(WatchEvent("MODIFIED", obj("a", "3")))  # adopted away
        watch.events.put(WatchEvent("MODIFIED", obj("b", "4", owner="r1")))
        recorder.wait_for(4)
        assert [o["metadata"]["name"] for o in informer.by_owner("r1")] == ["b"]
        watch.events.put(WatchEvent("DELETED", obj("b", "5", owner="r1")))
        recorder.wait_for(5)
        assert informer.by_owner("r1") == []


class TestRecovery:
    def test_gone_relists_and_delivers_the_difference(self, running: list[Informer]) -> None:
        client = ScriptedClient(
            ListResult([obj("keep", "1"), obj("change", "2"), obj("drop", "3"),
                        obj("recreate", "4", uid="old")], "10"),
            ListResult([obj("keep", "1"), obj("change", "20"), obj("new", "21"),
                        obj("recreate", "22", uid="new")], "30"),
        )
        informer, recorder = start(client, running)
        client.next_watch().events.put(Gone("too old resource version", 410))
        seen = recorder.wait_for(4 + 5)[4:]
        assert sorted(seen) == sorted([
            ("DELETED", "drop", "3"), ("DELETED", "recreate", "4"),
            ("MODIFIED", "change", "2"), ("ADDED", "new", None), ("ADDED", "recreate", None),
        ])
        client.next_watch()
        assert client.watch_from[-1] == "30"
        assert informer.get("ns", "recreate")["metadata"]["uid"] == "new"  # type: ignore[index]

    def test_errors_are_retried_until_the_server_answers(self, running: list[Informer]) -> None:
        client = ScriptedClient(Unavailable("connection refused"), Unavailable("refused"),
                                ListResult([obj("a", "1")], "10"))
        informer = Informer(client, CONFIG_MAP)  # type: ignore[arg-type]
        informer.start()
        running.append(informer)
        assert not informer.has_synced()
        assert informer.wait_for_sync(5)  # after 0.5 s + 1 s of backoff
        assert client.list_calls == 3

    def test_a_broken_watch_resumes_from_the_last_resource_version(
        self, running: list[Informer]
    ) -> None:
        client = ScriptedClient(ListResult([], "10"))
        _, recorder = start(client, running)
        watch = client.next_watch()
        watch.events.put(WatchEvent("ADDED", obj("a", "11")))
        recorder.wait_for(1)
        watch.events.put(Unavailable("watch broke"))
        client.next_watch()
        assert client.watch_from == ["10", "11"]
        assert client.list_calls == 1

    def test_a_failing_handler_does_not_stop_the_informer(self, running: list[Informer]) -> None:
        client = ScriptedClient(ListResult([obj("a", "1")], "10"))
        informer = Informer(client, CONFIG_MAP)  # type: ignore[arg-type]

        def broken(*_: Any) -> None:
            raise RuntimeError("handler bug")

        recorder = Recorder()
        informer.add_handler(broken)
        informer.add_handler(recorder)
        informer.start()
        running.append(informer)
        recorder.wait_for(1)
        client.next_watch().events.put(WatchEvent("ADDED", obj("b", "2")))
        recorder.wait_for(2)

    def test_stop_returns_promptly_while_watching(self) -> None:
        client = ScriptedClient(ListResult([], "10"))
        informer = Informer(client, CONFIG_MAP)  # type: ignore[arg-type]
        informer.start()
        watch = client.next_watch()
        began = time.monotonic()
        informer.stop()
        assert time.monotonic() - began < 2
        assert watch.closed.is_set()


class TestPureParts:
    def test_backoff_doubles_from_half_a_second_to_thirty(self) -> None:
        assert [backoff_delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
        assert backoff_delay(10_000) == 30

    def test_diff_of_identical_snapshots_is_empty(self) -> None:
        snapshot = {("ns", "a"): obj("a", "1")}
        assert diff_snapshot(snapshot, dict(snapshot)) == []
