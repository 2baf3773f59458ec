"""Every panel of the Grafana dashboards answers, against real parts: the controller
process (rollouts + analysis controllers) serving /metrics on its own port, scraped by
the dev cluster's Prometheus (file_sd target, 1 s), during a canary gated by an analysis
that reads a test exporter and judges a canary's latency against a baseline's (a judge
metric over a second Prometheus holding backfilled history, `prom_history`). Then a
deleted Rollout's series are gone at the next scrape."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import TestCluster
from tests.integration.exporter import Exporter, query_prometheus, wait_until_scraped
from tests.integration.prom_history import Series, prometheus_with_history
from tests.integration.support import set_image, wait_for, wait_phase

DASHBOARDS = Path(__file__).resolve().parents[2] / "manifests" / "grafana"
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000",
                    "__range": "5m", "__range_s": "300", "__range_ms": "300000"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_LABEL_VALUES = re.compile(r"^label_values\((.*),\s*(\w+)\)$")


# -- reading dashboards -----------------------------------------------------------------

def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside (collapsed) rows."""
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            yield from panel.get("panels") or []
        else:
            yield panel


def panel_queries(name: str) -> list[tuple[str, str]]:
    """`(panel title, expr)` of every target of every panel of dashboard `name`."""
    board = json.loads((DASHBOARDS / f"{name}.json").read_text())
    return [(str(p.get("title")), str(t["expr"])) for p in panels(board)
            for t in p.get("targets") or [] if t.get("expr") and not t.get("hide")]


def variable_queries(name: str) -> list[tuple[str, str]]:
    """`(variable, PromQL)` for each `label_values(selector, label)` variable."""
    board = json.loads((DASHBOARDS / f"{name}.json").read_text())
    found = []
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(str(text))
        if variable.get("type") == "query" and match:
            found.append((variable["name"], f"count by ({match[2]}) ({match[1]})"))
    return found


