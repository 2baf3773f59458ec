"""`make bench-compare`: `python -m tests.bench.compare` runs the same scenarios against
our controller and against the real Argo Rollouts v1.10.2 controller, one at a time, and
records one side-by-side table (BENCHMARKS.md entry `compare`) plus the chart
docs/bench-scale.svg (RSS and CPU against the number of Rollouts).

Each controller gets a fresh local dev cluster (same directory, same versions, brought
up the same way) with its own CRDs: ours from manifests/crds, Argo's from its Go module.
Both use the group argoproj.io, and a fresh cluster leaves nothing of one run (objects,
CRD versions, etcd size) under the other.

Knobs (environment):
- COMPARE_CONTROLLERS   ours,argo   which to run (the table needs both)
- COMPARE_SCENARIOS     latency,analysis,mass,idle
- COMPARE_LATENCY_N     100    samples per latency figure (p99 needs >= 100)
- COMPARE_LATENCY_PARALLEL 10  Rollouts driven in parallel for them
- COMPARE_RUNS          200    concurrent AnalysisRuns
- COMPARE_MASS          1000   Rollouts changed at once
- COMPARE_IDLE          10000  idle Rollouts (the table's row; the last chart point)
- COMPARE_IDLE_SECONDS  900    the idle window at COMPARE_IDLE
- COMPARE_POINTS        100,1000,10000  chart points (each below COMPARE_IDLE gets
                                         COMPARE_POINT_SECONDS, default 120)
- COMPARE_IDLE_REPLICAS 1      replicas of each idle Rollout
- COMPARE_ARGO_QPS      1000   Argo's client-side --qps (burst twice that); 40 = shipped
- COMPARE_RECORD        1      0 leaves BENCHMARKS.md and the chart alone (trial runs)
- COMPARE_REUSE         (none) `argo`: take Argo's figures from a saved run's results file
                               (COMPARE_REUSE_FROM, default the last run's) instead of
                               measuring it again; only with the same knobs, and the
                               table's notes say when that run was made
- COMPARE_CLUSTER_DIR   ~/.cache/rollouts/bench-compare-cluster  where the dev cluster lives
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollouts.devcluster import down, up
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import KubeClient, KubeError
from tests.bench.compare import scenarios
from tests.bench.compare.chart import Series, panel, svg
from tests.bench.compare.controllers import (
    ARGO_VERSION,
    CONTROLLERS,
    REPO,
    Argo,
    Controller,
    Ours,
    argo_missing,
)
from tests.bench.compare.scenarios import Lab, Point
from tests.bench.compare.table import Figure, rows, table
from tests.bench.report import commit, record, stop_on_sigterm

CLUSTER_DIR = Path(os.environ.get("COMPARE_CLUSTER_DIR") or cache_dir() / "bench-compare-cluster")
RESULTS = cache_dir() / "bench-compare-results.json"
CHART = REPO / "docs" / "bench-scale.svg"
SCENARIOS = ("latency", "analysis", "mass", "idle")



def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    try:
        return int(value)
    except ValueError:
        sys.exit(f"bench-compare: {name}={value!r} is not a whole number; set a number "
                 f"(default {default})")


def _env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in (os.environ.get(name) or default).split(",")
            if part.strip()]


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        minutes, seconds = divmod(int(self.elapsed()), 60)
        print(f"[{minutes:3d}:{seconds:02d}] {message}", flush=True)


@dataclass
class Outcome:
    """What one controller's run produced; `failed` names scenarios that raised."""

    figures: list[Figure] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)  # when, commit, scenarios, knobs


def _pods(wanted: list[str]) -> int:
    """Pods the scenarios may run at once, with room to spare (old and new ReplicaSets
    overlap during a step)."""
    return (("latency" in wanted) * _env_int("COMPARE_LATENCY_PARALLEL", 10) * 10
            + ("mass" in wanted) * _env_int("COMPARE_MASS", 1000) * 4
            + ("idle" in wanted) * _env_int("COMPARE_IDLE", 10000)
            * max(1, _env_int("COMPARE_IDLE_REPLICAS", 1)) * 2)


