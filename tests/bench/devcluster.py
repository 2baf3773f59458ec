"""Benchmark: warm start of the local control plane, and its memory once ready.

Each iteration runs `rollouts dev up` as a user does (a new interpreter, cached
binaries, its own state directory by ROLLOUTS_DEV_DIR) and stops it; the time is the
command's wall time, from its start to its exit once every component is healthy and the
three fake nodes are Ready. Memory is VmRSS of each started process right after.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rollouts.devcluster import Cluster, down
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
            started = time.monotonic()
            subprocess.run([sys.executable, "-m", "rollouts.cli.main", "dev", "up"],
                           env={**os.environ, "ROLLOUTS_DEV_DIR": str(directory)},
                           check=True, capture_output=True)
            times.append(time.monotonic() - started)
            try:
                cluster = Cluster.load(directory)
                if cluster is None:
                    raise RuntimeError(f"benchmark: `rollouts dev up` left no state in "
                                       f"{directory}")
                for process in cluster.processes:
                    memory.setdefault(process.name, []).append(_rss_mib(process.pid))
            finally:
                down(lambda _line: None, directory=directory)
    rows = [{"figure": "warm `rollouts dev up` to ready: median", "n": iterations,
             "value": f"{statistics.median(times):.1f}", "unit": "s"},
            {"figure": "warm `rollouts dev up` to ready: max", "n": iterations,
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
           "Warm means the binaries are already built and cached; the time includes the "
           "interpreter's start and the check that the binaries are built. The cold build "
           "is the opt-in `python -m tests.bench.run build` (empty Go caches). The total "
           "RSS is the sum of the per-process medians.",
           {"kubernetes": KUBERNETES.version, "etcd": ETCD.version, "kwok": KWOK.version})
