"""`make bench`: run the benchmarks and rewrite BENCHMARKS.md.

`python -m tests.bench.run [NAME...]` runs the named benchmarks (default: all).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tests.bench import (
    analysis,
    backtest,
    bluegreen,
    build,
    canary,
    devcluster,
    flux_compare,
    gitops_scale,
    metrics,
    progressing,
    reconciler,
    router,
    scale,
    traffic,
)
from tests.bench.report import stop_on_sigterm

BENCHMARKS: dict[str, Callable[[], None]] = {
    "devcluster": devcluster.run,
    "canary": canary.run,
    "bluegreen": bluegreen.run,
    "router": router.run,
    "analysis": analysis.run,
    "metrics": metrics.run,
    "reconciler": reconciler.run,
    "gitops_scale": gitops_scale.run,
    "progressing": progressing.run,
    "backtest": backtest.run,
}


# Opt-in: a cold build takes ~25 minutes on 2 cores; traffic needs `make traefik`, root;
# scale (our controller alone at 100 / 1,000 / 10,000 idle Rollouts, 15-minute windows)
# takes over an hour, and `make bench-compare` measures the same points beside Argo.
OPT_IN: dict[str, Callable[[], None]] = {"build": build.run, "traffic": traffic.run,
                                         "scale": scale.run, "flux": flux_compare.run,
                                         "progressing_argo": progressing.run_argo}


def main(names: list[str]) -> None:
    stop_on_sigterm()
    for name in names or list(BENCHMARKS):
        if name in OPT_IN:
            print(f"== benchmark {name}", flush=True)
            OPT_IN[name]()
            continue
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark '{name}'; choose from {', '.join(BENCHMARKS)}")
        print(f"== benchmark {name}", flush=True)
        BENCHMARKS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