def run_controller(key: str, wanted: list[str], clock: Clock) -> Outcome:
    """Every scenario in `wanted` against one controller on a fresh cluster; a scenario
    that fails is reported and the next one runs (its rows stay empty)."""
    kind = CONTROLLERS[key]
    clock.say(f"== {kind.name}: fresh dev cluster in {CLUSTER_DIR}")
    down(lambda _line: None, directory=CLUSTER_DIR, quiet=True)
    cluster = up(lambda line: clock.say(f"   {line}"), directory=CLUSTER_DIR)
    outcome = Outcome()
    try:
        lab = Lab(cluster, KubeClient.from_kubeconfig(str(cluster.kubeconfig)),
                  CLUSTER_DIR / "logs", clock.say)
        scenarios.install_crds(lab, kind)
        scenarios.add_nodes(lab, _pods(wanted))

        def make(namespace: str, controllers: str) -> Controller:
            return kind(cluster, namespace, lab.logs / f"{key}-{namespace}.log", controllers)

        for scenario in wanted:
            began = time.monotonic()
            clock.say(f"== {kind.name}: {scenario}")
            try:
                _scenario(scenario, lab, make, outcome)
                if scenario != wanted[-1]:
                    lab.drop(f"cmp-{scenario}")
            except (RuntimeError, OSError, KubeError, AssertionError,
                    subprocess.SubprocessError) as exc:
                outcome.failed.append(scenario)
                clock.say(f"!! {kind.name}: {scenario} FAILED: {exc}")
                traceback.print_exc()
            clock.say(f"== {kind.name}: {scenario} took {time.monotonic() - began:.0f}s")
        outcome.raw = lab.raw
    finally:
        down(lambda _line: None, directory=CLUSTER_DIR)
    return outcome


def _scenario(scenario: str, lab: Lab, make: Callable[[str, str], Controller],
              outcome: Outcome) -> None:
    if scenario == "latency":
        outcome.figures += scenarios.latency(lab, make, _env_int("COMPARE_LATENCY_N", 100),
                                             _env_int("COMPARE_LATENCY_PARALLEL", 10))
    elif scenario == "analysis":
        outcome.figures += scenarios.analysis(lab, make, _env_int("COMPARE_RUNS", 200))
    elif scenario == "mass":
        outcome.figures += scenarios.mass(lab, make, _env_int("COMPARE_MASS", 1000))
    elif scenario == "idle":
        outcome.points = scenarios.idle(lab, make, _idle_points(),
                                        _env_int("COMPARE_IDLE_SECONDS", 900),
                                        _env_int("COMPARE_POINT_SECONDS", 120),
                                        _env_int("COMPARE_IDLE_REPLICAS", 1))
        outcome.figures += scenarios.idle_figures(outcome.points)


def _idle_points() -> list[int]:
    idle = _env_int("COMPARE_IDLE", 10000)
    try:
        points = {int(p) for p in _env_list("COMPARE_POINTS", "100,1000,10000")}
    except ValueError:
        sys.exit("bench-compare: COMPARE_POINTS must be comma-separated whole numbers")
    return sorted({p for p in points if p < idle} | {idle})


def chart(ours: list[Point], argo: list[Point]) -> str:
    def series(pick: Callable[[Point], float]) -> list[Series]:
        return [Series("ours", [(p.rollouts, pick(p)) for p in ours]),
                Series(f"Argo Rollouts {ARGO_VERSION}", [(p.rollouts, pick(p)) for p in argo])]

    return svg([panel("RSS", "Rollouts", "MiB", series(lambda p: p.rss_mib)),
                panel("CPU until all Healthy", "Rollouts", "CPU seconds",
                      series(lambda p: p.cpu_to_healthy)),
                panel("Idle CPU", "Rollouts", "CPU seconds per minute",
                      series(lambda p: p.cpu_per_minute))],
               "How controller cost grows with the number of Rollouts (make bench-compare)",
               ["ours", f"Argo Rollouts {ARGO_VERSION}"],
               "Same local dev cluster, one controller at a time; RSS at the end of the idle "
               "window; CPU from the controller's start.")


