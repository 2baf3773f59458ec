"""The dashboards and monitoring manifests, read without a cluster: every panel query
reads only series we export, every variable it uses is defined, and the scrape manifests
point at the controller's `metrics` port. (That every query answers is an integration
test: tests/integration/test_metrics_dashboards.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_metrics_exposition import PINNED

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
DASHBOARDS = sorted((MANIFESTS / "grafana").glob("*.json"))
# Series a dashboard may read besides ours: the process collector and the client counter.
OTHERS = {"process_start_time_seconds", "process_resident_memory_bytes",
          "process_cpu_seconds_total", "rollouts_kube_requests_total"}
BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s",
            "__range_ms"}
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels") or [])
    return found


def _exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels(board) for t in p.get("targets") or []]


def _variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


def test_there_are_the_three_dashboards() -> None:
    assert [p.name for p in DASHBOARDS] == ["analysis.json", "applications.json",
                                            "rollouts.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
class TestEachDashboard:
    def test_it_has_a_prometheus_datasource_and_label_values_variables(
            self, path: Path) -> None:
        variables = _variables(_load(path))
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        objects = "application" if path.stem == "applications" else "rollout"
        for name in ("namespace", objects):
            query = variables[name]["query"]["query"]
            assert query.startswith("label_values("), (name, query)
            assert variables[name]["datasource"]["uid"] == "${datasource}"

    def test_every_panel_reads_the_chosen_datasource_and_has_queries(
            self, path: Path) -> None:
        board = _load(path)
        ids = [p["id"] for p in _panels(board)]
        assert len(ids) == len(set(ids))
        for panel in _panels(board):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
            assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()

    def test_every_query_reads_only_series_we_export(self, path: Path) -> None:
        exported = set(PINNED) | OTHERS
        for title, expr in _exprs(_load(path)):
            for name in _SELECTOR.findall(expr):
                assert name in exported, f"{path.name}: {title!r} reads unknown {name}"

    def test_every_series_is_read_through_a_selector(self, path: Path) -> None:
        # So the integration test can tell which metric each panel reads.
        names = set(PINNED) | OTHERS
        for title, expr in _exprs(_load(path)):
            bare = [n for n in re.findall(r"\b[a-z_:][a-z0-9_:]*\b", expr)
                    if n in names and not re.search(rf"\b{n}\s*\{{", expr)]
            assert not bare, f"{path.name}: {title!r} reads {bare} without a selector"

    def test_every_variable_used_is_defined(self, path: Path) -> None:
        board = _load(path)
        defined = set(_variables(board)) | BUILTINS
        texts = [expr for _, expr in _exprs(board)] + [
            v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
        for text in texts:
            for match in _VARIABLE.finditer(text):
                name = match[1] or match[2] or match[3]
                assert name in defined, f"{path.name}: ${name} is not defined ({text})"


def test_the_analysis_dashboard_plots_values_against_thresholds() -> None:
    board = _load(MANIFESTS / "grafana" / "analysis.json")
    [panel] = [p for p in _panels(board) if p["title"] == "Measured value against thresholds"]
    exprs = [t["expr"] for t in panel["targets"]]
    assert any("analysis_run_measurement_value" in e for e in exprs)
    assert any("analysis_run_metric_threshold" in e for e in exprs)


def test_the_analysis_dashboard_plots_judge_scores_against_their_thresholds() -> None:
    board = _load(MANIFESTS / "grafana" / "analysis.json")
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in _panels(board)
             if p["title"].startswith("Judge ")}
    score = exprs["Judge score against thresholds"]
    assert "analysis_run_judge_score" in score and "analysis_run_judge_threshold" in score
    assert "analysis_run_judge_p_value" in exprs["Judge p-values"]
    assert "analysis_run_judge_effect_size" in exprs["Judge effect sizes"]


def _yaml(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((MANIFESTS / "monitoring" / name).read_text()))


class TestMonitoringManifests:
    def test_the_service_exposes_8090_as_metrics(self) -> None:
        service = _yaml("controller-service.yaml")
        assert service["kind"] == "Service"
        [port] = service["spec"]["ports"]
        assert (port["name"], port["port"]) == ("metrics", 8090)

    @pytest.mark.parametrize(("name", "kind", "endpoints"), [
        ("servicemonitor.yaml", "ServiceMonitor", "endpoints"),
        ("podmonitor.yaml", "PodMonitor", "podMetricsEndpoints"),
    ])
    def test_the_monitors_select_the_controller_and_its_metrics_port(
            self, name: str, kind: str, endpoints: str) -> None:
        monitor = _yaml(name)
        service = _yaml("controller-service.yaml")
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["kind"] == kind
        [endpoint] = monitor["spec"][endpoints]
        assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
        wanted = monitor["spec"]["selector"]["matchLabels"]
        labels = (service["metadata"]["labels"] if kind == "ServiceMonitor"
                  else service["spec"]["selector"])
        assert wanted.items() <= labels.items()

    def test_the_scrape_config_targets_8090_under_argos_job_name(self) -> None:
        config = _yaml("prometheus-scrape.yaml")
        [job] = config["scrape_configs"]
        assert job["job_name"] == "argo-rollouts-metrics"
        assert job["static_configs"][0]["targets"][0].endswith(":8090")

    @pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
    def test_promtool_accepts_the_scrape_config(self) -> None:
        result = subprocess.run(
            ["promtool", "check", "config", str(MANIFESTS / "monitoring" /
                                                 "prometheus-scrape.yaml")],
            capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
