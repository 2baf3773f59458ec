"""The four scenarios of `make bench-compare`, each run against one controller.

Each scenario gets its own namespace and a fresh controller process (so a peak RSS
belongs to one scenario), and returns `Figure`s. What is measured, for both controllers:

- `latency`: P Rollouts (5 replicas; steps setWeight 20, pause 2s, setWeight 40,
  analysis, setWeight 60, pause {}) go through image changes in parallel threads. Three
  samples per image change, each ending when the canary ReplicaSet's next
  `spec.replicas` arrives on this process's watch:
  - after a pause ends: from the pause's planned end, the stored
    `pauseConditions[].startTime` + 2 s (Argo stores whole seconds and times its own
    expiry from that stored value, so this is each controller's own planned end);
  - after an analysis verdict: from the inline AnalysisRun (one Prometheus measurement,
    count 1) being seen Successful on the watch (Argo's `finishedAt` has whole seconds
    only, so the stored time cannot be the start for both);
  - after promote: from the moment before the status patch `rollouts promote` sends
    (`{"status": {"pauseConditions": null}}`, the same one Argo's plugin sends).
- `analysis`: R AnalysisRuns (one Prometheus metric, every 10 s, count 6) created at
  once, controller running its analysis controller only; CPU from before the first
  create until all runs finish, divided by the measurements stored in their status.
- `mass`: M Healthy Rollouts (2 replicas; steps setWeight 20, setWeight 40, pause {})
  get an image change from 8 threads at once; time from the first patch to the last
  Rollout seen at step 2 with its pause condition; CPU and non-watch API requests of
  the controller over that span. "Per step" divides by M x 3: the three canary steps
  each Rollout executes (setWeight 20, setWeight 40, entering the pause).
- `idle`: Rollouts (1 replica by default) created up to each point (e.g. 100, 1,000,
  10,000), waited Healthy, then the controller is left alone for a window; per point:
  CPU seconds since the controller started (creating and reconciling them all),
  current RSS, idle CPU per minute and API requests per minute (watches apart).

Neighbours: `lab` (what is seen), `controllers` (who is measured), `table` (figures).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollouts.devcluster import Cluster
from rollouts.kube import (
    ANALYSIS_RUN,
    ANALYSIS_TEMPLATE,
    NAMESPACE,
    ROLLOUT,
    KubeClient,
    NotFound,
)
from tests.bench.compare.controllers import Controller
from tests.bench.compare.lab import (
    PODS_PER_NODE,
    Seen,
    fake_nodes,
    image_patch,
    in_parallel,
    parse_time,
    prometheus_metric,
    rollout,
    status,
    wait,
)
from tests.bench.compare.table import Figure, latency_figures
from tests.integration.exporter import Exporter, wait_until_scraped

Say = Callable[[str], None]
PAUSE_SECONDS = 2
RUN_INTERVAL, RUN_COUNT = 10, 6
MASS_STEPS = 3  # setWeight 20, setWeight 40, entering pause {}


@dataclass
class Lab:
    """One dev cluster with one controller's CRDs installed."""

    cluster: Cluster
    client: KubeClient
    logs: Path
    say: Say
    raw: dict[str, Any] = field(default_factory=dict)  # samples, kept for the results file

    def namespace(self, name: str) -> str:
        self.client.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": name}})
        return name


    def drop(self, name: str, timeout: float = 900) -> None:
        """Delete a scenario's namespace and wait until it is gone, so the next scenario
        runs beside nothing of this one (the controller has stopped; the garbage
        collector and kwok remove ReplicaSets and pods)."""
        began = time.monotonic()
        self.client.delete(NAMESPACE, None, name)

        def gone() -> bool:
            try:
                self.client.get(NAMESPACE, None, name)
            except NotFound:
                return True
            return False

        try:
            wait(gone, timeout, f"namespace {name} to be deleted", every=2)
        except RuntimeError as exc:
            self.say(f"{exc}; going on beside it")
        else:
            self.say(f"namespace {name} deleted in {time.monotonic() - began:.0f}s")


CRD_NAMES = ("rollouts.argoproj.io", "analysisruns.argoproj.io", "analysistemplates.argoproj.io",
             "clusteranalysistemplates.argoproj.io", "experiments.argoproj.io")
"""The CRDs both controllers' manifests define and the scenarios use."""