def _save(results: dict[str, Outcome]) -> None:
    RESULTS.write_text(json.dumps({k: {"figures": [f.__dict__ for f in o.figures],
                                       "points": [p.__dict__ for p in o.points],
                                       "raw": o.raw, "failed": o.failed, "run": o.run}
                                   for k, o in results.items()}, indent=1))


def main() -> int:
    stop_on_sigterm()
    wanted = _env_list("COMPARE_SCENARIOS", ",".join(SCENARIOS))
    keys = _env_list("COMPARE_CONTROLLERS", "ours,argo")
    unknown = [s for s in wanted if s not in SCENARIOS] + [k for k in keys
                                                           if k not in CONTROLLERS]
    if unknown:
        sys.exit(f"bench-compare: unknown {', '.join(unknown)}; scenarios are "
                 f"{', '.join(SCENARIOS)}, controllers {', '.join(CONTROLLERS)}")
    reused = _reused(keys, wanted)
    if "argo" in keys and "argo" not in reused and (missing := argo_missing()):
        sys.exit(missing)
    clock = Clock()
    results: dict[str, Outcome] = {}
    for key in keys:
        if key in reused:
            results[key] = reused[key]
            continue
        results[key] = run_controller(key, wanted, clock)
        results[key].run = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                            "commit": commit(), "scenarios": wanted, "knobs": _knobs()}
        _save(results)  # a later failure keeps what this controller measured
    total = clock.elapsed()
    ours, argo = (results.get(k, Outcome()) for k in ("ours", "argo"))
    lines = table(ours.figures, argo.figures)
    failed = [f"{CONTROLLERS[k].name}: {s}" for k, o in results.items() for s in o.failed]
    print("\n".join(lines), flush=True)
    clock.say(f"whole run {total / 60:.1f} min" + (f"; FAILED {', '.join(failed)}"
                                                   if failed else ""))
    clock.say(f"raw samples in {RESULTS}")
    if os.environ.get("COMPARE_RECORD", "1") == "0" or set(keys) != set(CONTROLLERS):
        clock.say("not recorded (COMPARE_RECORD=0 or not both controllers)")
        return 1 if failed else 0
    if ours.points and argo.points:
        CHART.write_text(chart(ours.points, argo.points))
        clock.say(f"chart written to {CHART.relative_to(REPO)}")
    _record(ours.figures, argo.figures, lines, total, wanted, failed, _reuse_note(reused))
    return 1 if failed else 0


def _knobs() -> dict[str, str]:
    """The COMPARE_ knobs that change what is measured (not where or whether it is kept)."""
    kept = ("COMPARE_RECORD", "COMPARE_REUSE", "COMPARE_REUSE_FROM", "COMPARE_CLUSTER_DIR",
            "COMPARE_CONTROLLERS")
    return {name: os.environ[name] for name in sorted(os.environ)
            if name.startswith("COMPARE_") and name not in kept}


def _reused(keys: list[str], wanted: list[str]) -> dict[str, Outcome]:
    """Outcomes taken from a saved run (COMPARE_REUSE), checked against this run's knobs."""
    reuse = _env_list("COMPARE_REUSE", "")
    if not reuse:
        return {}
    source = Path(os.environ.get("COMPARE_REUSE_FROM") or RESULTS)
    try:
        saved = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"bench-compare: COMPARE_REUSE needs a saved run: cannot read {source} "
                 f"({exc}); run without COMPARE_REUSE first")
    outcomes: dict[str, Outcome] = {}
    for key in reuse:
        entry = saved.get(key)
        if key not in keys or not isinstance(entry, dict):
            sys.exit(f"bench-compare: COMPARE_REUSE={key}: {source} holds no run of '{key}'; "
                     f"it holds {', '.join(saved) or 'nothing'}")
        meta = entry.get("run") or {}
        if meta.get("scenarios") != wanted or meta.get("knobs") != _knobs():
            sys.exit(f"bench-compare: COMPARE_REUSE={key}: the saved run measured "
                     f"{meta.get('scenarios')} with knobs {meta.get('knobs')}, this one "
                     f"{wanted} with {_knobs()}; measure both again")
        outcomes[key] = Outcome(figures=[Figure(**f) for f in entry["figures"]],
                                points=[Point(**p) for p in entry["points"]],
                                raw=entry.get("raw") or {}, failed=entry.get("failed") or [],
                                run=meta)
    return outcomes


