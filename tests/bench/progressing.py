"""Step latency with many Rollouts progressing at once (`python -m tests.bench.run
progressing`): our controller alone, on a fresh dev cluster, runs the latency scenario of
`make bench-compare` (tests/bench/compare/scenarios.py) with PROGRESSING_N Rollouts
(default 1,000) each going through one image change, their first changes spread at random
over PROGRESSING_STAGGER seconds (default 60) so they progress together without stepping
in lockstep. Each Rollout gives one sample per gate (pause end, analysis verdict,
promote), so N = PROGRESSING_N per figure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rollouts.devcluster import down, up
from rollouts.devcluster.versions import KUBERNETES, cache_dir
from rollouts.kube import KubeClient
from tests.bench.compare import scenarios
from tests.bench.compare.controllers import WORKERS, Controller, Ours
from tests.bench.report import env_number, latency_rows, record


def run() -> None:
    count = int(env_number("PROGRESSING_N", 1000))
    stagger = env_number("PROGRESSING_STAGGER", 60)
    directory = Path(os.environ.get("PROGRESSING_CLUSTER_DIR")
                     or cache_dir() / "bench-progressing-cluster")
    began = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - began:6.0f}s] {line}", flush=True)

    down(lambda _line: None, directory=directory, quiet=True)
    cluster = up(say, directory=directory)
    try:
        lab = scenarios.Lab(cluster, KubeClient.from_kubeconfig(str(cluster.kubeconfig)),
                            directory / "logs", say)
        scenarios.install_crds(lab, Ours)
        scenarios.add_nodes(lab, count * 10)  # 5 stable + up to 5 canary pods each

        def make(namespace: str, controllers: str) -> Controller:
            return Ours(cluster, namespace, lab.logs / f"ours-{namespace}.log", controllers)

        scenarios.latency(lab, make, count, count, stagger=stagger, every=0.5)
    finally:
        down(lambda _line: None, directory=directory)
    found = lab.raw["latency"]
    took = time.monotonic() - began
    rows = (latency_rows("step latency after a pause ends", found["pause"])
            + latency_rows("step latency after an analysis verdict", found["verdict"])
            + latency_rows("step latency after promote", found["promote"]))
    for row in rows:
        say(f"{row['figure']}: {row['value']} {row['unit']} (N={row['n']})")
    record("progressing", f"Step latency with {count:,} Rollouts progressing at once",
           rows,
           f"{count:,} Rollouts of 5 replicas (steps setWeight 20, pause 2s, setWeight 40, "
           "inline analysis with one Prometheus measurement, setWeight 60, pause {}) each "
           f"get one image change, the first ones spread at random over {stagger:g} s; "
           "each sample ends when the canary ReplicaSet's next `spec.replicas` arrives on "
           "the benchmark's watch and starts at the pause's planned end, at the AnalysisRun "
           "seen Successful, or just before the promote patch (the definitions of the "
           "`compare` table). The control plane, kwok with up to "
           f"{count * 10:,} pods, the controller and the benchmark's {count:,} driving "
           f"threads share the machine's cores. The run took {took / 60:.1f} min.",
           {"kubernetes": KUBERNETES.version},
           settings={"controller": f"`rollouts controller -n <ns> --workers {WORKERS} "
                                   "--no-leader-elect --controllers rollouts,analysis`",
                     "benchmark": f"PROGRESSING_N={count}, PROGRESSING_STAGGER={stagger:g}"})
