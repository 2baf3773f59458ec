"""Benchmark (opt-in, ~25 min on 2 cores): a cold build of the control plane's tools.

`python -m tests.bench.run build` builds every tool with EMPTY Go module and build
caches (temporary GOMODCACHE/GOCACHE and ROLLOUTS_CACHE), so nothing is reused, and
records the wall time of each tool. Not part of the default `make bench`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from importlib import resources

from rollouts.devcluster.versions import ALL_TOOLS, ETCD, HELM, KUBERNETES, KWOK
from tests.bench.report import record


def run() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GOMODCACHE": f"{tmp}/mod", "GOCACHE": f"{tmp}/build",
               "ROLLOUTS_CACHE": f"{tmp}/cache", "KUBERNETES_VERSION": KUBERNETES.version,
               "ETCD_VERSION": ETCD.version, "KWOK_VERSION": KWOK.version,
               "HELM_VERSION": HELM.version}
        script = resources.files("rollouts.devcluster").joinpath("build_tools.sh")
        with resources.as_file(script) as path:
            for tool in ALL_TOOLS:
                started = time.monotonic()
                subprocess.run(["bash", str(path), tool.name], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                rows.append({"figure": f"cold build of {tool.name} {tool.version}", "n": 1,
                             "value": f"{time.monotonic() - started:.0f}", "unit": "s"})
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    total = sum(float(row["value"]) for row in rows)
    rows.append({"figure": "cold build, all tools", "n": 1, "value": f"{total:.0f}",
                 "unit": "s"})
    record("build", "Cold build of the local control plane (empty Go caches)", rows,
           "Each tool is built in order into empty module and build caches, downloads "
           "included (Go module proxy). Tools built earlier in the same run share "
           "nothing with later ones except what the empty caches gained from them.",
           {tool.name: tool.version for tool in ALL_TOOLS})