def _reuse_note(reused: dict[str, Outcome]) -> str:
    return "".join(f" {CONTROLLERS[key].name}'s figures are reused from its run of "
                   f"{outcome.run.get('when')} (commit {outcome.run.get('commit')}, same "
                   "machine, knobs and scenarios; COMPARE_REUSE), not measured again."
                   for key, outcome in reused.items())


DEFINITIONS = [
    "- step latency: ends when the canary ReplicaSet's next `spec.replicas` arrives on a "
    "watch in the benchmark process; starts at a pause's planned end (stored "
    "`pauseConditions[].startTime` + 2 s), at the inline AnalysisRun (count 1, "
    "Prometheus) seen Successful on the watch, or just before the promote status patch "
    "(`pauseConditions: null`) is sent. Rollouts of 5 replicas driven in parallel.",
    "- AnalysisRuns: one Prometheus metric every 10 s, count 6, created at once; the "
    "controller runs only its analysis controller; CPU from the first create to all "
    "finished, divided by the measurements stored.",
    "- Rollouts changed at once: 2 replicas, steps setWeight 20, setWeight 40, pause {}; "
    "an image patch to each from 8 threads; \"per step\" divides the controller's "
    "non-watch requests by Rollouts x 3 steps (the two setWeights and entering the pause). "
    "Each setWeight waits for its pods, so the times include the cluster's ReplicaSet "
    "controller and kwok making pods Ready.",
    "- idle Rollouts: created Healthy, then the controller alone for the window; RSS is "
    "VmRSS at its end; watch (re)opens are counted apart from the other requests.",
]


def _record(ours: list[Figure], argo: list[Figure], lines: list[str], total: float,
            wanted: list[str], failed: list[str], reuse_note: str = "") -> None:
    knobs = {name: os.environ[name] for name in sorted(os.environ)
             if name.startswith("COMPARE_")}
    notes = "\n".join([
        f"`make bench-compare` (`tests/bench/compare/`): the same scenarios against our "
        f"controller and against Argo Rollouts {ARGO_VERSION}, one at a time, each on a fresh "
        "local dev cluster with its own CRDs; every figure is seen from outside the "
        "controller (watches in the benchmark process, /proc for CPU and RSS, each "
        "controller's own request counter on its /metrics). Every row is lower-is-better; "
        "the ratio is Argo / ours, so above 1 means ours is ahead. The scenarios, "
        "start and end events are described in tests/bench/compare/scenarios.py. The whole "
        f"run ({', '.join(wanted)}, {'one controller' if reuse_note else 'both controllers'}"
        f") took {total / 60:.1f} min"
        + (f"; knobs {knobs}" if knobs else "") + "."
        + (f" FAILED (rows missing): {', '.join(failed)}." if failed else "") + reuse_note,
        "",
        *DEFINITIONS, "", *lines])
    record("compare", f"Side by side with Argo Rollouts {ARGO_VERSION}: same scenarios, same "
           "local cluster", rows("ours", ours) + rows("Argo Rollouts", argo)
           + [{"figure": "whole run", "n": 1, "value": f"{total / 60:.1f}", "unit": "min"}],
           notes, {"kubernetes": KUBERNETES.version, "argo-rollouts": ARGO_VERSION},
           settings={"ours": Ours.settings(), "Argo Rollouts": Argo.settings(),
                     "cluster": f"a fresh dev cluster per controller (kwok nodes; "
                                f"{os.cpu_count()} cores shared by the control plane, the "
                                "controller and the benchmark)"})


if __name__ == "__main__":
    sys.exit(main())
