"""`/metrics` as served (`exposition.render`) says exactly what prometheus_client said.

The reference is the code /metrics ran before the text was kept per object: the
collectors' `GaugeMetricFamily` loops (copied below from commit 6ad0bc9) and
`generate_latest` over prometheus_client's own samples of the counters and histograms.
Both read the same objects and the same metric children; the served text must parse to
the same families, types, HELP and samples, line for line. Also: label values that the
text format must escape, the per-object text following each change (new
resourceVersion, new observation, deletion), observations racing with scrapes, and
promtool's check of the output.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from rollouts.metrics import object_series
from rollouts.metrics.analysis_collector import PHASES, AnalysisRunCollector
from rollouts.metrics.analysis_collector import _args as run_args
from rollouts.metrics.analysis_collector import _last_text as last_text
from rollouts.metrics.analysis_collector import _last_value as last_value
from rollouts.metrics.app_metrics import ApplicationCollector, AppMetrics, GitMetrics
from rollouts.metrics.app_metrics import _repo as app_repo
from rollouts.metrics.controller_hooks import AnalysisRunMetrics, RolloutMetrics
from rollouts.metrics.exposition import number, render
from rollouts.metrics.object_series import ObjectMetrics, exposed
from rollouts.metrics.rollout_collector import (
    RolloutCollector,
    metric_phase,
    strategy_and_router,
)
from rollouts.metrics.rollout_collector import _int as as_int
from rollouts.metrics.values import (
    condition_threshold,
    judge_numbers,
    judge_thresholds,
    metric_dry_run,
    owner_rollout,
    provider_type,
)

Objects = Callable[[], list[dict[str, Any]]]
HOSTILE = ['back\\slash', 'double"quote', "new\nline", 'all\\"\n\\n', "ünï—cödé", "",
           "trailing\\", '{a="b"}', "100%", "tab\tand space"]


# --- the reference: the collectors as they were (commit 6ad0bc9) ---------------------

def reference_rollouts(rollouts: Objects) -> Iterator[GaugeMetricFamily]:
    nn = ["namespace", "name"]
    info = GaugeMetricFamily("rollout_info", "Information about rollout.",
                             labels=[*nn, "strategy", "traffic_router", "phase"])
    available = GaugeMetricFamily("rollout_info_replicas_available",
                                  "The number of available replicas per rollout.", labels=nn)
    unavailable = GaugeMetricFamily("rollout_info_replicas_unavailable",
                                    "The number of unavailable replicas per rollout.",
                                    labels=nn)
    desired = GaugeMetricFamily("rollout_info_replicas_desired",
                                "The number of desired replicas per rollout.", labels=nn)
    updated = GaugeMetricFamily("rollout_info_replicas_updated",
                                "The number of updated replicas per rollout.", labels=nn)
    weight = GaugeMetricFamily("rollout_canary_weight",
                               "Current canary weight of the rollout (percent of traffic).",
                               labels=nn)
    step = GaugeMetricFamily("rollout_step",
                             "Index of the rollout's current canary step (0-based; the "
                             "number of steps once complete).", labels=nn)
    for rollout in rollouts():
        meta = rollout.get("metadata") or {}
        spec = rollout.get("spec") or {}
        status = rollout.get("status") or {}
        key = [str(meta.get("namespace") or ""), str(meta.get("name") or "")]
        strategy, router = strategy_and_router(rollout)
        info.add_metric([*key, strategy, router, metric_phase(rollout)], 1)
        ready = as_int(status.get("availableReplicas"))
        available.add_metric(key, ready)
        unavailable.add_metric(key, as_int(status.get("replicas")) - ready)
        desired.add_metric(key, as_int(spec.get("replicas"), 1))
        updated.add_metric(key, as_int(status.get("updatedReplicas")))
        if strategy != "canary":
            continue
        canary = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
        if canary.get("weight") is not None:
            weight.add_metric(key, as_int(canary["weight"]))
        if status.get("currentStepIndex") is not None:
            step.add_metric(key, as_int(status["currentStepIndex"]))
    yield from (info, available, unavailable, desired, updated, weight, step)


def reference_runs(runs: Objects) -> Iterator[GaugeMetricFamily]:
    nn = ["namespace", "name"]
    info = GaugeMetricFamily("analysis_run_info", "Information about analysis run.",
                             labels=[*nn, "phase"])
    types = GaugeMetricFamily("analysis_run_metric_type",
                              "Information on the type of a specific metric in the "
                              "Analysis Runs", labels=[*nn, "metric", "type"])
    phases = GaugeMetricFamily("analysis_run_metric_phase",
                               "Information on the phase of a specific metric in the "
                               "Analysis Run (1 for its current phase)",
                               labels=[*nn, "metric", "type", "dry_run", "phase"])
    values = GaugeMetricFamily("analysis_run_measurement_value",
                               "Last measured value of a metric of an analysis run.",
                               labels=[*nn, "rollout", "metric"])
    thresholds = GaugeMetricFamily("analysis_run_metric_threshold",
                                   "Constant of a metric's success or failure condition, "
                                   "when it compares the result with one number.",
                                   labels=[*nn, "rollout", "metric", "condition"])
    scores = GaugeMetricFamily("analysis_run_judge_score",
                               "Score (0-100) of a judge metric's last judgement.",
                               labels=[*nn, "rollout", "metric"])
    judge_thresholds_ = GaugeMetricFamily(
        "analysis_run_judge_threshold", "Pass and marginal score thresholds of a judge metric.",
        labels=[*nn, "rollout", "metric", "threshold"])
    p_values = GaugeMetricFamily(
        "analysis_run_judge_p_value",
        "Mann-Whitney U p-value of one metric compared by a judge metric.",
        labels=[*nn, "rollout", "metric", "judge_metric"])
    effects = GaugeMetricFamily(
        "analysis_run_judge_effect_size",
        "Relative median shift (canary against baseline) of one metric compared by a judge "
        "metric.", labels=[*nn, "rollout", "metric", "judge_metric"])
    for run in runs():
        meta = run.get("metadata") or {}
        key = [str(meta.get("namespace") or ""), str(meta.get("name") or "")]
        status = run.get("status") or {}
        info.add_metric([*key, str(status.get("phase") or "")], 1)
        rollout = owner_rollout(run)
        results = {str(r.get("name")): r for r in status.get("metricResults") or []
                   if isinstance(r, dict)}
        args = run_args(run)
        for metric in (run.get("spec") or {}).get("metrics") or []:
            name = str(metric.get("name") or "")
            kind = provider_type(metric)
            result = results.get(name)
            current = str((result or {}).get("phase") or "Pending")
            dry_run = "true" if metric_dry_run(run, name, result) else "false"
            types.add_metric([*key, name, kind], 1)
            for phase in PHASES:
                phases.add_metric([*key, name, kind, dry_run, phase],
                                  1 if phase == current else 0)
            value = last_value(result) if result is not None else None
            if value is not None:
                values.add_metric([*key, rollout, name], value)
            for condition in ("success", "failure"):
                found = condition_threshold(metric.get(f"{condition}Condition"), args)
                if found is not None:
                    thresholds.add_metric([*key, rollout, name, condition], found[1])
            if kind != "Judge":
                continue
            for threshold, limit in judge_thresholds(metric).items():
                judge_thresholds_.add_metric([*key, rollout, name, threshold], limit)
            score, compared = judge_numbers(last_text(result) if result is not None else None)
            if score is not None:
                scores.add_metric([*key, rollout, name], score)
            for judged, p_value, effect in compared:
                if p_value is not None:
                    p_values.add_metric([*key, rollout, name, judged], p_value)
                if effect is not None:
                    effects.add_metric([*key, rollout, name, judged], effect)
    yield from (info, types, phases, values, thresholds, scores, judge_thresholds_, p_values,
                effects)


def reference_apps(apps: Objects) -> Iterator[GaugeMetricFamily]:
    family = GaugeMetricFamily("app_info", "Information about application.",
                               labels=["name", "namespace", "repo", "dest_namespace",
                                       "sync_status", "health_status"])
    for app in apps():
        meta = app.get("metadata") or {}
        spec = app.get("spec") or {}
        status = app.get("status") or {}
        family.add_metric([
            str(meta.get("name") or ""), str(meta.get("namespace") or ""), app_repo(spec),
            str((spec.get("destination") or {}).get("namespace") or ""),
            str((status.get("sync") or {}).get("status") or "Unknown"),
            str((status.get("health") or {}).get("status") or "Unknown"),
        ], 1)
    yield family


def reference_object_metrics(metrics: ObjectMetrics) -> Iterator[Metric]:
    """What `ObjectMetrics.collect` yielded: prometheus_client's families, `exposed`."""
    for metric in metrics.metrics():
        for family in metric.collect():
            yield exposed(family)


