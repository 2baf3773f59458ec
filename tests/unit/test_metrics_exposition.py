"""The exported series are a contract (DESIGN section 5; Argo's dashboard reads them):
their names and label names, as `/metrics` serves them (`exposition.render`), are pinned
here, so a rename fails a test. Also: a deleted object's series are gone at the next
scrape, whatever kept them."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import CollectorRegistry

from rollouts.metrics.analysis_collector import AnalysisRunCollector
from rollouts.metrics.app_metrics import ApplicationCollector, AppMetrics, GitMetrics
from rollouts.metrics.controller_hooks import AnalysisRunMetrics, RolloutMetrics
from rollouts.metrics.exposition import render
from rollouts.metrics.rollout_collector import RolloutCollector

NN = {"namespace", "name"}
HISTOGRAM = ("_bucket", "_count", "_sum")


def _histogram(name: str, labels: set[str]) -> dict[str, frozenset[str]]:
    return {name + suffix: frozenset(labels | ({"le"} if suffix == "_bucket" else set()))
            for suffix in HISTOGRAM}


PINNED: dict[str, frozenset[str]] = {
    # Argo Rollouts' names
    "rollout_info": frozenset(NN | {"strategy", "traffic_router", "phase"}),
    "rollout_info_replicas_available": frozenset(NN),
    "rollout_info_replicas_unavailable": frozenset(NN),
    "rollout_info_replicas_desired": frozenset(NN),
    "rollout_info_replicas_updated": frozenset(NN),
    **_histogram("rollout_reconcile", NN),
    "rollout_reconcile_error": frozenset(NN),
    "rollout_events_total": frozenset(NN | {"type", "reason"}),
    "analysis_run_info": frozenset(NN | {"phase"}),
    "analysis_run_metric_type": frozenset(NN | {"metric", "type"}),
    "analysis_run_metric_phase": frozenset(NN | {"metric", "type", "dry_run", "phase"}),
    **_histogram("analysis_run_reconcile", NN),
    "analysis_run_reconcile_error": frozenset(NN),
    # ours
    "rollout_canary_weight": frozenset(NN),
    "rollout_step": frozenset(NN),
    **_histogram("rollout_step_duration_seconds", NN),
    **_histogram("rollout_duration_seconds", NN),
    "analysis_run_measurement_value": frozenset(NN | {"rollout", "metric"}),
    "analysis_run_metric_threshold": frozenset(NN | {"rollout", "metric", "condition"}),
    "analysis_run_judge_score": frozenset(NN | {"rollout", "metric"}),
    "analysis_run_judge_threshold": frozenset(NN | {"rollout", "metric", "threshold"}),
    "analysis_run_judge_p_value": frozenset(NN | {"rollout", "metric", "judge_metric"}),
    "analysis_run_judge_effect_size": frozenset(NN | {"rollout", "metric", "judge_metric"}),
    "app_info": frozenset(NN | {"repo", "dest_namespace", "sync_status", "health_status"}),
    "app_sync_total": frozenset(NN | {"phase"}),
    **_histogram("app_reconcile", NN),
    "git_request_total": frozenset({"repo", "request_type"}),
    **_histogram("git_request_duration_seconds", {"repo", "request_type"}),
}

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')


def series(registry: CollectorRegistry) -> dict[str, set[frozenset[str]]]:
    """Sample name -> the label-name sets it is exported with, read from the text format."""
    found: dict[str, set[frozenset[str]]] = {}
    for line in render(registry).decode().splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = frozenset(_LABEL.findall(match.group(2) or ""))
            found.setdefault(match.group(1), set()).add(labels)
    return found


def samples(registry: CollectorRegistry, name: str) -> list[str]:
    return [line for line in render(registry).decode().splitlines()
            if line.startswith(name + "{")]


def rollout(name: str = "web", namespace: str = "shop") -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"replicas": 4, "strategy": {"canary": {"steps": [{"setWeight": 20}]}}},
        "status": {"phase": "Paused", "replicas": 5, "availableReplicas": 4,
                   "updatedReplicas": 1, "currentStepIndex": 1,
                   "canary": {"weights": {"canary": {"weight": 20},
                                          "stable": {"weight": 80}}}},
    }


JUDGEMENT = ('{"score":50,"classification":"Marginal","metrics":[{"name":"latency",'
             '"classification":"High","pValue":0.0012,"effectSize":0.31},{"name":"errors",'
             '"classification":"NoData","pValue":null,"effectSize":null}]}')


def analysis_run(name: str = "web-6f7c9-2-1", namespace: str = "shop") -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name,
                     "labels": {"rollouts.argoproj.io/rollout": "web"}},
        "spec": {"metrics": [
            {"name": "success-rate", "successCondition": "result[0] >= 0.95",
             "failureCondition": "result[0] < 0.5",
             "provider": {"prometheus": {"query": "q"}}},
            {"name": "smoke", "provider": {"job": {"spec": {}}}},
            {"name": "judge", "provider": {"judge": {
                "window": "10m", "thresholds": {"marginal": 50},
                "metrics": [{"name": "latency", "canary": "a", "baseline": "b"},
                            {"name": "errors", "canary": "c", "baseline": "d"}]}}},
        ]},
        "status": {"phase": "Running", "metricResults": [
            {"name": "success-rate", "phase": "Running", "measurements": [
                {"phase": "Successful", "value": "[0.97]"},
                {"phase": "Successful", "value": "[0.99]"},
                {"phase": "Error", "message": "timeout"}]},
            {"name": "judge", "phase": "Running", "measurements": [
                {"phase": "Inconclusive", "value": JUDGEMENT}]},
        ]},
    }


def application(name: str = "guestbook") -> dict[str, Any]:
    return {
        "metadata": {"namespace": "argocd", "name": name},
        "spec": {"source": {"repoURL": "https://bot:ghp_s3cret@git.example.com/org/apps.git"},
                 "destination": {"namespace": "guestbook"}},
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
    }


class World:
    """Every collector and hook, over lists a test changes as the informers would."""

    def __init__(self) -> None:
        self.rollouts = [rollout()]
        self.runs = [analysis_run()]
        self.apps = [application()]
        self.registry = CollectorRegistry()
        self.now = 1000.0
        self.rollout_metrics = RolloutMetrics(self._exists(self.rollouts),
                                              clock=lambda: self.now)
        self.run_metrics = AnalysisRunMetrics(self._exists(self.runs))
        self.app_metrics = AppMetrics(self._exists(self.apps))
        self.git = GitMetrics()
        for collector in (RolloutCollector(lambda: self.rollouts),
                          AnalysisRunCollector(lambda: self.runs),
                          ApplicationCollector(lambda: self.apps), self.rollout_metrics,
                          self.run_metrics, self.app_metrics, self.git):
            self.registry.register(collector)

    @staticmethod
    def _exists(objects: list[dict[str, Any]]) -> Any:
        return lambda ns, name: any(o["metadata"]["namespace"] == ns
                                    and o["metadata"]["name"] == name for o in objects)

    def exercise(self) -> None:
        """Fire every hook once, as a canary with an analysis and a sync would."""
        web, run = self.rollouts[0], self.runs[0]
        self.rollout_metrics.event(web, "Normal", "RolloutUpdated")
        self.now += 12
        self.rollout_metrics.event(web, "Normal", "RolloutStepCompleted")
        self.now += 30
        self.rollout_metrics.event(web, "Normal", "RolloutCompleted")
        self.rollout_metrics.reconciled("shop", "web", 0.02, failed=True)
        self.run_metrics.reconciled("shop", run["metadata"]["name"], 0.3, failed=True)
        self.app_metrics.synced("argocd", "guestbook", "Succeeded")
        self.app_metrics.reconciled("argocd", "guestbook", 1.5, failed=False)
        self.git.observe("https://bot:ghp_s3cret@git.example.com/org/apps.git", "fetch", 0.4)


class TestTheContract:
    def test_every_exported_series_has_its_pinned_name_and_labels(self) -> None:
        world = World()
        world.exercise()
        found = series(world.registry)
        assert set(found) == set(PINNED), (
            f"renamed or new series: missing {sorted(set(PINNED) - set(found))}, "
            f"unexpected {sorted(set(found) - set(PINNED))}")
        for name, label_sets in found.items():
            assert label_sets == {PINNED[name]}, name

    def test_argos_counters_keep_their_exact_names_and_no_created_series(self) -> None:
        world = World()
        world.exercise()
        text = render(world.registry).decode()
        assert 'rollout_reconcile_error{name="web",namespace="shop"} 1.0' in text
        assert "rollout_reconcile_error_total" not in text
        assert "_created" not in text

    def test_values_read_from_the_objects(self) -> None:
        world = World()
        assert samples(world.registry, "rollout_info") == [
            'rollout_info{name="web",namespace="shop",phase="Paused",strategy="canary",'
            'traffic_router=""} 1.0']
        text = render(world.registry).decode()
        for line in ('rollout_info_replicas_unavailable{name="web",namespace="shop"} 1.0',
                     'rollout_info_replicas_desired{name="web",namespace="shop"} 4.0',
                     'rollout_canary_weight{name="web",namespace="shop"} 20.0',
                     'rollout_step{name="web",namespace="shop"} 1.0'):
            assert line in text
        # The last measurement that has a value (the Error one has none); `[]` has none.
        assert samples(world.registry, "analysis_run_measurement_value") == [
            'analysis_run_measurement_value{metric="success-rate",name="web-6f7c9-2-1",'
            'namespace="shop",rollout="web"} 0.99']
        assert len(samples(world.registry, "analysis_run_metric_threshold")) == 2

    def test_each_metric_has_one_series_per_phase_and_one_is_current(self) -> None:
        world = World()
        phases = samples(world.registry, "analysis_run_metric_phase")
        assert len(phases) == 18  # three metrics, six phases
        current = sorted(line for line in phases if line.endswith(" 1.0"))
        assert len(current) == 3
        assert 'metric="judge"' in current[0] and 'type="Judge"' in current[0]
        assert 'metric="smoke"' in current[1] and 'phase="Pending"' in current[1]
        assert 'phase="Running"' in current[2] and 'type="Prometheus"' in current[2]

    def test_a_judge_metric_exports_its_score_thresholds_p_values_and_effects(self) -> None:
        world = World()
        labels = 'metric="judge",name="web-6f7c9-2-1",namespace="shop",rollout="web"'
        assert samples(world.registry, "analysis_run_judge_score") == [
            f"analysis_run_judge_score{{{labels}}} 50.0"]
        assert sorted(samples(world.registry, "analysis_run_judge_threshold")) == [
            f'analysis_run_judge_threshold{{{labels},threshold="marginal"}} 50.0',
            f'analysis_run_judge_threshold{{{labels},threshold="pass"}} 95.0']
        # The metric without data has neither a p-value nor an effect size.
        assert samples(world.registry, "analysis_run_judge_p_value") == [
            f'analysis_run_judge_p_value{{judge_metric="latency",{labels}}} 0.0012']
        assert samples(world.registry, "analysis_run_judge_effect_size") == [
            f'analysis_run_judge_effect_size{{judge_metric="latency",{labels}}} 0.31']

    def test_repository_labels_never_carry_credentials(self) -> None:
        world = World()
        world.exercise()
        text = render(world.registry).decode()
        assert "s3cret" not in text and "bot" not in text
        assert 'repo="https://git.example.com/org/apps.git"' in text


class TestDeletedObjectsLeave:
    def test_gauges_of_a_deleted_rollout_or_run_are_gone_at_the_next_scrape(self) -> None:
        world = World()
        world.exercise()
        world.rollouts.clear()
        world.runs.clear()
        world.apps.clear()
        left = series(world.registry)
        assert not [name for name in left if not name.startswith("git_")], left

    def test_an_informer_deleted_event_drops_the_counters_at_once(self) -> None:
        world = World()
        world.exercise()
        gone = world.rollouts[0]
        world.rollout_metrics.on_change("DELETED", gone)
        assert not [line for line in render(world.rollout_metrics).decode()
                    .splitlines() if not line.startswith("#")]
        assert world.rollout_metrics.series.objects() == []

    def test_a_hook_racing_with_the_deletion_creates_nothing(self) -> None:
        world = World()
        world.rollouts.clear()
        world.rollout_metrics.reconciled("shop", "web", 0.1, failed=True)
        world.rollout_metrics.event(rollout(), "Normal", "RolloutUpdated")
        assert world.rollout_metrics.series.objects() == []

    def test_only_the_deleted_objects_series_go(self) -> None:
        world = World()
        world.rollouts.append(rollout("api"))
        for item in world.rollouts:
            world.rollout_metrics.event(item, "Warning", "InvalidSpec")
        world.rollouts.pop(0)
        events = samples(world.registry, "rollout_events_total")
        assert len(events) == 1 and 'name="api"' in events[0]
        assert len(samples(world.registry, "rollout_info")) == 1

    def test_series_count_stays_bounded_over_many_short_lived_rollouts(self) -> None:
        world = World()
        for index in range(200):
            item = rollout(f"short-{index}")
            world.rollouts.append(item)
            world.rollout_metrics.event(item, "Normal", "RolloutUpdated")
            world.rollout_metrics.reconciled("shop", f"short-{index}", 0.01, failed=False)
            world.rollouts.remove(item)
            world.rollout_metrics.on_change("DELETED", item)
        assert world.rollout_metrics.series.objects() == []
        assert len(samples(world.registry, "rollout_reconcile_count")) == 0
