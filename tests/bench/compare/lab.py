"""The benchmark's side of the cluster: manifests it creates, and what it sees on watches.

Everything a scenario measures about the controllers' work is seen from outside them,
the same way for both: `Seen` keeps, for each object event arriving on a watch in this
process, the first moment (this process's clock) a given state was seen -- a canary
ReplicaSet at a given `spec.replicas`, an AnalysisRun Successful, a Rollout at a step.
Both controllers write the same Rollout status fields (`currentStepIndex`,
`currentPodHash`, `pauseConditions[].startTime`, `phase`) and name a canary ReplicaSet
`<rollout>-<pod template hash>`, which is all this module reads.

Neighbours: `scenarios` uses it; `controllers` is the other side.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from rollouts.kube import ANALYSIS_RUN, REPLICA_SET, ROLLOUT, Informer, KubeClient

THREADS = 8  # parallel creates / patches from the benchmark
PODS_PER_NODE = 2000


def fake_nodes(pods: int) -> list[dict[str, Any]]:
    """Extra kwok nodes with room for `pods` pods: the dev cluster's own three take 110
    each, far fewer than 1,000 or 10,000 Rollouts need. kwok serves every node with the
    `kwok.x-k8s.io/node: fake` annotation and gives pods addresses from its podCIDR
    (a /16 each here)."""
    capacity = {"cpu": "1000", "memory": "4Ti", "pods": str(PODS_PER_NODE)}
    return [{"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": f"compare-node-{i}",
                          "annotations": {"kwok.x-k8s.io/node": "fake",
                                          "node.alpha.kubernetes.io/ttl": "0"},
                          "labels": {"kubernetes.io/hostname": f"compare-node-{i}",
                                     "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                     "type": "kwok"}},
             "spec": {"podCIDR": f"10.{100 + i}.0.0/16"},
             "status": {"allocatable": capacity, "capacity": capacity}}
            for i in range(max(1, math.ceil(pods / PODS_PER_NODE)))]


def rollout(name: str, namespace: str, steps: list[dict[str, Any]], replicas: int,
            image: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}},
                 "strategy": {"canary": {"steps": steps}}},
    }


def prometheus_metric(address: str, job: str, *, count: int, interval: str | None
                      ) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": "ratio", "count": count, "successCondition": "result[0] >= 0.9",
        "provider": {"prometheus": {"address": address,
                                    "query": f'bench_ratio{{job="{job}"}}'}}}
    if interval:
        metric["interval"] = interval
    return metric


def image_patch(image: str) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]


def parse_time(text: str) -> float:
    """An RFC 3339 timestamp as epoch seconds (Argo stores whole seconds, we store
    microseconds; both parse)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def in_parallel(work: Callable[[Any], object], items: Iterable[Any]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(work, items):
            pass


def wait(predicate: Callable[[], bool], timeout: float, what: str,
         check: Callable[[], None] | None = None, every: float = 0.02) -> None:
    """Poll `predicate`; `check` raises when the controller died (no point waiting)."""
    deadline = time.monotonic() + timeout
    polls = 0
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench-compare: timed out after {timeout:.0f}s waiting for "
                               f"{what}")
        polls += 1
        if check is not None and polls % 100 == 0:
            check()
        time.sleep(every)


def status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return dict((obj or {}).get("status") or {})


class Seen:
    """Watches Rollouts (and, when asked, ReplicaSets and AnalysisRuns) of one namespace
    and keeps the first moment each state of interest arrived."""

    def __init__(self, client: KubeClient, namespace: str, *, replica_sets: bool = False,
                 analysis_runs: bool = False) -> None:
        self.namespace = namespace
        self.lock = threading.Lock()
        self.replicas: dict[tuple[str, int], float] = {}  # (rs name, spec.replicas)
        self.runs_created: dict[str, tuple[str, float]] = {}  # run uid -> (owner, seen)
        self.runs_successful: dict[str, float] = {}  # run uid -> seen Successful
        self.pauses: dict[tuple[str, str, int], str] = {}  # (name, hash, step) -> startTime
        self.rollouts = Informer(client, ROLLOUT, namespace)
        self.rollouts.add_handler(self._on_rollout)
        self.informers = [self.rollouts]
        if replica_sets:
            rs = Informer(client, REPLICA_SET, namespace)
            rs.add_handler(self._on_replica_set)
            self.informers.append(rs)
        if analysis_runs:
            runs = Informer(client, ANALYSIS_RUN, namespace)
            runs.add_handler(self._on_run)
            self.informers.append(runs)

    def _on_rollout(self, _type: str, obj: dict[str, Any], _old: Any) -> None:
        st = status(obj)
        conditions = st.get("pauseConditions") or []
        if conditions and st.get("currentPodHash") and st.get("currentStepIndex") is not None:
            key = (obj["metadata"]["name"], str(st["currentPodHash"]),
                   int(st["currentStepIndex"]))
            with self.lock:
                self.pauses.setdefault(key, str(conditions[0].get("startTime", "")))

    def pause_started(self, name: str, pod_hash: str, step: int) -> str | None:
        """The stored startTime of `name`'s pause at `step` of revision `pod_hash`, once
        seen (kept here: a short pause may be over before a poll would look)."""
        with self.lock:
            return self.pauses.get((name, pod_hash, step))

    def _on_replica_set(self, _type: str, obj: dict[str, Any], _old: Any) -> None:
        now = time.time()
        key = (obj["metadata"]["name"], int((obj.get("spec") or {}).get("replicas", 0)))
        with self.lock:
            self.replicas.setdefault(key, now)

    def _on_run(self, _type: str, obj: dict[str, Any], _old: Any) -> None:
        now = time.time()
        uid = obj["metadata"]["uid"]
        owner = ((obj["metadata"].get("ownerReferences") or [{}])[0]).get("name", "")
        with self.lock:
            self.runs_created.setdefault(uid, (owner, now))
            if status(obj).get("phase") == "Successful":
                self.runs_successful.setdefault(uid, now)

    def start(self) -> Seen:
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            if not informer.wait_for_sync(60):
                raise RuntimeError(f"bench-compare: the {informer.kind.plural} watch of "
                                   f"{self.namespace} did not sync in 60 s")
        return self

    def stop(self) -> None:
        for informer in self.informers:
            informer.stop()

    def status(self, name: str) -> dict[str, Any]:
        return status(self.rollouts.get(self.namespace, name))

    def replicas_seen(self, rs: str, replicas: int) -> float | None:
        with self.lock:
            return self.replicas.get((rs, replicas))

    def verdict_seen(self, owner: str, since: float) -> float | None:
        """When a Successful AnalysisRun of `owner`, first seen after `since`, was seen so."""
        with self.lock:
            for uid, (run_owner, created) in self.runs_created.items():
                if run_owner == owner and created >= since and uid in self.runs_successful:
                    return self.runs_successful[uid]
        return None

    def count(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for obj in self.rollouts.list(self.namespace) if predicate(obj))
