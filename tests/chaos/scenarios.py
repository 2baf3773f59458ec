"""The Rollouts the chaos faults drive, and the checks that say a run ended right.

A canary with setWeight, a timed pause, a step analysis and a background analysis, and a
blue-green with a pre-promotion analysis and a timed auto-promotion; both query the
cluster's real Prometheus for `up{job="prometheus"}` (Prometheus scraping itself, so the
series always exists while it runs). Each run uses a fresh Rollout, so its revision 2
is the update under test; Events are counted from a snapshot taken just before it.

Neighbours: `harness` (processes, Events, waiting), `rollout_faults` (what is injected).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from rollouts.kube import (
    ANALYSIS_RUN,
    ANALYSIS_TEMPLATE,
    REPLICA_SET,
    ROLLOUT,
    SERVICE,
    AlreadyExists,
    Informer,
    KubeClient,
)
from tests.chaos.harness import (
    RUN_TIMEOUT,
    Wrong,
    count_problems,
    event_names,
    new_events,
    reasons,
    wait_for,
)

HASH = "rollouts-pod-template-hash"
REPLICAS = 2
PAUSE_SECONDS = 3
AUTO_PROMOTION_SECONDS = 3
CANARY_STEPS: list[dict[str, Any]] = [
    {"setWeight": 50},
    {"pause": {"duration": f"{PAUSE_SECONDS}s"}},
    {"analysis": {"templates": [{"templateName": "chaos-step"}]}},
    {"setWeight": 75},
]
ANALYSIS_STEP = 2  # index of the analysis step: its run is <rollout>-<hash>-2-2
QUERY = 'up{job="prometheus"}'
PROMETHEUS_INTERVAL = "2s"
PROMETHEUS_COUNT = 8
ERROR_LIMIT = 4
"""consecutiveErrorLimit of the Prometheus-outage analysis (Argo's default): the run
Errors once more than this many measurements in a row errored; after an error the next
try is 10 s later, so an outage must last ~45 s to exhaust the budget."""


def template(name: str, address: str, *, interval: str, count: int | None,
             error_limit: int | None = None) -> dict[str, Any]:
    metric: dict[str, Any] = {
        "name": "up", "interval": interval, "successCondition": "result[0] == 1",
        "provider": {"prometheus": {"address": address, "query": QUERY}}}
    if count is not None:
        metric["count"] = count
    if error_limit is not None:
        metric["consecutiveErrorLimit"] = error_limit
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": name}, "spec": {"metrics": [metric]}}


def install_templates(client: KubeClient, namespace: str, prometheus: str) -> None:
    for body in (template("chaos-step", prometheus, interval="1s", count=3),
                 template("chaos-bg", prometheus, interval="2s", count=None),
                 template("chaos-prom", prometheus, interval=PROMETHEUS_INTERVAL,
                          count=PROMETHEUS_COUNT, error_limit=ERROR_LIMIT)):
        with contextlib.suppress(AlreadyExists):
            client.create(ANALYSIS_TEMPLATE, namespace, body)


def _rollout(name: str, strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
                 "strategy": strategy},
    }


def canary(name: str) -> dict[str, Any]:
    return _rollout(name, {"canary": {
        "steps": CANARY_STEPS,
        "analysis": {"templates": [{"templateName": "chaos-bg"}], "startingStep": 1}}})


def prometheus_canary(name: str) -> dict[str, Any]:
    return _rollout(name, {"canary": {"steps": [
        {"setWeight": 50},
        {"analysis": {"templates": [{"templateName": "chaos-prom"}]}},
        {"setWeight": 75}]}})


def blue_green(name: str) -> dict[str, Any]:
    return _rollout(name, {"blueGreen": {
        "activeService": f"{name}-active", "previewService": f"{name}-preview",
        "prePromotionAnalysis": {"templates": [{"templateName": "chaos-step"}]},
        "autoPromotionEnabled": False, "autoPromotionSeconds": AUTO_PROMOTION_SECONDS,
        "scaleDownDelaySeconds": 2}})


def status(client: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return dict(client.get(ROLLOUT, namespace, name).get("status") or {})


class Run:
    """One fresh Rollout: deployed, then updated to revision 2 (the change under test)."""

    def __init__(self, client: KubeClient, namespace: str, manifest: dict[str, Any]) -> None:
        self.client, self.namespace = client, namespace
        self.name = str(manifest["metadata"]["name"])
        for service in ("active", "preview") if "blueGreen" in manifest["spec"]["strategy"] \
                else ():
            self.client.create(SERVICE, namespace, {
                "metadata": {"name": f"{self.name}-{service}"},
                "spec": {"selector": {"app": self.name}, "ports": [{"port": 80}]}})
        client.create(ROLLOUT, namespace, manifest)
        wait_for(lambda: self.status().get("phase") == "Healthy"
                 and bool(self.status().get("stableRS")), RUN_TIMEOUT,
                 f"{self.name} to be Healthy on its first revision", self.status)
        self.old = str(self.status()["stableRS"])
        time.sleep(1)  # the first revision's last Events are recorded
        self.before = event_names(client, namespace, self.name)
        self.new = ""
        self.updated_at = 0.0

    def status(self) -> dict[str, Any]:
        return status(self.client, self.namespace, self.name)

    def update(self) -> None:
        self.client.patch(ROLLOUT, self.namespace, self.name, [
            {"op": "replace", "path": "/spec/template/spec/containers/0/image",
             "value": "app:2"}], "json")
        self.updated_at = time.monotonic()

    def observe_new(self) -> bool:
        """Whether the revision-2 hash is known yet (read from the status)."""
        current = str(self.status().get("currentPodHash") or "")
        if current and current != self.old:
            self.new = current
        return bool(self.new)

    def wait_healthy_on_new(self, steps: int | None) -> list[str]:
        """Problems unless the Rollout ends Healthy, stable on revision 2 (at its last
        step, for a canary)."""
        def done() -> bool:
            s = self.status()
            return (self.observe_new() and s.get("phase") == "Healthy"
                    and s.get("stableRS") == self.new
                    and (steps is None or s.get("currentStepIndex") == steps))
        try:
            wait_for(done, RUN_TIMEOUT, f"{self.name} Healthy on the new revision",
                     lambda: {k: self.status().get(k) for k in (
                         "phase", "message", "currentStepIndex", "stableRS",
                         "currentPodHash", "abort")})
        except Wrong as problem:
            return [f"final state: {problem}"]
        time.sleep(1)  # the Events of the last status write are recorded just after it
        return []

    def events(self) -> list[tuple[str, str]]:
        return new_events(self.client, self.namespace, self.name, self.before)

    def runs(self) -> dict[str, dict[str, Any]]:
        """This revision's AnalysisRuns by name."""
        items = self.client.list(ANALYSIS_RUN, self.namespace,
                                 label_selector=f"rollouts.argoproj.io/rollout={self.name}")
        return {str(r["metadata"]["name"]): r for r in items.items
                if (r["metadata"].get("labels") or {}).get(HASH) == self.new}

    def replicas(self) -> dict[str, int]:
        items = self.client.list(REPLICA_SET, self.namespace,
                                 label_selector=f"app={self.name}").items
        return {str(rs["metadata"]["labels"].get(HASH)): int(rs["spec"].get("replicas") or 0)
                for rs in items}

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            self.client.delete(ROLLOUT, self.namespace, self.name)


def canary_problems(run: Run) -> list[str]:
    """The canary checks: Healthy on revision 2 at the last step; each step's Event once;
    one AnalysisRun per analysis (step, background) and the step run Successful."""
    problems = run.wait_healthy_on_new(len(CANARY_STEPS))
    if problems:
        return problems
    events = run.events()
    count = len(CANARY_STEPS)
    expected = {"template changed": ("RolloutUpdated", f"Pod template changed ({run.new})")}
    for index in range(1, count + 1):
        expected[f"step {index} completed"] = ("RolloutStepCompleted",
                                               f"Step {index}/{count} completed")
    step_run = f"{run.name}-{run.new}-2-{ANALYSIS_STEP}"
    background = f"{run.name}-{run.new}-2"
    expected.update({
        "pause ended": ("RolloutResumed", f"Pause of {PAUSE_SECONDS}s ended"),
        "step run created": ("AnalysisRunCreated", f"Created step AnalysisRun {step_run}"),
        "background run created": ("AnalysisRunCreated",
                                   f"Created background AnalysisRun {background}"),
        "completed": ("RolloutCompleted", f"Rollout completed: revision 2 ({run.new})"),
    })
    problems += count_problems(events, expected)
    problems += [f"unexpected event {r}: {m}" for r, m in events if r == "RolloutAborted"]
    runs = run.runs()
    if sorted(runs) != sorted([step_run, background]):
        problems.append(f"AnalysisRuns of the revision: {sorted(runs)}, expected exactly "
                        f"{sorted([step_run, background])}")
    elif (runs[step_run].get("status") or {}).get("phase") != "Successful":
        problems.append(f"step run {step_run} is "
                        f"{(runs[step_run].get('status') or {}).get('phase')}")
    if problems:
        problems.append(f"events seen: {reasons(events)}")
    return problems


class SelectorLog:
    """Every distinct selector value each Service had, in order, from a watch."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.values: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self.informer = Informer(client, SERVICE, namespace)
        self.informer.add_handler(self._seen)
        self.informer.start()
        self.informer.wait_for_sync(30)

    def _seen(self, _type: str, obj: dict[str, Any], _old: Any) -> None:
        name = str(obj["metadata"]["name"])
        value = str(((obj.get("spec") or {}).get("selector") or {}).get(HASH) or "")
        with self.lock:
            history = self.values.setdefault(name, [])
            if not history or history[-1] != value:
                history.append(value)

    def history(self, service: str) -> list[str]:
        with self.lock:
            return list(self.values.get(service, []))

    def stop(self) -> None:
        self.informer.stop()


def bluegreen_problems(run: Run, selectors: SelectorLog, history_before: list[str]
                       ) -> list[str]:
    """The blue-green checks: Healthy on revision 2; the active Service switched to the
    new hash exactly once (watched); one AnalysisRun; each Event once."""
    problems = run.wait_healthy_on_new(None)
    if problems:
        return problems
    active = f"{run.name}-active"
    after = selectors.history(active)[len(history_before):]
    if history_before[-1:] != [run.old] or after != [run.new]:
        problems.append(f"active Service selector history {history_before} then {after}; "
                        f"expected {run.old} then exactly one switch to {run.new}")
    events = run.events()
    pre = f"{run.name}-{run.new}-2-pre"
    problems += count_problems(events, {
        "template changed": ("RolloutUpdated", f"Pod template changed ({run.new})"),
        "pre-promotion run created": ("AnalysisRunCreated",
                                      f"Created prepromotion AnalysisRun {pre}"),
        "auto-promoted": ("RolloutResumed", f"Auto-promoted after {AUTO_PROMOTION_SECONDS}s"),
        "active switched": ("SwitchService", f"Switched selector for service '{active}' "
                            f"from '{run.old}' to '{run.new}'"),
        "completed": ("RolloutCompleted", f"Rollout completed: revision 2 ({run.new})"),
    })
    runs = run.runs()
    if sorted(runs) != [pre]:
        problems.append(f"AnalysisRuns of the revision: {sorted(runs)}, expected exactly "
                        f"[{pre}]")
    elif (runs[pre].get("status") or {}).get("phase") != "Successful":
        problems.append(f"pre-promotion run is {(runs[pre].get('status') or {}).get('phase')}")
    if problems:
        problems.append(f"events seen: {reasons(events)}")
    return problems
