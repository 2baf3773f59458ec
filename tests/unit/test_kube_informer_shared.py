"""An informer's `transform`, and `SharedInformers`: one cache per (kind, namespace,
selector) for all the controllers of a process (scripted client, no API server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from rollouts.cli.controller_cmd import _controllers
from rollouts.kube import (
    ANALYSIS_RUN,
    CONFIG_MAP,
    REPLICA_SET,
    ROLLOUT,
    Informer,
    KubeClient,
    ListResult,
    WatchEvent,
)
from rollouts.kube.shared import SharedInformers
from tests.unit.test_kube_informer import Recorder, ScriptedClient, obj


@pytest.fixture
def running() -> Iterator[list[Informer]]:
    started: list[Informer] = []
    yield started
    for informer in started:
        informer.stop()


def with_bookkeeping(name: str, rv: str) -> dict[str, Any]:
    made = obj(name, rv)
    made["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Update"}]
    return made


class TestTransform:
    def test_listed_and_watched_objects_are_cached_and_delivered_transformed(
        self, running: list[Informer]
    ) -> None:
        client = ScriptedClient(ListResult([with_bookkeeping("a", "1")], "10"))
        shared = SharedInformers(cast(KubeClient, client))
        informer = shared.informer(CONFIG_MAP, "ns")
        seen: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        recorder = Recorder()
        informer.add_handler(lambda kind, new, old: seen.append((kind, new, old)))
        informer.add_handler(recorder)
        informer.start()
        running.append(informer)
        assert informer.wait_for_sync(5)
        listed = informer.get("ns", "a")
        assert listed is not None and "managedFields" not in listed["metadata"]
        client.next_watch().events.put(WatchEvent("MODIFIED", with_bookkeeping("a", "2")))
        recorder.wait_for(2)
        watched = informer.get("ns", "a")
        assert watched is not None and "managedFields" not in watched["metadata"]
        assert watched["metadata"]["resourceVersion"] == "2"
        # handlers get the cached copies: old and new made the same way
        assert seen[0] == ("ADDED", listed, None)
        assert seen[1] == ("MODIFIED", watched, listed)
        assert seen[1][1] is watched and seen[1][2] is listed

    def test_without_transform_the_objects_are_cached_as_sent(
        self, running: list[Informer]
    ) -> None:
        client = ScriptedClient(ListResult([with_bookkeeping("a", "1")], "10"))
        informer = Informer(cast(KubeClient, client), CONFIG_MAP)
        informer.start()
        running.append(informer)
        assert informer.wait_for_sync(5)
        assert informer.get("ns", "a") == with_bookkeeping("a", "1")


class TestSharedInformers:
    def test_the_same_kind_namespace_and_selector_get_the_same_informer(self) -> None:
        shared = SharedInformers(cast(KubeClient, object()))
        assert shared.informer(REPLICA_SET, "ns") is shared.informer(REPLICA_SET, "ns")
        assert shared.informer(REPLICA_SET, None) is shared.informer(REPLICA_SET, "")
        assert shared.informer(ROLLOUT, "ns", "") is shared.informer(ROLLOUT, "ns")
        distinct = {id(shared.informer(*args)) for args in (
            (REPLICA_SET, "ns"), (REPLICA_SET, "other"), (REPLICA_SET, None),
            (ROLLOUT, "ns"), (ROLLOUT, "ns", "a=b"), (ANALYSIS_RUN, "ns", "a=b"))}
        assert len(distinct) == 6 == len(shared.all())

    def test_the_controllers_of_one_process_share_their_caches(self) -> None:
        client = cast(KubeClient, object())
        rollouts, analysis, experiments = _controllers(
            "rollouts,analysis,experiments", client, None, None)
        mine = cast(Any, rollouts)
        assert mine.replica_sets is cast(Any, experiments).replica_sets
        assert mine.services is cast(Any, experiments).services
        assert mine.analysis_runs is cast(Any, analysis).runs
        assert mine.analysis_runs is cast(Any, experiments).analysis_runs
        assert mine.experiments is cast(Any, experiments).experiments
        every = [i for c in (rollouts, analysis, experiments) for i in c.informers()]
        assert len(every) == 15
        assert len({id(i) for i in every}) == 8  # one per (kind, namespace, selector)
        assert all(i.transform is not None for i in cast(list[Informer], every))

    def test_a_controller_built_alone_still_caches_lean_copies(self) -> None:
        from rollouts.controller import RolloutController

        alone = RolloutController(cast(KubeClient, object()))
        assert all(i.transform is not None for i in alone.informers())