def substitute(expr: str, values: dict[str, str]) -> str:
    """`expr` with Grafana's `$var`, `${var}`, `${var:fmt}`, `[[var]]` filled in."""
    known = {**GRAFANA_BUILTINS, **values}

    def fill(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[3]
        if name not in known:
            raise AssertionError(f"no value for ${name} in {expr!r}")
        return known[name]

    return _VARIABLE.sub(fill, expr)


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects (`name{...}`), histogram suffixes removed."""
    names = set()
    for name in _SELECTOR.findall(expr):
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        names.add(name)
    return names


def empty_answers(queries: list[tuple[str, str]], values: dict[str, str],
                  prometheus: str) -> list[str]:
    """`"panel: query"` for each query the real Prometheus answers with nothing."""
    empty = []
    for title, expr in queries:
        promql = substitute(expr, values)
        answer = query_prometheus(prometheus, promql)
        assert answer.get("status") == "success", f"{title}: {promql}: {answer}"
        if not answer["data"]["result"]:
            empty.append(f"{title!r}: {promql}")
    return empty


def assert_every_query_answers(dashboard: str, queries: list[tuple[str, str]],
                               values: dict[str, str], prometheus: str,
                               timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while True:
        empty = empty_answers(queries, values, prometheus)
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not empty, f"{dashboard}.json: panels with no data:\n  " + "\n  ".join(empty)


def first_value(prometheus: str, promql: str) -> str:
    result = query_prometheus(prometheus, promql)["data"]["result"]
    return str(result[0]["value"][1]) if result else "(empty)"


# -- the controller, scraped ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ScrapedController:
    """`rollouts controller` on a free port, registered as a Prometheus scrape target."""

    def __init__(self, cluster: TestCluster, namespace: str, log: Path, *,
                 controllers: str = "rollouts,analysis", extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.job = f"rollouts-controller-{uuid.uuid4().hex[:8]}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._target = Path(cluster.state.prometheus_targets) / f"{self.job}.json"
        argv = [sys.executable, "-m", "rollouts.cli.main", "controller",
                f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "--no-leader-elect",
                "--controllers", controllers, "--port", str(self.port),
                "--log-format", "json", "--log-level", "DEBUG", *extra]
        with log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def scrape(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    def register(self) -> None:
        self._target.parent.mkdir(parents=True, exist_ok=True)
        staging = self._target.with_name(f".{self._target.name}.tmp")
        staging.write_text(json.dumps([{"targets": [f"127.0.0.1:{self.port}"],
                                        "labels": {"job": self.job}}]))
        os.replace(staging, self._target)

    def stop(self) -> None:
        self._target.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@contextmanager
def scraped_controller(cluster: TestCluster, namespace: str, tmp: Path, *,
                       controllers: str = "rollouts,analysis", extra: tuple[str, ...] = ()
                       ) -> Iterator[ScrapedController]:
    controller = ScrapedController(cluster, namespace, tmp / "controller.log",
                                   controllers=controllers, extra=extra)
    try:
        wait_for(controller.ready, 60, "the controller's /readyz",
                 lambda: controller.log.read_text()[-2000:])
        controller.register()
        yield controller
    finally:
        controller.stop()
        if os.environ.get("ROLLOUTS_SHOW_CONTROLLER_LOG"):
            print(controller.log.read_text()[-20000:])


# -- the scenario ---------------------------------------------------------------------

def _template(address: str, history: str) -> str:
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate"},
        "spec": {"args": [{"name": "job"}], "metrics": [{
            "name": "success-rate", "interval": "1s", "count": 4,
            "successCondition": "result[0] >= 0.95", "failureCondition": "result[0] < 0.5",
            "provider": {"prometheus": {"address": address,
                                        "query": 'demo_success_ratio{job="{{args.job}}"}'}},
        }, {
            "name": "latency-judge",
            "provider": {"judge": {"address": history, "window": "10m", "step": "1m",
                                   "metrics": [{"name": "latency", "direction": "increase",
                                                "tolerance": 0.1,
                                                "canary": 'app_latency_ms{track="canary"}',
                                                "baseline": 'app_latency_ms{track="baseline"}'}]}},
        }]},
    })


def _latency_history() -> list[Series]:
    """Canary and baseline latency from one distribution (seeded), a sample a minute over
    the last 20 minutes: the judge passes it."""
    now = int(time.time())
    series = []
    for track, seed in (("baseline", 1), ("canary", 2)):
        rng = random.Random(seed)
        series.append(Series("app_latency_ms", [(now - 60 * (20 - i), rng.gauss(100, 10))
                                                for i in range(21)], {"track": track}))
    return series


def _rollout(job: str) -> str:
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
        "spec": {
            "replicas": 4, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": {"canary": {"steps": [
                {"setWeight": 25},
                {"pause": {"duration": "2s"}},
                {"analysis": {"templates": [{"templateName": "success-rate"}],
                              "args": [{"name": "job", "value": job}]}},
                {"setWeight": 75},
            ]}},
        },
    })


def _series_of(text: str, namespace: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")
            and f'namespace="{namespace}"' in line and re.search(rf'name="{name}[-"]', line)]


def test_every_rollouts_and_analysis_panel_answers_and_deleted_series_leave(
    cluster: TestCluster, namespace: str, tmp_path: Path
) -> None:
    prometheus = cluster.prometheus_url
    with Exporter(cluster.state.prometheus_targets) as exporter, \
            prometheus_with_history(tmp_path / "history", _latency_history()) as history, \
            scraped_controller(cluster, namespace, tmp_path) as controller:
        exporter.set("demo_success_ratio", 0.99)
        wait_until_scraped(prometheus, f'demo_success_ratio{{job="{exporter.job}"}}')
        for manifest in (_template(prometheus, history), _rollout(exporter.job)):
            cluster.kubectl_run("apply", "-n", namespace, "-f", "-", input=manifest)
        wait_phase(cluster, namespace, "web", "Healthy")
        set_image(cluster, namespace, "web", "app:2")
        wait_phase(cluster, namespace, "web", "Paused", timeout=60)
        wait_until_scraped(prometheus, f'rollout_canary_weight{{namespace="{namespace}"}} > 0')
        final = wait_phase(cluster, namespace, "web", "Healthy", timeout=90)
        assert final["stableRS"] == final["currentPodHash"]
        wait_until_scraped(
            prometheus, f'rollout_duration_seconds_count{{namespace="{namespace}"}}')

        values = {"namespace": namespace, "rollout": "web", "metric": ".*",
                  "job": controller.job, "datasource": "prometheus"}
        exported = controller.scrape()
        for dashboard in ("rollouts", "analysis"):
            queries = panel_queries(dashboard)
            assert len(queries) >= 10, dashboard
            missing = sorted({name for _, expr in queries for name in metric_names(expr)
                              if f"# TYPE {name} " not in exported
                              and f"# TYPE {name}_total " not in exported})
            assert not missing, f"{dashboard}.json reads metrics the controller lacks: {missing}"
            assert_every_query_answers(dashboard, queries, values, prometheus)
            assert_every_query_answers(dashboard, variable_queries(dashboard), values,
                                       prometheus)
        # Argo Rollouts' public dashboard selects on these (its job name aside).
        argo_style = [(q, q) for q in (
            f'sum(rollout_info{{job="{controller.job}"}}) by (strategy)',
            f'sum(rollout_info{{phase="Completed",job="{controller.job}"}} == 1)',
            f'rollout_info_replicas_available{{namespace="{namespace}",name="web"}}',
            f'sum(increase(rollout_reconcile_count{{job="{controller.job}"}}[10m]))',
            f'sum(increase(rollout_reconcile_bucket{{job="{controller.job}"}}[10m])) by (le)',
            f'time() - max(process_start_time_seconds{{job="{controller.job}"}})')]
        assert_every_query_answers("argo-rollouts-dashboard", argo_style, values, prometheus)
        _print_answers(prometheus, namespace)

        assert _series_of(controller.scrape(), namespace, "web")
        cluster.kubectl_run("delete", "rollout", "web", "-n", namespace, "--wait=true")
        wait_for(lambda: not [s for s in _series_of(controller.scrape(), namespace, "web")
                              if not s.startswith("analysis_run")], 10,
                 "the deleted rollout's series to leave /metrics",
                 lambda: _series_of(controller.scrape(), namespace, "web"))
        # Its AnalysisRuns are garbage-collected (owner references), and their series go.
        wait_for(lambda: not _series_of(controller.scrape(), namespace, "web"), 60,
                 "the deleted runs' series to leave /metrics",
                 lambda: _series_of(controller.scrape(), namespace, "web"))
        wait_for(lambda: not query_prometheus(
            prometheus, f'rollout_info{{namespace="{namespace}"}}')["data"]["result"], 30,
            "Prometheus to mark the deleted rollout's series stale")
    _assert_json_logs_name_their_object(controller.log)


def _print_answers(prometheus: str, namespace: str) -> None:
    """A few real answers, for the record (`pytest -s` shows them)."""
    selector = f'{{namespace="{namespace}"}}'
    for promql in (
            f"rollout_info{selector}", f"analysis_run_measurement_value{selector}",
            f"analysis_run_metric_threshold{selector}", f"analysis_run_judge_score{selector}",
            f"analysis_run_judge_p_value{selector}", f"analysis_run_judge_effect_size{selector}",
            f"max_over_time(rollout_canary_weight{selector}[10m])",
            f"rollout_step{selector}",
            f"rollout_step_duration_seconds_count{selector}",
            f"rollout_duration_seconds_sum{selector}",
            f"sum by (reason) (rollout_events_total{selector})",
            f"histogram_quantile(0.9, sum by (le) (rate(rollout_reconcile_bucket{selector}"
            "[1m])))"):
        result = query_prometheus(prometheus, promql)["data"]["result"]
        shown = "; ".join(
            ",".join(f"{k}={v}" for k, v in r["metric"].items()
                     if k not in ("namespace", "job", "instance", "name", "__name__"))
            + f" => {r['value'][1]}" for r in result)
        print(f"PROMQL {promql} -> {shown}")


def _assert_json_logs_name_their_object(log: Path) -> None:
    lines = [json.loads(line) for line in log.read_text().splitlines()
             if line.startswith("{")]
    # The reconcile lines: the manager's (per key) and the controllers' own.
    reconciles = [line for line in lines
                  if (line.get("key") and line["logger"] == "rollouts.runtime.manager")
                  or line["logger"].startswith(("rollouts.controller", "analysis."))]
    assert reconciles, "no reconcile log line"
    for line in reconciles:
        assert line.get("name") and line.get("namespace"), line
