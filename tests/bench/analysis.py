"""Benchmark: AnalysisRun measurement scheduling on the real local control plane.

N AnalysisRuns, each one Prometheus metric measured every 10 s (count 6), run at once in
one controller process (`--controllers analysis`) against the dev cluster's real
Prometheus, which scrapes a test exporter. From the stored measurements: the scheduling
lag of each measurement after the first (its `startedAt` minus the previous one's
`finishedAt` + interval); from /proc: the controller's CPU time and peak RSS; the cost
per measurement is CPU time / measurements taken.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rollouts.devcluster import Cluster, down, up
from rollouts.devcluster.process import free_port
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import ANALYSIS_RUN, KubeClient
from tests.bench.report import latency_rows, record
from tests.integration.exporter import Exporter, wait_until_scraped

NAMESPACE = "bench-analysis"
INTERVAL = 10
COUNT = 6


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _run(name: str, job: str, address: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"metrics": [{
            "name": "ratio", "interval": f"{INTERVAL}s", "count": COUNT,
            "successCondition": "result[0] >= 0.9",
            "provider": {"prometheus": {"address": address,
                                        "query": f'bench_ratio{{job="{job}"}}'}}}]},
    }


def _stat(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak = next(int(line.split()[1]) / 1024 for line in
                Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    return cpu, peak


def run(count: int = 200) -> None:
    directory = cache_dir() / "bench-analysis"
    cluster = up(lambda line: print(f"   {line}", flush=True), directory=directory)
    try:
        _measure(cluster, directory, count)
    finally:
        down(lambda _line: None, directory=directory)


def _measure(cluster: Cluster, directory: Path, count: int) -> None:
    manifests = Path(__file__).resolve().parents[2] / "manifests"
    kubectl = [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}"]
    subprocess.run([*kubectl, "apply", "--server-side", "-k", str(manifests)], check=True,
                   capture_output=True)
    subprocess.run([*kubectl, "create", "namespace", NAMESPACE], check=False,
                   capture_output=True)
    time.sleep(2)
    client = KubeClient.from_kubeconfig(str(cluster.kubeconfig))
    log = directory / "logs" / "bench-analysis-controller.log"
    controller = subprocess.Popen(
        [sys.executable, "-m", "rollouts.cli.main", "controller", "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}", "--no-leader-elect", "--controllers",
         "analysis", "--port", str(free_port()), "--workers", "4"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        with Exporter(cluster.prometheus_targets) as exporter:
            exporter.set("bench_ratio", 0.99)
            wait_until_scraped(cluster.prometheus_url, f'bench_ratio{{job="{exporter.job}"}}')
            time.sleep(3)
            cpu_before, _ = _stat(controller.pid)
            for index in range(count):
                client.create(ANALYSIS_RUN, NAMESPACE,
                              _run(f"run-{index:03d}", exporter.job, cluster.prometheus_url))
            deadline = time.monotonic() + INTERVAL * COUNT + 120
            while time.monotonic() < deadline:
                runs = client.list(ANALYSIS_RUN, NAMESPACE).items
                done = [r for r in runs if (r.get("status") or {}).get("phase")
                        in ("Successful", "Failed", "Error")]
                if len(done) == count:
                    break
                time.sleep(2)
            cpu_after, peak = _stat(controller.pid)
    finally:
        controller.terminate()
        controller.wait(20)
    runs = client.list(ANALYSIS_RUN, NAMESPACE).items
    lags: list[float] = []
    measurements = 0
    phases: dict[str, int] = {}
    for item in runs:
        status = item.get("status") or {}
        phases[str(status.get("phase"))] = phases.get(str(status.get("phase")), 0) + 1
        for result in status.get("metricResults") or []:
            taken = result.get("measurements") or []
            measurements += len(taken)
            for before, after in itertools.pairwise(taken):
                due = _parse(before["finishedAt"]).timestamp() + INTERVAL
                lags.append(_parse(after["startedAt"]).timestamp() - due)
    cpu = cpu_after - cpu_before
    rows = [
        *latency_rows(f"{count} concurrent runs: scheduling lag", lags),
        {"figure": f"{count} concurrent runs: measurements taken", "n": count,
         "value": str(measurements), "unit": ""},
        {"figure": f"{count} concurrent runs: controller CPU", "n": 1,
         "value": f"{cpu:.1f}", "unit": "CPU-s"},
        {"figure": "cost per measurement (controller CPU / measurements)", "n": measurements,
         "value": f"{cpu / max(1, measurements) * 1000:.1f}", "unit": "CPU-ms"},
        {"figure": "controller peak RSS", "n": 1, "value": f"{peak:.0f}", "unit": "MiB"},
    ]
    print(json.dumps(rows, indent=2), phases)
    record("analysis", "AnalysisRuns: measurement scheduling and cost", rows,
           f"{count} AnalysisRuns created at once, each one Prometheus metric every "
           f"{INTERVAL} s, count {COUNT}, against the dev cluster's Prometheus; final phases "
           f"{phases}. Lag is startedAt of a measurement minus (finishedAt of the previous "
           "+ interval), from the stored status (microsecond timestamps): startedAt is "
           "stamped just before the query is sent, finishedAt after its answer, so the lag "
           "is how late a measurement began, not the query's duration. The controller "
           "shares 2 cores with the control plane.",
           {"kubernetes": KUBERNETES.version},
           {"controllers": "analysis", "workers": "4", "leader election": "off"})