def install_crds(lab: Lab, kind: type[Controller], names: tuple[str, ...] = CRD_NAMES) -> None:
    """Apply one controller's CRDs (server-side) and wait until they are served."""
    kubectl = [str(lab.cluster.kubectl), f"--kubeconfig={lab.cluster.kubeconfig}"]
    for path in kind.crds():
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(path)], check=True,
                       capture_output=True)
    lab.cluster.wait_for_crds(list(names))


def add_nodes(lab: Lab, pods: int) -> None:
    """Extra kwok nodes with room for `pods` pods, waited Ready."""
    nodes = fake_nodes(pods)
    lab.cluster.kubectl_run("apply", "-f", "-", input_text=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": nodes}))

    def ready() -> bool:
        items = json.loads(lab.cluster.kubectl_run("get", "nodes", "-o", "json"))["items"]
        return sum(any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (n.get("status") or {}).get("conditions") or [])
                   for n in items if n["metadata"]["name"].startswith("compare-node-")
                   ) == len(nodes)

    wait(ready, 120, "the extra kwok nodes to be Ready", every=1)
    lab.say(f"{len(nodes)} extra kwok node(s) of {PODS_PER_NODE} pods Ready")


def _delta(after: dict[str, float], before: dict[str, float], watch: bool) -> float:
    return sum(v - before.get(k, 0.0) for k, v in after.items() if (k == "watch") == watch)


def _exporter(lab: Lab) -> Exporter:
    exporter = Exporter(lab.cluster.prometheus_targets)
    exporter.set("bench_ratio", 0.99)
    wait_until_scraped(lab.cluster.prometheus_url, f'bench_ratio{{job="{exporter.job}"}}')
    return exporter


# -- step latency ------------------------------------------------------------------------

Around = Callable[[str, Seen, Controller], AbstractContextManager[object]]
"""Work kept going beside the latency samples: entered once the sampled Rollouts are
Healthy, with their namespace, watch and controller, and left when the samples are in."""


def latency(lab: Lab, make: Callable[[str, str], Controller], samples: int, parallel: int,
            *, stagger: float = 0.0, every: float = 0.02,
            around: Around | None = None) -> list[Figure]:
    """`stagger` spreads the Rollouts' first image changes at random over that many
    seconds (so many Rollouts progress at once without stepping in lockstep); `every`
    is how often a driving thread looks at what it waits for (the samples' ends come
    from the watch, not from these looks); `around` is load kept going while the
    samples are taken (`tests/bench/progressing.py`)."""
    ns = lab.namespace("cmp-latency")
    iterations = math.ceil(samples / parallel)
    lab.say(f"latency: {parallel} Rollouts x {iterations} image changes")
    starts = random.Random(13)
    patience = max(60.0, parallel * 0.3)  # seconds for each awaited state
    with _exporter(lab) as exporter, make(ns, "rollouts,analysis") as controller:
        lab.client.create(ANALYSIS_TEMPLATE, ns, {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "bench-ok", "namespace": ns},
            "spec": {"metrics": [prometheus_metric(lab.cluster.prometheus_url, exporter.job,
                                                   count=1, interval=None)]}})
        steps: list[dict[str, Any]] = [
                 {"setWeight": 20}, {"pause": {"duration": f"{PAUSE_SECONDS}s"}},
                 {"setWeight": 40}, {"analysis": {"templates": [{"templateName": "bench-ok"}]}},
                 {"setWeight": 60}, {"pause": {}}]
        names = [f"lat-{i:02d}" for i in range(parallel)]
        seen = Seen(lab.client, ns, replica_sets=True, analysis_runs=True).start()
        try:
            for name in names:
                lab.client.create(ROLLOUT, ns, rollout(name, ns, steps, 5, f"{name}:0"))
            wait(lambda: all(seen.status(n).get("phase") == "Healthy" for n in names),
                 max(120, parallel * 0.5), "the latency Rollouts to be Healthy",
                 controller.alive, every=max(every, 0.2))
            found: dict[str, list[float]] = {"pause": [], "verdict": [], "promote": []}
            errors: list[BaseException] = []
            lock = threading.Lock()

            def drive(name: str, delay: float) -> None:
                try:
                    time.sleep(delay)
                    for i in range(1, iterations + 1):
                        got = _one_change(lab, seen, controller, ns, name, i, every, patience)
                        with lock:
                            for key, value in got.items():
                                found[key].append(value)
                except BaseException as exc:  # reported by the main thread
                    errors.append(exc)

            threads = [threading.Thread(target=drive, args=(n, starts.uniform(0, stagger)),
                                        daemon=True) for n in names]
            with around(ns, seen, controller) if around else nullcontext():
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            if errors:
                raise errors[0]
        finally:
            seen.stop()
    lab.raw["latency"] = found
    return (latency_figures("step latency after a pause ends", found["pause"])
            + latency_figures("step latency after an analysis verdict", found["verdict"])
            + latency_figures("step latency after promote", found["promote"]))


