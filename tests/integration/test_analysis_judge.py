"""The statistical canary judge against a real Prometheus holding history backfilled with
promtool (`prom_history`): three canaries against one baseline, drawn from a seeded
generator, one sample a minute over the last 30 minutes:

- **worse**: latency 30% higher (normal, mean 130, sd 13 against mean 100, sd 10);
- **same**: the baseline's distribution, another seed;
- **noisy**: the same median with four times the spread (sd 40).

The provider measures each through its real range queries; then the real analysis
controller (the dev cluster, under the lock) runs AnalysisRuns with judge metrics to their
verdict. `pytest -s` prints the p-values, effect sizes and scores.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from analysis.providers import JudgeProvider, MeasureContext, Outcome
from tests.conftest import TestCluster
from tests.integration.prom_history import Series, prometheus_with_history
from tests.integration.support import get, running_controller, wait_for

MINUTES = 30
CANARIES = {"worse": (130.0, 13.0, 2), "same": (100.0, 10.0, 3), "noisy": (100.0, 40.0, 4)}


def _points(now: int, mean: float, sd: float, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(now - 60 * (MINUTES - i), rng.gauss(mean, sd)) for i in range(MINUTES + 1)]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A Prometheus with `app_latency_ms{track=...}` for the baseline and each canary,
    up to a minute ago; yields its URL and the last sample's time."""
    now = int(time.time()) // 60 * 60 - 60
    series = [Series("app_latency_ms", _points(now, 100.0, 10.0, seed=1),
                     {"track": "baseline"})]
    series += [Series("app_latency_ms", _points(now, mean, sd, seed), {"track": track})
               for track, (mean, sd, seed) in CANARIES.items()]
    with prometheus_with_history(tmp_path_factory.mktemp("judge-prom"), series) as url:
        yield url, now


def _judge(address: str, *metrics: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"judge": {"address": address, "window": f"{MINUTES}m", "step": "1m", **settings,
                      "metrics": list(metrics)}}


def _latency(canary: str, **rule: Any) -> dict[str, Any]:
    return {"name": rule.pop("name", "latency"), "direction": "increase", "tolerance": 0.1,
            "canary": f'app_latency_ms{{track="{canary}"}}',
            "baseline": 'app_latency_ms{track="baseline"}', **rule}


def _measure(provider: dict[str, Any], at: int) -> Outcome:
    context = MeasureContext(namespace="ns", run_name="run", run_uid="uid", previous=None,
                             now=datetime.fromtimestamp(at, UTC),
                             metric={"name": "judge", "provider": provider})
    return JudgeProvider(default_address="").measure(context)


def _report(label: str, outcome: Outcome) -> None:
    print(f"JUDGE {label}: {json.dumps(outcome.value)} {outcome.metadata}")


def test_three_canaries_against_one_baseline(history: tuple[str, int]) -> None:
    url, now = history
    found = {}
    for canary in CANARIES:
        outcome = _measure(_judge(url, _latency(canary)), now)
        assert outcome.error is None, outcome.error
        _report(canary, outcome)
        assert outcome.metadata["samples"] == f"latency {MINUTES + 1}/{MINUTES + 1}"
        # The metadata keeps the p-value the stored value floors at 1e-12.
        assert isinstance(outcome.value, dict)
        said = float(outcome.metadata["pValues"].removeprefix("latency "))
        assert outcome.value["metrics"][0]["pValue"] == float(f"{max(said, 1e-12):.3g}")
        found[canary] = outcome.value
    worse, same, noisy = (found[name] for name in CANARIES)
    assert isinstance(worse, dict) and isinstance(same, dict) and isinstance(noisy, dict)
    # Worse: the shift is far beyond chance and beyond the 10% tolerance.
    assert worse["classification"] == "Fail" and worse["score"] == 0
    assert worse["metrics"][0]["classification"] == "High"
    assert worse["metrics"][0]["pValue"] < 0.001
    assert 0.2 < worse["metrics"][0]["effectSize"] < 0.4
    # Same: no evidence of a shift.
    assert same["classification"] == "Pass" and same["score"] == 100
    assert same["metrics"][0]["pValue"] > 0.05
    # Noisy: a wider spread around the same median is not a shift in location, which is
    # what Mann-Whitney tests; with these samples neither the p-value nor the median shift
    # says worse (a judge is no test of variance: judge a tail quantile to catch spread).
    assert noisy["classification"] == "Pass"
    assert abs(noisy["metrics"][0]["effectSize"]) < 0.1


