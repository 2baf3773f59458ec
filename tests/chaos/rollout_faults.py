"""The Rollout faults: SIGKILL of the leading replica (canary, blue-green), kube-apiserver
and etcd killed and restarted mid-rollout, Prometheus stopped during an analysis.

Each fault owns a namespace, runs one calibration rollout without the fault (its
duration bounds the random moment of the fault), then N runs, each judged by the checks
of `scenarios`. Neighbours: `harness` (Lab, Controller, Outcome), `scenarios`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from rollouts.devcluster import Cluster, restart_component, start_component, stop_component
from tests.chaos.harness import (
    CLUSTER_DIR,
    RUN_TIMEOUT,
    Controller,
    Lab,
    Outcome,
    Wrong,
    leader_of,
    say,
    wait_for,
)
from tests.chaos.scenarios import (
    ERROR_LIMIT,
    Run,
    SelectorLog,
    blue_green,
    bluegreen_problems,
    canary,
    canary_problems,
    install_templates,
    prometheus_canary,
)

CONTROLLERS = "rollouts,analysis"
CALIBRATION_FALLBACK_SECONDS = 15.0
SHORT_OUTAGE_SECONDS = 4.0
"""prometheus-stop, odd runs: Prometheus down this long (plus its ~1 s restart): one
measurement (interval 2 s) errors; the next try is 10 s later (analysis/decide.py), when
it is back: 1 error, within consecutiveErrorLimit 4."""
LONG_OUTAGE_SECONDS = 50.0
"""prometheus-stop, even runs: covers 5 tries 10 s apart, more than the limit of 4."""


def _calibrate(outcome: Outcome, start: Callable[[str], Run],
               judge: Callable[[Run], list[str]]) -> float:
    """One run without the fault: its duration, the window the fault's moment is drawn in
    (CALIBRATION_FALLBACK_SECONDS if the run failed)."""
    try:
        run = start("cal")
        run.update()
        problems = judge(run)
        seconds = time.monotonic() - run.updated_at
        run.delete()
    except Wrong as problem:
        problems, seconds = [str(problem)], CALIBRATION_FALLBACK_SECONDS
    outcome.notes.append(f"calibration run without the fault: {seconds:.0f} s"
                         + (f", WRONG: {'; '.join(problems)}" if problems else ""))
    say(f"calibration: {seconds:.1f}s{' WRONG ' + str(problems) if problems else ''}")
    return max(2.0, seconds)


def leader_kill(lab: Lab, n: int, strategy: str, rng: random.Random) -> Outcome:
    """Two replicas; SIGKILL the leader at a random moment of the rollout; start a
    replacement so two stay up; the standby must take over and finish it right."""
    fault = f"leader-kill-{strategy}"
    outcome = Outcome(fault, n)
    namespace = lab.namespace(f"chaos-{strategy}")
    install_templates(lab.client, namespace, lab.cluster.prometheus_url)
    replicas = [lab.controller(CONTROLLERS, fault).wait_ready() for _ in range(2)]
    selectors = SelectorLog(lab.client, namespace) if strategy == "bluegreen" else None
    manifest = canary if strategy == "canary" else blue_green

    def start(tag: str) -> Run:
        return Run(lab.client, namespace, manifest(f"{strategy[:2]}-{tag}"))

    def judge(run: Run, before: list[str]) -> list[str]:
        if selectors is None:
            return canary_problems(run)
        return bluegreen_problems(run, selectors, before)

    try:
        window = _calibrate(outcome, start, lambda run: judge(
            run, selectors.history(f"{run.name}-active") if selectors else []))
        moments: list[str] = []
        for index in range(1, n + 1):
            problems: list[str] = []
            run: Run | None = None
            try:
                run = start(f"{index:02d}")
                before = selectors.history(f"{run.name}-active") if selectors else []
                for replica in replicas:
                    replica.wait_ready()
                leader_of(lab, replicas)  # both up, one leading, before the update
                run.update()
                time.sleep(rng.uniform(0, window))
                leader = leader_of(lab, replicas)
                now = run.status()
                where = (f"step {now.get('currentStepIndex')}" if strategy == "canary"
                         else f"{now.get('phase')}: {now.get('message', '')}"[:60])
                leader.kill()
                killed_at = time.monotonic()
                moments.append(f"{killed_at - run.updated_at:.1f}s ({where})")
                replicas.remove(leader)
                replicas.append(lab.controller(CONTROLLERS, fault))
                _wait_taken_over(lab, leader.identity)
                outcome.failovers.append(time.monotonic() - killed_at)
                problems += judge(run, before)
                replicas[-1].wait_ready()
                new_leader = leader_of(lab, replicas)
                others = [r.readyz() for r in replicas if r is not new_leader]
                if others != ["ok: standby"]:
                    problems.append(f"the other replica says {others}, expected ok: standby")
            except Wrong as problem:
                problems.append(str(problem))
            outcome.judge(index, problems)
            if run is not None:
                run.delete()
        outcome.notes.append("kill moments (s after the update, where the rollout was): "
                             + ", ".join(moments))
    finally:
        if selectors is not None:
            selectors.stop()
        for replica in replicas:
            replica.end()
    return outcome


def _wait_taken_over(lab: Lab, dead: str) -> None:
    wait_for(lambda: lab.holder(CONTROLLERS) not in ("", dead), RUN_TIMEOUT,
             "another replica to take the Lease", lambda: lab.holder(CONTROLLERS))


def component_restart(lab: Lab, n: int, component: str, rng: random.Random) -> Outcome:
    """One controller; `component` SIGKILLed and started again at a random moment of a
    canary; the controller is not touched and must finish the rollout right, alive and
    leading."""
    fault = f"{'apiserver' if component == 'kube-apiserver' else component}-restart"
    outcome = Outcome(fault, n)
    namespace = lab.namespace(f"chaos-{component}")
    install_templates(lab.client, namespace, lab.cluster.prometheus_url)
    controller = lab.controller(CONTROLLERS, fault).wait_ready()

    def start(tag: str) -> Run:
        return Run(lab.client, namespace, canary(f"{component[:4]}-{tag}"))

    outages: list[float] = []
    try:
        window = _calibrate(outcome, start, canary_problems)
        for index in range(1, n + 1):
            problems: list[str] = []
            run = None
            try:
                run = start(f"{index:02d}")
                run.update()
                time.sleep(rng.uniform(0, window))
                began = time.monotonic()
                restart_component(say, component, directory=CLUSTER_DIR, grace_seconds=0)
                outages.append(time.monotonic() - began)
                problems += canary_problems(run)
                problems += _still_leading(lab, controller)
            except Wrong as problem:
                problems.append(str(problem))
            outcome.judge(index, problems)
            if run is not None:
                run.delete()
            if not controller.alive():
                break  # the rest cannot be right without a restart, which we do not do
        if outages:
            outcome.notes.append(f"{component} down (kill to healthy again) "
                                 f"{min(outages):.1f}-{max(outages):.1f} s")
    finally:
        controller.end()
    return outcome


def _still_leading(lab: Lab, controller: Controller) -> list[str]:
    if not controller.alive():
        return [f"the controller process exited (code {controller.process.returncode}); "
                f"log tail: {controller.tail(600)!r}"]
    if lab.holder(CONTROLLERS) != controller.identity or controller.readyz() != "ok: leading":
        return [f"the controller no longer leads: Lease holder "
                f"{lab.holder(CONTROLLERS)!r}, /readyz {controller.readyz()!r}"]
    return []


def prometheus_stop(lab: Lab, n: int, _rng: random.Random) -> Outcome:
    """One controller; Prometheus stopped once the step analysis has measured, for a
    short (odd runs) or long (even runs) outage.

    Expected, from the analysis semantics: the run Errors iff more than
    consecutiveErrorLimit measurements in a row errored (then the Rollout aborts: the
    new revision never becomes stable and is scaled to 0, the old one back to full);
    otherwise the errors are tolerated and the Rollout completes on the new revision.
    """
    outcome = Outcome("prometheus-stop", n)
    namespace = lab.namespace("chaos-prometheus")
    install_templates(lab.client, namespace, lab.cluster.prometheus_url)
    controller = lab.controller(CONTROLLERS, "prometheus-stop").wait_ready()
    shapes: list[str] = []
    try:
        for index in range(1, n + 1):
            long = index % 2 == 0
            problems: list[str] = []
            run = None
            try:
                run = Run(lab.client, namespace, prometheus_canary(f"prom-{index:02d}"))
                problems += _outage_run(run, long, shapes)
                problems += _still_leading(lab, controller)
            except Wrong as problem:
                problems.append(str(problem))
            outcome.judge(index, problems)
            if run is not None:
                run.delete()
        outcome.notes.append("outages: " + ", ".join(shapes))
    finally:
        controller.end()
        start_component_if_down()
    return outcome


def _outage_run(run: Run, long: bool, shapes: list[str]) -> list[str]:
    """Update, stop Prometheus once the step run has measured, start it again after the
    outage; the verdict expected from the analysis semantics."""
    stables: list[str] = []
    found: list[str] = []
    run.update()

    def measured() -> bool:
        stables.append(str(run.status().get("stableRS")))
        if not run.observe_new():
            return False
        for name, item in run.runs().items():
            results = (item.get("status") or {}).get("metricResults") or []
            if results and results[0].get("measurements"):
                found.append(name)
                return True
        return False

    wait_for(measured, RUN_TIMEOUT, "the step analysis's first measurement")
    stop_component(say, "prometheus", directory=CLUSTER_DIR)
    deadline = time.monotonic() + (LONG_OUTAGE_SECONDS if long else SHORT_OUTAGE_SECONDS)
    while time.monotonic() < deadline:
        stables.append(str(run.status().get("stableRS")))
        time.sleep(0.2)
    start_component(say, "prometheus", directory=CLUSTER_DIR)
    return _prometheus_verdict(run, found[0], stables, shapes)


def start_component_if_down() -> None:
    cluster = Cluster.load(CLUSTER_DIR)
    if cluster is not None and not cluster.healthy().get("prometheus", False):
        start_component(say, "prometheus", directory=CLUSTER_DIR)


def _consecutive_errors(item: dict[str, Any]) -> int:
    results = (item.get("status") or {}).get("metricResults") or [{}]
    longest = streak = 0
    for measurement in results[0].get("measurements") or []:
        streak = streak + 1 if measurement.get("phase") == "Error" else 0
        longest = max(longest, streak)
    return longest


def _prometheus_verdict(run: Run, step_run: str, stables: list[str], shapes: list[str]
                        ) -> list[str]:
    wait_for(lambda: (run.runs()[step_run].get("status") or {}).get("phase") in (
        "Successful", "Failed", "Error", "Inconclusive"), RUN_TIMEOUT,
        f"AnalysisRun {step_run} to finish", lambda: run.runs()[step_run].get("status"))
    item = run.runs()[step_run]
    errors = _consecutive_errors(item)
    phase = (item.get("status") or {}).get("phase")
    expected = "Error" if errors > ERROR_LIMIT else "Successful"
    shapes.append(f"{errors} errors in a row -> {phase}")
    problems: list[str] = []
    if errors == 0:
        problems.append("the analysis saw no error: the outage missed it")
    if phase != expected:
        problems.append(f"AnalysisRun {step_run} is {phase} after {errors} consecutive "
                        f"errors (limit {ERROR_LIMIT}): expected {expected}")
    if expected == "Successful":
        problems += run.wait_healthy_on_new(3)
        return problems
    try:
        wait_for(lambda: run.status().get("abort") is True
                 and run.replicas().get(run.new) == 0 and run.replicas().get(run.old) == 2,
                 RUN_TIMEOUT, "the abort back to stable (new 0, old 2 replicas)",
                 lambda: (run.replicas(), run.status().get("abort")))
    except Wrong as problem:
        problems.append(str(problem))
    stables.append(str(run.status().get("stableRS")))
    if any(stable == run.new for stable in stables) or run.status().get("stableRS") != run.old:
        problems.append(f"promoted what it should not: stableRS values seen {set(stables)}, "
                        f"new {run.new}, old {run.old}")
    return problems