def _one_change(lab: Lab, seen: Seen, controller: Controller, ns: str, name: str, i: int,
                every: float, patience: float) -> dict[str, float]:
    before = seen.status(name).get("currentPodHash")
    began = time.time()
    lab.client.patch(ROLLOUT, ns, name, image_patch(f"{name}:{i}"), "json")

    def at(step: int) -> bool:
        st = seen.status(name)
        return (st.get("currentPodHash") not in (None, before)
                and st.get("currentStepIndex") == step and bool(st.get("pauseConditions")))

    def new_hash() -> str | None:
        current = seen.status(name).get("currentPodHash")
        return None if current in (None, before) else str(current)

    wait(lambda: new_hash() is not None, patience, f"{name}'s new revision",
         controller.alive, every)
    pod_hash = _must_str(new_hash())
    wait(lambda: seen.pause_started(name, pod_hash, 1) is not None, patience,
         f"{name} at its timed pause", controller.alive, every)
    rs = f"{name}-{pod_hash}"
    planned_end = parse_time(_must_str(seen.pause_started(name, pod_hash, 1))) + PAUSE_SECONDS
    wait(lambda: seen.replicas_seen(rs, 2) is not None, patience, f"{rs} at 2 replicas",
         controller.alive, every)
    verdict: list[float] = []

    def judged() -> bool:
        when = seen.verdict_seen(name, began)
        if when is not None:
            verdict.append(when)
        return when is not None

    wait(judged, patience, f"{name}'s AnalysisRun Successful", controller.alive, every)
    wait(lambda: seen.replicas_seen(rs, 3) is not None, patience, f"{rs} at 3 replicas",
         controller.alive, every)
    wait(lambda: at(5), patience, f"{name} at its indefinite pause", controller.alive, every)
    sent = time.time()
    lab.client.patch_status(ROLLOUT, ns, name, {"status": {"pauseConditions": None}})
    wait(lambda: seen.replicas_seen(rs, 5) is not None, patience, f"{rs} at 5 replicas",
         controller.alive, every)
    wait(lambda: seen.status(name).get("phase") == "Healthy"
         and seen.status(name).get("stableRS") == pod_hash, patience,
         f"{name} Healthy", controller.alive, every)
    return {"pause": _must(seen.replicas_seen(rs, 2)) - planned_end,
            "verdict": _must(seen.replicas_seen(rs, 3)) - verdict[0],
            "promote": _must(seen.replicas_seen(rs, 5)) - sent}


def _must(value: float | None) -> float:
    assert value is not None
    return value


def _must_str(value: str | None) -> str:
    assert value is not None
    return value


# -- concurrent AnalysisRuns ---------------------------------------------------------------

