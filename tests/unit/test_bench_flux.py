"""Pure parts of the Flux comparison benchmark (tests/bench/flux_compare.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bench import flux_compare as fc

METRICS = """\
# HELP rest_client_requests_total Number of HTTP requests, by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 40
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 3
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="PATCH"} 7
rest_client_requests_total{code="409",host="127.0.0.1:6443",method="PATCH"} 1
controller_runtime_reconcile_total{controller="kustomization",result="success"} 20
controller_runtime_reconcile_total{controller="kustomization",result="error"} 2
controller_runtime_reconcile_total{controller="gitrepository",result="success"} 3
workqueue_adds_total{name="kustomization"} 99
"""


def test_parse_build_reads_binaries_and_crds() -> None:
    text = ("bin source-controller v1.9.6 /c/bin/flux-source-controller-v1.9.6/source-controller\n"
            "crd /m/source-controller@v1.9.6/config/crd/bases/a.yaml\n"
            "bin kustomize-controller v1.9.6 /c/bin/k/kustomize-controller\n"
            "crd /m/kustomize-controller@v1.9.6/config/crd/bases/b.yaml\n")
    build = fc.parse_build(text)
    assert build.binaries["source-controller"] == (
        "v1.9.6", Path("/c/bin/flux-source-controller-v1.9.6/source-controller"))
    assert build.binaries["kustomize-controller"][1] == Path("/c/bin/k/kustomize-controller")
    assert [p.name for p in build.crds] == ["a.yaml", "b.yaml"]


def test_parse_build_names_what_is_missing() -> None:
    with pytest.raises(RuntimeError, match="kustomize-controller"):
        fc.parse_build("bin source-controller v1 /x\ncrd /a.yaml\n")
    with pytest.raises(RuntimeError, match="CRD"):
        fc.parse_build("bin source-controller v1 /x\nbin kustomize-controller v1 /y\n")


def test_metrics_by_method_and_reconciles() -> None:
    series = fc.flux_series(METRICS)
    assert not any(k.startswith("workqueue") for k in series)
    assert fc.by_method(series) == {"GET": 40, "POST": 3, "PATCH": 8}
    assert fc.reconciles(series) == {"kustomization": 22, "gitrepository": 3}


def _kustomization(generation: int, observed: int, ready: str, revision: str) -> dict[str, Any]:
    return {"metadata": {"name": "app-0000", "generation": generation},
            "status": {"observedGeneration": observed, "lastAppliedRevision": revision,
                       "conditions": [{"type": "Reconciling", "status": "False"},
                                      {"type": "Ready", "status": ready}]}}


def test_kustomization_ready_needs_current_generation_ready_and_a_revision() -> None:
    assert fc.kustomization_ready(_kustomization(1, 1, "True", "main@sha1:abc"))
    assert not fc.kustomization_ready(_kustomization(2, 1, "True", "main@sha1:abc"))
    assert not fc.kustomization_ready(_kustomization(1, 1, "False", "main@sha1:abc"))
    assert not fc.kustomization_ready(_kustomization(1, 1, "True", ""))
    assert not fc.kustomization_ready({"metadata": {"name": "x", "generation": 1}})


def test_manifests_point_at_the_app_path_with_the_interval() -> None:
    k = fc.kustomization("app-0003", "apps/app-0003", 60.0, wait=True)
    assert k["spec"]["path"] == "./apps/app-0003"
    assert k["spec"]["interval"] == "60s"
    assert k["spec"]["prune"] is True and k["spec"]["wait"] is True
    assert k["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "fleet"}
    repo = fc.git_repository("http://127.0.0.1:1/fleet", 2.5, "auth")
    assert repo["spec"]["interval"] == "2.5s"
    assert repo["spec"]["secretRef"] == {"name": "auth"}


def test_ratio_is_flux_over_ours_and_says_when_there_is_none() -> None:
    assert fc.ratio(2.0, 5.0) == "x2.50"
    assert fc.ratio(0.0, 0.0) == "-"
    assert fc.ratio(0.0, 3.0) == "n/a (ours 0)"


def test_table_and_rows_carry_both_sides() -> None:
    ours = fc.Side(sync_seconds=10, ready=20, cpu=4, rss_mib=100, requests={"get": 40},
                   idle_requests={"list": 2}, idle_writes=0, idle_cpu=1)
    flux = fc.Side(sync_seconds=20, ready=12, cpu=2, rss_mib=150, requests={"GET": 60, "PATCH": 20},
                   idle_requests={"PATCH": 30}, idle_writes=30, idle_cpu=3)
    compared = fc.figures(20, 150.0, ours, flux)
    lines = fc.table(compared)
    assert lines[0].startswith("| figure |")
    assert ("| 20 apps: first created -> all Synced+Healthy / Ready (or the time limit) | s "
            "| 10.0 | 20.0 | x2.00 |") in lines
    assert ("| 20 apps: Synced+Healthy / Ready by then (more is better) | apps | 20.0 | 12.0 "
            "| x0.60 |") in lines
    assert any(line.startswith("| API requests per app") and "| 2.0 | 4.0 | x2.00 |" in line
               for line in lines)
    assert any("API writes" in line and "| 0.0 | 30.0 | n/a (ours 0) |" in line
               for line in lines)
    rows = fc.rows(compared, 20)
    assert len(rows) == 2 * len(compared)
    assert rows[0]["figure"].startswith("ours: ") and rows[0]["n"] == 20
    assert rows[len(compared)]["figure"].startswith("Flux: ")
    assert rows[len(compared)]["value"] == "20.0"
