"""Step latency while many Rollouts progress (`python -m tests.bench.run progressing`).

Our controller alone, on a fresh dev cluster. PROGRESSING_N background Rollouts (default
1,000; PROGRESSING_REPLICAS pods each, default 2) are mid-rollout for the whole
measurement: each gets one image change, spread at random over PROGRESSING_STAGGER
seconds (default 60), and then walks nine canary steps (setWeight 10, 20, ... 90), each
followed by a PROGRESSING_PAUSE-second pause (default 60). The controller thus moves
about N / PROGRESSING_PAUSE background steps a second, scaling ReplicaSets and kwok
pods as it goes, which is what "1,000 Rollouts progressing" costs in a real fleet.

Once all of them are progressing, ten more Rollouts in the same namespace, watched by
the same controller, give the samples: the latency scenario of `make bench-compare`
(tests/bench/compare/scenarios.py: after a pause ends, after an analysis verdict, after
promote), PROGRESSING_SAMPLES per figure (default 200: p99 is reported, and sampling
lasts long enough to see the background step).

The controller runs with PROGRESSING_WORKERS workers (default 10, `rollouts
controller`'s default; `make bench-compare` gives both controllers 4).

`python -m tests.bench.run progressing_argo` (opt-in; `make argo-rollouts` first) runs
the same scenario with Argo Rollouts v1.10.2 as the controller (its CRDs, the same
workers for its rollout and analysis thread pools, `--qps` as in `make bench-compare`)
and records it as its own section: the reference for what this machine allows.

Beside the latencies the run records what the load was while they were taken: how
many background Rollouts were progressing when sampling began and when it ended, the
background steps taken per minute, and the CPU per minute of the controller and of
each control-plane process (they share the machine's cores with it).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rollouts.devcluster import Cluster, down, up
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import ROLLOUT, KubeClient
from tests.bench.compare import scenarios
from tests.bench.compare.controllers import (
    ARGO_VERSION,
    Argo,
    Controller,
    Ours,
    argo_missing,
    parse_buckets,
    read_usage,
)
from tests.bench.compare.lab import Seen, image_patch, in_parallel, rollout, status, wait
from tests.bench.report import MIN_N_FOR_P99, env_number, latency_rows, record

SAMPLERS = 10
WEIGHTS = tuple(range(10, 100, 10))
CONTROL_PLANE = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok")
HISTOGRAMS = {"queue": ("workqueue_queue_duration_seconds", 'name="rollouts"'),
              "reconcile": ("rollout_reconcile", "")}
"""The controller's own histograms read before and after sampling: how long Rollout
keys waited in its queue, and how long their reconciles took."""


def background_steps(pause: float) -> list[dict[str, Any]]:
    """setWeight 10, pause, setWeight 20, pause, ... setWeight 90, pause."""
    steps: list[dict[str, Any]] = []
    for weight in WEIGHTS:
        steps += [{"setWeight": weight}, {"pause": {"duration": f"{pause:g}s"}}]
    return steps


def progressing(obj: dict[str, Any] | None) -> bool:
    """Mid-rollout: a new revision that is not yet the stable one."""
    st = status(obj)
    return bool(st.get("currentPodHash")) and st.get("currentPodHash") != st.get("stableRS")


def step_index(obj: dict[str, Any] | None) -> int:
    return int(status(obj).get("currentStepIndex") or 0)


def _cpu(cluster: Cluster, controller: Controller) -> dict[str, float]:
    """CPU seconds so far of the controller and of each control-plane process."""
    seconds = {"controller": controller.usage().cpu_seconds}
    for running in cluster.processes:
        if running.name in CONTROL_PLANE:
            seconds[running.name] = read_usage(running.pid).cpu_seconds
    return seconds


def _histograms(controller: Controller) -> dict[str, dict[float, float]]:
    text = controller.metrics()
    return {what: parse_buckets(text, family, match)
            for what, (family, match) in HISTOGRAMS.items()}


def bucket_quantile(counts: dict[float, float], fraction: float) -> float:
    """The smallest bucket bound holding `fraction` of the observations (cumulative
    counts), i.e. the quantile is at most this."""
    total = counts.get(math.inf, 0.0)
    return next((bound for bound in sorted(counts) if counts[bound] >= fraction * total),
                math.inf)


def share_over(counts: dict[float, float], bound: float) -> float:
    total = counts.get(math.inf, 0.0)
    return 0.0 if not total else 1.0 - counts.get(bound, 0.0) / total


class Background:
    """The progressing fleet: created Healthy, then changed once each, spread out."""

    def __init__(self, lab: scenarios.Lab, count: int, replicas: int, pause: float,
                 stagger: float) -> None:
        self.lab, self.count, self.replicas = lab, count, replicas
        self.pause, self.stagger = pause, stagger
        self.names = [f"bg-{i:04d}" for i in range(count)]
        self.found: dict[str, Any] = {}

    @contextmanager
    def around(self, ns: str, seen: Seen, controller: Controller) -> Iterator[None]:
        lab, steps = self.lab, background_steps(self.pause)
        in_parallel(lambda name: lab.client.create(
            ROLLOUT, ns, rollout(name, ns, steps, self.replicas, f"{name}:0")), self.names)
        wait(lambda: seen.count(lambda o: o["metadata"]["name"].startswith("bg-")
                                and status(o).get("phase") == "Healthy") == self.count,
             max(300, self.count * 0.6), "the background Rollouts to be Healthy",
             controller.alive, every=1)
        lab.say(f"{self.count} background Rollouts Healthy; changing each once over "
                f"{self.stagger:g}s")
        began = time.monotonic()
        draw = random.Random(14)
        offsets = sorted(draw.uniform(0, self.stagger) for _ in self.names)
        for name, offset in zip(self.names, offsets, strict=True):
            time.sleep(max(0.0, began + offset - time.monotonic()))
            lab.client.patch(ROLLOUT, ns, name, image_patch(f"{name}:1"), "json")

        def fleet() -> list[dict[str, Any] | None]:
            return [seen.rollouts.get(ns, name) for name in self.names]

        wait(lambda: all(progressing(o) for o in fleet()), max(120, self.count * 0.2),
             "every background Rollout to be progressing", controller.alive, every=1)
        first, cpu_before, clock = fleet(), _cpu(lab.cluster, controller), time.monotonic()
        histograms_before = _histograms(controller)
        lab.say(f"all {self.count} background Rollouts progressing; sampling")
        yield
        last, cpu_after = fleet(), _cpu(lab.cluster, controller)
        histograms_after = _histograms(controller)
        minutes = (time.monotonic() - clock) / 60
        self.found = {
            "minutes": minutes,
            "progressing_first": sum(progressing(o) for o in first),
            "progressing_last": sum(progressing(o) for o in last),
            "steps_per_minute": sum(step_index(b) - step_index(a)
                                    for a, b in zip(first, last, strict=True)) / minutes,
            "cpu_per_minute": {name: (cpu_after[name] - cpu_before.get(name, 0.0)) / minutes
                               for name in cpu_after},
            "load_average": os.getloadavg()[0],
            "histograms": {what: {bound: count - histograms_before[what].get(bound, 0.0)
                                  for bound, count in counts.items()}
                           for what, counts in histograms_after.items()},
        }


def _load_rows(found: dict[str, Any], count: int) -> list[dict[str, Any]]:
    rows = [
        {"figure": "background Rollouts progressing when sampling began / ended",
         "n": count, "value": f"{found['progressing_first']} / {found['progressing_last']}",
         "unit": ""},
        {"figure": "background canary steps taken per minute while sampling", "n": 1,
         "value": f"{found['steps_per_minute']:.0f}", "unit": "steps/min"},
    ]
    for what, title, bound in (("queue", "Rollout keys' wait in the controller's queue", 0.1),
                               ("reconcile", "Rollout reconciles' duration", 0.15)):
        counts = found["histograms"][what]
        n = int(counts.get(math.inf, 0))
        if not n:  # the controller does not export this histogram (Argo: no queue wait)
            continue
        if n >= MIN_N_FOR_P99:
            rows.append({"figure": f"{title}: p99 at most (bucket bound)", "n": n,
                         "value": f"{bucket_quantile(counts, 0.99) * 1000:.0f}",
                         "unit": "ms"})
        rows.append({"figure": f"{title}: share over {bound * 1000:.0f} ms", "n": n,
                     "value": f"{share_over(counts, bound) * 100:.1f}", "unit": "%"})
    for name, per_minute in sorted(found["cpu_per_minute"].items()):
        rows.append({"figure": f"CPU of {name} while sampling", "n": 1,
                     "value": f"{per_minute:.1f}", "unit": "CPU-s/min"})
    return rows


def run_argo() -> None:
    if missing := argo_missing():
        raise SystemExit(missing)
    run(Argo)


def run(kind: type[Controller] = Ours) -> None:
    count = int(env_number("PROGRESSING_N", 1000))
    samples = int(env_number("PROGRESSING_SAMPLES", 200))
    replicas = int(env_number("PROGRESSING_REPLICAS", 2))
    pause = env_number("PROGRESSING_PAUSE", 60)
    stagger = env_number("PROGRESSING_STAGGER", 60)
    workers = int(env_number("PROGRESSING_WORKERS", 10))  # `rollouts controller`'s default
    directory = Path(os.environ.get("PROGRESSING_CLUSTER_DIR")
                     or cache_dir() / "bench-progressing-cluster")
    began = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - began:6.0f}s] {line}", flush=True)

    down(lambda _line: None, directory=directory, quiet=True)
    cluster = up(say, directory=directory)
    try:
        lab = scenarios.Lab(cluster, KubeClient.from_kubeconfig(str(cluster.kubeconfig)),
                            directory / "logs", say)
        scenarios.install_crds(lab, kind)
        # Background: stable + canary + one surge pod at most; samplers: 5 + 5.
        scenarios.add_nodes(lab, count * (replicas * 2 + 1) + SAMPLERS * 10)
        background = Background(lab, count, replicas, pause, stagger)

        def make(namespace: str, controllers: str) -> Controller:
            return kind(cluster, namespace, lab.logs / f"{kind.__name__}-{namespace}.log",
                        controllers, workers)

        scenarios.latency(lab, make, samples, SAMPLERS, every=0.05,
                          around=background.around)
    finally:
        down(lambda _line: None, directory=directory)
    found, load = lab.raw["latency"], background.found
    took = time.monotonic() - began
    rows = (latency_rows("step latency after a pause ends", found["pause"])
            + latency_rows("step latency after an analysis verdict", found["verdict"])
            + latency_rows("step latency after promote", found["promote"])
            + _load_rows(load, count))
    for row in rows:
        say(f"{row['figure']}: {row['value']} {row['unit']} (N={row['n']})")
    argo = kind is Argo
    record("progressing_argo" if argo else "progressing",
           f"Step latency with {count:,} Rollouts progressing"
           + (f": Argo Rollouts {ARGO_VERSION} as the controller" if argo else ""),
           rows,
           f"{count:,} background Rollouts of {replicas} replicas walk setWeight 10, 20, "
           f"... 90 with a {pause:g} s pause after each, their image changes spread over "
           f"{stagger:g} s; once all are progressing, {SAMPLERS} more Rollouts of 5 "
           "replicas (steps setWeight 20, pause 2s, setWeight 40, inline analysis with one "
           "Prometheus measurement, setWeight 60, pause {}) go through image changes in the "
           "same namespace under the same controller. Each sample ends when the canary "
           "ReplicaSet's next `spec.replicas` arrives on the benchmark's watch and starts "
           "at the pause's planned end, at the AnalysisRun seen Successful, or just before "
           "the promote patch (the definitions of the `compare` table). The sampling "
           f"lasted {load['minutes']:.1f} min; the 1-minute load average at its end was "
           f"{load['load_average']:.1f} on this machine's cores, which the control plane, "
           "kwok, the controller and the benchmark share. The run took "
           f"{took / 60:.1f} min.",
           {"kubernetes": KUBERNETES.version},
           settings={"controller": (
                         f"`rollouts-controller {ARGO_VERSION} --namespaced --rollout-threads "
                         f"{workers} --analysis-threads {workers} --leader-elect=false` "
                         "(`--qps` / `--burst` as in `make bench-compare`)" if argo else
                         f"`rollouts controller -n <ns> --workers {workers} "
                         "--no-leader-elect --controllers rollouts,analysis`"),
                     "benchmark": f"PROGRESSING_N={count}, PROGRESSING_SAMPLES={samples}, "
                                  f"PROGRESSING_REPLICAS={replicas}, "
                                  f"PROGRESSING_PAUSE={pause:g}, "
                                  f"PROGRESSING_WORKERS={workers}, "
                                  f"PROGRESSING_STAGGER={stagger:g}"})