def analysis(lab: Lab, make: Callable[[str, str], Controller], count: int) -> list[Figure]:
    ns = lab.namespace("cmp-analysis")
    lab.say(f"analysis: {count} AnalysisRuns, a measurement every {RUN_INTERVAL}s, "
            f"count {RUN_COUNT}")
    with _exporter(lab) as exporter, make(ns, "analysis") as controller:
        metric = prometheus_metric(lab.cluster.prometheus_url, exporter.job, count=RUN_COUNT,
                                   interval=f"{RUN_INTERVAL}s")
        cpu_before = controller.usage().cpu_seconds
        in_parallel(lambda i: lab.client.create(ANALYSIS_RUN, ns, {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": f"run-{i:04d}", "namespace": ns},
            "spec": {"metrics": [metric]}}), range(count))

        def runs() -> list[dict[str, Any]]:
            return list(lab.client.list(ANALYSIS_RUN, ns).items)

        final: list[dict[str, Any]] = []

        def finished() -> bool:
            final[:] = runs()
            return sum(status(r).get("phase") in ("Successful", "Failed", "Error",
                                                  "Inconclusive") for r in final) == count

        wait(finished, RUN_INTERVAL * RUN_COUNT + 180 + count * 0.2,
             f"{count} AnalysisRuns to finish", controller.alive, every=2)
        usage = controller.usage()
    measurements = sum(len(result.get("measurements") or [])
                       for run in final for result in status(run).get("metricResults") or [])
    phases = sorted(str(status(r).get("phase")) for r in final)
    lab.raw["analysis"] = {"phases": {p: len(list(g)) for p, g in itertools.groupby(phases)},
                           "measurements": measurements}
    cpu = usage.cpu_seconds - cpu_before
    return [Figure(f"{count} concurrent AnalysisRuns: CPU per measurement",
                   cpu / max(1, measurements) * 1000, "CPU-ms", measurements),
            Figure(f"{count} concurrent AnalysisRuns: controller CPU", cpu, "CPU-s", 1),
            Figure(f"{count} concurrent AnalysisRuns: peak RSS", usage.peak_rss_mib, "MiB", 1)]


# -- 1,000 Rollouts changed at once -------------------------------------------------------

def mass(lab: Lab, make: Callable[[str, str], Controller], count: int) -> list[Figure]:
    ns = lab.namespace("cmp-mass")
    steps: list[dict[str, Any]] = [{"setWeight": 20}, {"setWeight": 40}, {"pause": {}}]
    names = [f"m{i:05d}" for i in range(count)]
    reached: dict[str, float] = {}
    hashes: dict[str, str] = {}
    lock = threading.Lock()

    def on_rollout(_type: str, obj: dict[str, Any], _old: Any) -> None:
        now, st, name = time.time(), status(obj), obj["metadata"]["name"]
        if (st.get("currentStepIndex") == 2 and st.get("pauseConditions")
                and name in hashes and st.get("currentPodHash") != hashes[name]):
            with lock:
                reached.setdefault(name, now)

    with make(ns, "rollouts,analysis") as controller:
        seen = Seen(lab.client, ns)
        seen.rollouts.add_handler(on_rollout)
        seen.start()
        try:
            lab.say(f"mass: creating {count} Rollouts")
            in_parallel(lambda n: lab.client.create(ROLLOUT, ns, rollout(n, ns, steps, 2,
                                                                           "app:1")), names)
            _wait_healthy(seen, count, controller)
            for name in names:
                hashes[name] = str(seen.status(name).get("currentPodHash"))
            _settle(controller)
            # Scrape first, read /proc second (and the reverse at the end): rendering
            # /metrics costs the controller CPU that is not the work measured.
            requests_before = controller.requests()
            cpu_before = controller.usage().cpu_seconds
            lab.say(f"mass: changing the image of all {count} at once")
            started = time.time()
            sent: dict[str, float] = {}

            def change(name: str) -> None:
                sent[name] = time.time()
                lab.client.patch(ROLLOUT, ns, name, image_patch("app:2"), "json")

            in_parallel(change, names)
            wait(lambda: len(reached) == count, 300 + count * 1.0,
                 f"{count} Rollouts at step 2", controller.alive, every=0.2)
            elapsed = max(reached.values()) - started
            usage, requests = controller.usage(), controller.requests()
        finally:
            seen.stop()
    non_watch = _delta(requests, requests_before, watch=False)
    each = [reached[n] - sent[n] for n in names]
    lab.raw["mass"] = {"per_rollout_seconds": each, "requests": requests,
                       "requests_before": requests_before}
    return [Figure(f"{count} Rollouts changed at once: time until all reach step 2",
                   elapsed, "s", count),
            *latency_figures(f"{count} Rollouts changed at once: each, its patch to step 2",
                             each),
            Figure(f"{count} Rollouts changed at once: controller CPU",
                   usage.cpu_seconds - cpu_before, "CPU-s", 1),
            Figure(f"{count} Rollouts changed at once: peak RSS (whole scenario)",
                   usage.peak_rss_mib, "MiB", 1),
            Figure(f"{count} Rollouts changed at once: API requests per Rollout per step "
                   f"(non-watch, {MASS_STEPS} steps)",
                   non_watch / count / MASS_STEPS, "req", count)]