def test_weights_and_critical_metrics_combine_into_the_score(
        history: tuple[str, int]) -> None:
    url, now = history
    mixed = _measure(_judge(url, _latency("same", weight=3),
                            _latency("worse", name="latency-2")), now)
    _report("same x3 + worse", mixed)
    assert isinstance(mixed.value, dict)
    assert (mixed.value["score"], mixed.value["classification"]) == (75, "Marginal")
    critical = _measure(_judge(url, _latency("same", weight=3),
                               _latency("worse", name="latency-2", critical=True)), now)
    assert isinstance(critical.value, dict)
    assert (critical.value["score"], critical.value["classification"]) == (0, "Fail")
    # A query matching nothing is NoData, not an error; alone it leaves no score.
    empty = _measure(_judge(url, _latency("nobody")), now)
    assert empty.error is None and isinstance(empty.value, dict)
    assert empty.value["classification"] == "NoData" and empty.value["score"] is None
    assert empty.metadata["samples"] == f"latency 0/{MINUTES + 1}"


def test_a_window_before_the_history_is_nodata_and_a_bad_query_an_error(
        history: tuple[str, int]) -> None:
    url, now = history
    before = _measure(_judge(url, _latency("same")), now - 3 * 3600)
    assert isinstance(before.value, dict) and before.value["classification"] == "NoData"
    broken = _measure(_judge(url, {**_latency("same"), "canary": "sum(("}), now)
    assert broken.value is None and broken.error is not None
    assert broken.error.startswith("latency canary: prometheus at ")


def test_a_backtest_replays_the_judge_at_past_instants(history: tuple[str, int],
                                                       tmp_path: Path) -> None:
    """`rollouts analysis backtest` on judge templates: a 15-minute window ending every 5
    minutes over the last 15 minutes of history (4 runs of one judgement each)."""
    url, now = history
    stamp = {offset: datetime.fromtimestamp(now - offset * 60, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ") for offset in (15, 0)}
    verdicts = {}
    for canary in ("worse", "same"):
        path = tmp_path / f"{canary}.yaml"
        path.write_text(yaml.safe_dump({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": f"judge-{canary}"},
            "spec": {"metrics": [{"name": "judge", "provider": {"judge": {
                "address": url, "window": "15m", "metrics": [_latency(canary)]}}}]}}))
        done = subprocess.run(
            [sys.executable, "-m", "rollouts.cli.main", "analysis", "backtest", "-f", str(path),
             "--from", stamp[15], "--to", stamp[0], "--every", "5m", "-o", "json"],
            capture_output=True, text=True, timeout=120, check=False)
        report = json.loads(done.stdout)
        analysis = report["analyses"][0]
        print(f"JUDGE backtest {canary}: exit {done.returncode}, runs {analysis['runCounts']}, "
              f"summary {report['summary']}")
        verdicts[canary] = (done.returncode, report["verdict"], analysis["runCounts"])
        assert analysis["notBacktestable"] == []
        # 4 judgements of two range queries each, and the probe of the address.
        assert (report["summary"]["queries"], report["summary"]["probes"]) == (9, 1)
        for point in analysis["measurements"]["judge"]:
            assert json.loads(point["value"])["metrics"][0]["classification"] == (
                "High" if canary == "worse" else "Pass"), point
    assert verdicts["worse"][:2] == (1, "Failed")
    assert verdicts["same"][:2] == (0, "Successful")


# --- through the real analysis controller -------------------------------------------------

def _run(name: str, provider: dict[str, Any], **metric: Any) -> str:
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name},
        "spec": {"metrics": [{"name": "judge", "provider": provider, **metric}]},
    })


def test_the_controller_takes_the_judges_verdict_or_the_condition(
        cluster: TestCluster, namespace: str, tmp_path: Path) -> None:
    # The controller's window ends at its own clock: history as recent as now.
    now = int(time.time())
    series = [Series("app_latency_ms", _points(now, 100.0, 10.0, seed=1), {"track": "baseline"})]
    series += [Series("app_latency_ms", _points(now, mean, sd, seed), {"track": track})
               for track, (mean, sd, seed) in CANARIES.items()]
    with prometheus_with_history(tmp_path / "prom", series) as url, \
            running_controller(cluster, namespace, tmp_path):
        for manifest in (
                _run("worse", _judge(url, _latency("worse"))),
                _run("same", _judge(url, _latency("same"))),
                # A condition on the value decides instead of the judge's thresholds.
                _run("gated", _judge(url, _latency("worse")),
                     successCondition="result.score >= 0")):
            cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=manifest)

        def phases() -> dict[str, str]:
            return {name: str((get(cluster, namespace, "analysisrun", name).get("status")
                               or {}).get("phase")) for name in ("worse", "same", "gated")}

        wait_for(lambda: all(p in ("Successful", "Failed", "Error", "Inconclusive")
                             for p in phases().values()), 60, "the three runs' verdicts",
                 phases)
    assert phases() == {"worse": "Failed", "same": "Successful", "gated": "Successful"}
    for name in ("worse", "same"):
        status = get(cluster, namespace, "analysisrun", name)["status"]
        measurement = status["metricResults"][0]["measurements"][-1]
        value = json.loads(measurement["value"])
        print(f"JUDGE controller {name}: {measurement['value']} {measurement.get('metadata')}")
        assert value["classification"] == ("Fail" if name == "worse" else "Pass")
        assert measurement["metadata"]["samples"].startswith("latency ")
