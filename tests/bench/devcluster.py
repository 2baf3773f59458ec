"""Benchmark: warm start of the local control plane, and its memory once ready.

Each iteration starts a dev cluster in its own state directory from cached binaries
and stops it; the time is from `up()` called to every component healthy and the three
fake nodes Ready. Memory is the sum of VmRSS of the started processes after up.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from rollouts.devcluster import down, up
from rollouts.devcluster.versions import ETCD, KUBERNETES, KWOK
from tests.bench.report import record


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(iterations: int = 3) -> None:
    times: list[float] = []
    memory: dict[str, list[float]] = {}
    for _ in range(iterations):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) / "dev"
            cluster = up(lambda _line: None, directory=directory)
            times.append(cluster.ready_seconds)
            for process in cluster.processes:
                memory.setdefault(process.name, []).append(_rss_mib(process.pid))
            down(lambda _line: None, directory=directory)
    rows = [{"figure": "warm `dev up` to ready (median)", "n": iterations,
             "value": f"{statistics.median(times):.1f}", "unit": "s"},
            {"figure": "warm `dev up` to ready (max)", "n": iterations,
             "value": f"{max(times):.1f}", "unit": "s"}]
    total = 0.0
    for name, values in memory.items():
        value = statistics.median(values)
        total += value
        rows.append({"figure": f"RSS of {name} just after ready", "n": iterations,
                     "value": f"{value:.0f}", "unit": "MiB"})
    rows.append({"figure": "RSS of the whole control plane just after ready",
                 "n": iterations, "value": f"{total:.0f}", "unit": "MiB"})
    record("devcluster", "Local control plane: warm start and memory", rows,
           "Warm means the binaries are already built and cached. The cold build time is "
           "measured separately (see docs/devcluster.md), since it needs empty Go caches.",
           {"kubernetes": KUBERNETES.version, "etcd": ETCD.version, "kwok": KWOK.version})