def _settle(controller: Controller, quiet: float = 15, limit: float = 300) -> None:
    """Until the controller sent no non-watch request for `quiet` seconds (or `limit`).
    Polls every 3 s: each scrape renders the controller's whole /metrics."""
    deadline = time.monotonic() + limit
    last = _delta(controller.requests(), {}, watch=False)
    calm_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - calm_since < quiet:
        time.sleep(3)
        now = _delta(controller.requests(), {}, watch=False)
        if now != last:
            last, calm_since = now, time.monotonic()


# -- idle Rollouts, by count ---------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """The idle scenario at one number of Rollouts."""

    rollouts: int
    cpu_to_healthy: float  # CPU-s since the controller started, all `rollouts` Healthy
    rss_mib: float  # VmRSS at the end of the idle window
    cpu_per_minute: float
    requests_per_minute: float  # non-watch
    watches_per_minute: float
    window: float


def idle(lab: Lab, make: Callable[[str, str], Controller], points: list[int],
         window: float, point_window: float, replicas: int) -> list[Point]:
    ns = lab.namespace("cmp-idle")
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    results: list[Point] = []
    created = 0
    with make(ns, "rollouts,analysis") as controller:
        seen = Seen(lab.client, ns).start()
        try:
            for target in points:
                lab.say(f"idle: creating Rollouts {created} to {target}")
                in_parallel(lambda i: lab.client.create(ROLLOUT, ns, rollout(
                    f"i{i:05d}", ns, steps, replicas, "app:1")), range(created, target))
                created = target
                _wait_healthy(seen, target, controller)
                cpu_to_healthy = controller.usage().cpu_seconds
                _settle(controller)
                span = window if target == points[-1] else min(window, point_window)
                lab.say(f"idle: {target} Rollouts Healthy; watching the controller for "
                        f"{span:.0f}s")
                requests_before = controller.requests()  # scrape outside the window
                before = controller.usage()
                began = time.monotonic()
                while time.monotonic() - began < span:
                    time.sleep(min(5.0, span))
                    controller.alive()
                elapsed = time.monotonic() - began
                after, requests = controller.usage(), controller.requests()
                per_minute = 60 / elapsed
                results.append(Point(
                    target, cpu_to_healthy, after.rss_mib,
                    (after.cpu_seconds - before.cpu_seconds) * per_minute,
                    _delta(requests, requests_before, watch=False) * per_minute,
                    _delta(requests, requests_before, watch=True) * per_minute, elapsed))
                point = results[-1]
                lab.say(f"idle: {target} Rollouts: RSS {point.rss_mib:.0f} MiB, CPU "
                        f"{point.cpu_to_healthy:.1f} s until Healthy, idle "
                        f"{point.cpu_per_minute:.2f} CPU-s/min, "
                        f"{point.requests_per_minute:.1f} req/min + "
                        f"{point.watches_per_minute:.1f} watches/min")
        finally:
            seen.stop()
    lab.raw["idle"] = [p.__dict__ for p in results]
    return results


def _wait_healthy(seen: Seen, count: int, controller: Controller) -> None:
    def healthy() -> bool:
        return seen.count(lambda o: status(o).get("phase") == "Healthy") == count

    wait(healthy, 300 + count * 0.5, f"{count} Rollouts Healthy", controller.alive, every=1)


def idle_figures(points: list[Point]) -> list[Figure]:
    """The table's rows: the last (largest) point."""
    if not points:
        return []
    p = points[-1]
    window = f"{p.window / 60:.0f} min window"
    return [Figure(f"{p.rollouts} idle Rollouts: RSS", p.rss_mib, "MiB", 1),
            Figure(f"{p.rollouts} idle Rollouts: CPU per minute ({window})",
                   p.cpu_per_minute, "CPU-s/min", 1),
            Figure(f"{p.rollouts} idle Rollouts: non-watch API requests per minute",
                   p.requests_per_minute, "req/min", 1),
            Figure(f"{p.rollouts} idle Rollouts: watch (re)opens per minute",
                   p.watches_per_minute, "req/min", 1),
            Figure(f"{p.rollouts} Rollouts created: controller CPU until all Healthy",
                   p.cpu_to_healthy, "CPU-s", 1)]