class Reference(Collector):
    def __init__(self, collect: Callable[[], Iterator[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Metric]:
        return self._collect()


# --- objects ---------------------------------------------------------------------------

def rollout(index: int, namespace: str = "shop", name: str | None = None) -> dict[str, Any]:
    """Rollouts of every shape the collector distinguishes, by `index`."""
    shape = index % 5
    strategy: dict[str, Any] = (
        {"blueGreen": {"activeService": "a"}} if shape == 1 else
        {} if shape == 2 else
        {"canary": {"steps": [{"setWeight": 20}],
                    **({"trafficRouting": {"istio": {}}} if shape == 3 else {})}})
    status: dict[str, Any] = {
        "phase": ["Progressing", "Paused", "Healthy", "Degraded", ""][index % 5],
        "replicas": index % 7, "availableReplicas": index % 3, "updatedReplicas": index % 4,
        "conditions": ([{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
                       if index % 11 == 0 else [])}
    if shape in (0, 1, 3):
        status["currentStepIndex"] = index % 4
        status["canary"] = {"weights": {"canary": {"weight": index % 101}}}
    if index % 13 == 0:
        status["abort"] = True
    return {"metadata": {"namespace": namespace, "name": name or f"svc-{index}",
                         "resourceVersion": str(100 + index)},
            "spec": {"replicas": index % 6 if index % 9 else None, "strategy": strategy},
            "status": status}


def run(index: int, namespace: str = "shop", name: str | None = None,
        rollout_name: str | None = None) -> dict[str, Any]:
    values = ["[0.97]", "0.5", "[]", "true", '{"a": 1}', "[1e300]", "-0.0", "[12345678.9]",
              '{"score":50,"classification":"Fail","metrics":[{"name":"latency",'
              '"classification":"High","pValue":0.0001,"effectSize":0.3},{"name":"errors",'
              '"classification":"NoData","pValue":null,"effectSize":null}]}']
    providers: list[dict[str, Any]] = [
        {"prometheus": {"query": "q"}}, {"web": {"url": "u"}}, {"job": {"spec": {}}},
        {"plugin": {"argoproj-labs/sample": {}}}, {},
        {"judge": {"window": "10m", "thresholds": {"pass": 90}, "metrics": []}}]
    metrics = [{"name": f"m{k}", "provider": providers[(index + k) % len(providers)],
                "successCondition": ["result[0] >= 0.95", "{{args.floor}} < result",
                                     "len(result) > 0"][(index + k) % 3],
                "failureCondition": "result > 5" if k else None}
               for k in range(3)]
    results = [{"name": f"m{k}", "phase": ["Running", "Successful", "Failed", "Error"][k],
                "measurements": [{"value": values[-1] if "judge" in metrics[k]["provider"]
                                  and n == 2 else values[(index + k + n) % len(values)]}
                                 for n in range(3)],
                **({"dryRun": True} if k == 2 else {})}
               for k in range(index % 4)]
    return {"metadata": {"namespace": namespace, "name": name or f"svc-{index}-1",
                         "resourceVersion": str(9000 + index),
                         "labels": {"rollouts.argoproj.io/rollout":
                                    rollout_name or f"svc-{index}"}},
            "spec": {"metrics": metrics, "args": [{"name": "floor", "value": "0.9"}],
                     "dryRun": [{"metricName": "m1"}] if index % 2 else []},
            "status": {"phase": "Running", "metricResults": results}}


def application(index: int, namespace: str = "argocd", name: str | None = None,
                repo: str = "https://bot:s3cret@git.example.com/org/apps.git"
                ) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name or f"app-{index}",
                         "resourceVersion": str(500 + index)},
            "spec": {"source": {"repoURL": repo}, "destination": {"namespace": "dest"}},
            "status": {"sync": {"status": "Synced"}} if index % 2 else {}}


class World:
    """The served collectors and the reference ones over the same objects and children."""

    def __init__(self, count: int = 30, hostile: bool = True) -> None:
        self.rollouts = [rollout(i) for i in range(count)]
        self.runs = [run(i) for i in range(count)]
        self.apps = [application(i) for i in range(count // 3)]
        if hostile:
            for index, text in enumerate(HOSTILE):
                self.rollouts.append(rollout(count + index, namespace=text, name=text))
                self.runs.append(run(count + index, namespace=text, name=text,
                                     rollout_name=text))
                self.apps.append(application(index, namespace=text, name=text,
                                             repo=f"https://h/{text}"))
        self.rollout_metrics = RolloutMetrics(lambda _ns, _n: True, clock=lambda: 1000.0)
        self.run_metrics = AnalysisRunMetrics(lambda _ns, _n: True)
        self.app_metrics = AppMetrics(lambda _ns, _n: True)
        self.git = GitMetrics()
        self.served = CollectorRegistry()
        for collector in (RolloutCollector(lambda: self.rollouts),
                          AnalysisRunCollector(lambda: self.runs),
                          ApplicationCollector(lambda: self.apps), self.rollout_metrics,
                          self.run_metrics, self.app_metrics, self.git):
            self.served.register(collector)
        self.reference = CollectorRegistry()
        for reference in (lambda: reference_rollouts(lambda: self.rollouts),
                          lambda: reference_runs(lambda: self.runs),
                          lambda: reference_apps(lambda: self.apps),
                          lambda: reference_object_metrics(self.rollout_metrics),
                          lambda: reference_object_metrics(self.run_metrics),
                          lambda: reference_object_metrics(self.app_metrics),
                          self.git.collect):
            self.reference.register(Reference(reference))

    def exercise(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            for index, item in enumerate(self.rollouts):
                meta = item["metadata"]
                for reason in ("RolloutUpdated", "RolloutStepCompleted", "RolloutCompleted"):
                    self.rollout_metrics.event(item, "Normal", reason)
                self.rollout_metrics.reconciled(meta["namespace"], meta["name"],
                                                index * 0.01, failed=index % 4 == 0)
            for index, item in enumerate(self.runs):
                meta = item["metadata"]
                self.run_metrics.reconciled(meta["namespace"], meta["name"], index * 0.1,
                                            failed=index % 3 == 0)
            for index, item in enumerate(self.apps):
                meta = item["metadata"]
                self.app_metrics.synced(meta["namespace"], meta["name"],
                                        ["Succeeded", "Failed"][index % 2])
                self.app_metrics.reconciled(meta["namespace"], meta["name"], index * 0.7,
                                            failed=False)
            self.git.observe("https://u:p@h/r.git", "fetch", 0.3)


def parsed(text: bytes) -> list[tuple[str, str, str, list[tuple[str, tuple[Any, ...], float]]]]:
    """Families as Prometheus reads them: name, type, HELP, sorted samples."""
    return [(family.name, family.type, family.documentation,
             sorted((s.name, tuple(sorted(s.labels.items())), s.value)
                    for s in family.samples))
            for family in text_string_to_metric_families(text.decode("utf-8"))]


def assert_same(world: World) -> bytes:
    served = render(world.served)
    reference = generate_latest(world.reference)
    assert parsed(served) == parsed(reference)
    assert sorted(served.splitlines()) == sorted(reference.splitlines())
    return served


# --- the tests ---------------------------------------------------------------------------

class TestSameAsPrometheusClient:
    def test_every_family_and_sample_as_generate_latest_wrote_them(self) -> None:
        world = World()
        world.exercise(rounds=2)
        served = assert_same(world)
        names = {family[0] for family in parsed(served)}
        assert {"rollout_info", "rollout_step", "analysis_run_metric_threshold",
                "analysis_run_measurement_value", "rollout_events", "app_info",
                "rollout_reconcile_error", "app_reconcile", "git_request"} <= names
        assert len(served.splitlines()) > 1000

    def test_the_benchmarks_objects_render_the_same(self) -> None:
        from tests.bench.metrics import build  # the scene `make bench` times
        scene = build(40)
        reference = CollectorRegistry()
        for collect in (lambda: reference_rollouts(lambda: scene.rollouts),
                        lambda: reference_runs(lambda: scene.runs),
                        lambda: reference_object_metrics(scene.rollout_metrics),
                        lambda: reference_object_metrics(scene.run_metrics)):
            reference.register(Reference(collect))
        for _ in range(2):  # written, then reused
            served, expected = render(scene.registry), generate_latest(reference)
            assert parsed(served) == parsed(expected)
            assert sorted(served.splitlines()) == sorted(expected.splitlines())
        assert scene.written() == 0
        scene.change(0.5)
        assert parsed(render(scene.registry)) == parsed(generate_latest(reference))
        assert scene.written() == 4 * 20

    def test_before_any_observation_the_empty_families_keep_their_headers(self) -> None:
        world = World(count=0, hostile=False)
        assert_same(world)
        assert b"# TYPE rollout_reconcile_error untyped\n" in render(world.served)

    def test_generate_latest_over_the_served_collectors_still_says_the_same(self) -> None:
        world = World()
        world.exercise()
        assert parsed(generate_latest(world.served)) == parsed(render(world.served))

    def test_families_come_in_the_registrys_order(self) -> None:
        world = World()
        world.exercise()
        served = [family[0] for family in parsed(render(world.served))]
        assert served == [family[0] for family in parsed(generate_latest(world.reference))]


class TestHostileLabelValues:
    def test_backslashes_quotes_and_newlines_are_escaped_and_read_back(self) -> None:
        world = World(count=0)
        world.exercise()
        served = assert_same(world)
        found = {dict(s.labels)["namespace"]
                 for family in text_string_to_metric_families(served.decode())
                 for s in family.samples if family.name == "rollout_info"}
        assert found == set(HOSTILE)
        assert b'namespace="new\\nline"' in served
        assert b'namespace="back\\\\slash"' in served
        assert b'namespace="double\\"quote"' in served
        assert b"new\nline" not in served  # a raw newline would end the line

    @pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
    def test_promtool_accepts_the_output(self) -> None:
        world = World()
        world.exercise()
        result = subprocess.run(["promtool", "check", "metrics"], input=render(world.served),
                                capture_output=True, check=False, timeout=60)
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
        assert not result.stdout.strip() and not result.stderr.strip(), result


class TestTextFollowsChanges:
    def test_a_new_resource_version_is_written_again_and_the_same_one_is_reused(self) -> None:
        world = World(count=10, hostile=False)
        collector = RolloutCollector(lambda: world.rollouts)
        list(collector.collect())
        assert collector.blocks.written == 10
        list(collector.collect())
        assert collector.blocks.written == 0
        changed = copy.deepcopy(world.rollouts[3])
        changed["metadata"]["resourceVersion"] = "99999"
        changed["status"]["availableReplicas"] = 42
        world.rollouts[3] = changed
        list(collector.collect())
        assert collector.blocks.written == 1
        assert_same(world)
        assert (b'rollout_info_replicas_available{name="svc-3",namespace="shop"} 42.0'
                in render(world.served))

    def test_objects_without_a_resource_version_are_written_at_every_scrape(self) -> None:
        world = World(count=4, hostile=False)
        for item in world.rollouts:
            del item["metadata"]["resourceVersion"]
        render(world.served)
        world.rollouts[0]["status"]["updatedReplicas"] = 77  # changed in place
        assert b'rollout_info_replicas_updated{name="svc-0",namespace="shop"} 77.0' in (
            render(world.served))

    def test_an_observation_after_a_scrape_is_in_the_next_one(self) -> None:
        world = World(count=5, hostile=False)
        world.exercise()
        render(world.served)
        world.rollout_metrics.reconciled("shop", "svc-2", 0.5, failed=True)
        served = assert_same(world)
        assert world.rollout_metrics.written == 1
        assert b'rollout_reconcile_error{name="svc-2",namespace="shop"} 1.0' in served
        render(world.served)
        assert world.rollout_metrics.written == 0
        world.rollout_metrics.event(world.rollouts[4], "Warning", "Odd")  # a count only
        served = assert_same(world)
        assert world.rollout_metrics.written == 1
        assert (b'rollout_events_total{name="svc-4",namespace="shop",reason="Odd",'
                b'type="Warning"} 1.0' in served)

    def test_deleted_objects_leave_and_a_new_one_of_the_same_name_starts_afresh(self) -> None:
        world = World(count=5, hostile=False)
        world.exercise(rounds=3)
        render(world.served)
        gone = world.rollouts.pop(1)
        world.rollout_metrics.on_change("DELETED", gone)
        served = assert_same(world)
        assert b'name="svc-1"' not in served.replace(b'name="svc-1-1"', b"")
        world.rollouts.append(gone)
        world.rollout_metrics.reconciled("shop", "svc-1", 0.2, failed=False)
        served = assert_same(world)
        assert b'rollout_reconcile_count{name="svc-1",namespace="shop"} 1.0' in served

    def test_observations_racing_with_scrapes_are_all_in_the_scrape_after(self) -> None:
        world = World(count=20, hostile=False)
        stop = threading.Event()

        def observe() -> None:
            for round_ in range(300):
                for item in world.rollouts:
                    meta = item["metadata"]
                    world.rollout_metrics.reconciled(meta["namespace"], meta["name"],
                                                     round_ * 0.001, failed=round_ % 7 == 0)

        def scrape() -> None:
            while not stop.is_set():
                render(world.served)

        scrapers = [threading.Thread(target=scrape) for _ in range(2)]
        observers = [threading.Thread(target=observe) for _ in range(2)]
        for thread in (*scrapers, *observers):
            thread.start()
        for thread in observers:
            thread.join()
        stop.set()
        for thread in scrapers:
            thread.join()
        served = assert_same(world)
        assert b'rollout_reconcile_count{name="svc-0",namespace="shop"} 600.0' in served


class TestNumbersAndReaders:
    @pytest.mark.parametrize("value", [0, 0.0, -0.0, 1, 1.0, 2.5, 4095.0, 4096.0, 1e6, 1e22,
                                       -1.0, -5, 0.99, 12345678.9, 1e-7, float("inf"),
                                       float("-inf"), float("nan"), 10**7])
    def test_numbers_are_written_as_prometheus_client_writes_them(self, value: float) -> None:
        go: Callable[[float], str] = floatToGoString  # untyped in prometheus_client
        assert number(value) == go(value)

    def test_a_reader_that_disagrees_with_collect_is_not_used(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(object_series._FAST_READERS, "histogram",
                            lambda child: [0.0] * (len(child._buckets) + 2))
        world = World(count=5, hostile=False)
        world.exercise(rounds=2)
        assert_same(world)
