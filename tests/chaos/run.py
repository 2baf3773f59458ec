"""`make chaos`: `python -m tests.chaos.run [FAULT...]` runs the named faults (default:
all) on the harness's own dev cluster, prints the table
`fault | runs right | N | failover p50 | failover max | notes` and records it in
BENCHMARKS.md (entry `chaos`) with the commit, Kubernetes version and settings.

N: `CHAOS_N` (every fault), `CHAOS_N_LEADER` (leader kills, default 20),
`CHAOS_N_OTHER` (the other faults, default 5); `CHAOS_SEED` makes the random moments
repeatable (default: from the clock, printed); `CHAOS_RECORD=0` leaves BENCHMARKS.md
alone (trial runs). Exit 1 when any run was wrong.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable

from rollouts.devcluster.versions import KUBERNETES
from rollouts.kube.leader import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_RENEW_SECONDS,
    DEFAULT_RETRY_SECONDS,
)
from tests.bench.report import REPO, record, stop_on_sigterm
from tests.chaos.git_fault import git_stop
from tests.chaos.harness import Lab, Outcome, lab
from tests.chaos.rollout_faults import component_restart, leader_kill, prometheus_stop

N_LEADER = 20
N_OTHER = 5

Fault = Callable[[Lab, int, random.Random], Outcome]
FAULTS: dict[str, tuple[Fault, bool]] = {
    "leader-kill-canary": (lambda lab_, n, rng: leader_kill(lab_, n, "canary", rng), True),
    "leader-kill-bluegreen": (lambda lab_, n, rng: leader_kill(lab_, n, "bluegreen", rng),
                              True),
    "apiserver-restart": (lambda lab_, n, rng: component_restart(
        lab_, n, "kube-apiserver", rng), False),
    "etcd-restart": (lambda lab_, n, rng: component_restart(lab_, n, "etcd", rng), False),
    "prometheus-stop": (prometheus_stop, False),
    "git-stop": (git_stop, False),
}


def _n(leader: bool) -> int:
    value = os.environ.get("CHAOS_N") or os.environ.get(
        "CHAOS_N_LEADER" if leader else "CHAOS_N_OTHER")
    return int(value) if value else (N_LEADER if leader else N_OTHER)


def table(outcomes: list[Outcome]) -> list[str]:
    lines = ["| fault | runs right | N | failover p50 | failover max | notes |",
             "| --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        notes = "; ".join(o.notes + [f"WRONG {w}" for w in o.wrong]).replace("|", "/")
        lines.append(f"| {o.fault} | {o.right} of {o.n} | {o.n} | {o.failover('p50')} "
                     f"| {o.failover('max')} | {notes} |")
    return lines


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        sys.exit(f"unknown fault {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    seed = int(os.environ.get("CHAOS_SEED") or time.time())
    commit = _commit()  # now: the code the controllers run is the code at the start
    print(f"== chaos: seed {seed}", flush=True)
    stop_on_sigterm()  # SIGTERM cleans up like Ctrl-C
    rng = random.Random(seed)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    with lab() as lab_:
        for name in names or list(FAULTS):
            fault, leader = FAULTS[name]
            print(f"== fault {name} (N={_n(leader)})", flush=True)
            began = time.monotonic()
            outcome = fault(lab_, _n(leader), rng)
            outcome.notes.append(f"{(time.monotonic() - began) / 60:.1f} min")
            outcomes.append(outcome)
    total = time.monotonic() - started
    print("\n".join(table(outcomes)), flush=True)
    print(f"total {total / 60:.1f} min", flush=True)
    if os.environ.get("CHAOS_RECORD", "1") != "0":
        _record(outcomes, total, seed, commit)
    return 0 if all(o.right == o.n for o in outcomes) else 1


def _commit() -> str:
    """The short commit, with `+changes` when the controller code has uncommitted edits."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "rollouts", "analysis", "reconciler")
    return f"{commit}+changes" if dirty else commit


def _record(outcomes: list[Outcome], total: float, seed: int, commit: str) -> None:
    rows = []
    for o in outcomes:
        rows.append({"figure": f"{o.fault}: runs right", "n": o.n,
                     "value": f"{o.right} of {o.n}", "unit": "runs"})
        if o.failovers:
            rows += [{"figure": f"{o.fault}: failover p50", "n": len(o.failovers),
                      "value": o.failover("p50").removesuffix(" s"), "unit": "s"},
                     {"figure": f"{o.fault}: failover max", "n": len(o.failovers),
                      "value": o.failover("max").removesuffix(" s"), "unit": "s"}]
    rows.append({"figure": "whole harness", "n": 1, "value": f"{total / 60:.1f}",
                 "unit": "min"})
    notes = "\n".join([
        "Faults injected by `make chaos` (`tests/chaos/`) into the harness's own dev cluster "
        "and real `rollouts controller` processes (leader election on). Failover = SIGKILL "
        "of the leader to another replica holding the Lease (polled every 0.1 s). "
        f"Random moments from seed {seed}.", "",
        *table(outcomes)])
    record("chaos", "Chaos: faults injected mid-rollout, N of N runs right", rows, notes, {
        "commit": commit, "kubernetes": KUBERNETES.version,
        "lease/renew/retry": f"{DEFAULT_LEASE_SECONDS:g}/{DEFAULT_RENEW_SECONDS:g}/"
                             f"{DEFAULT_RETRY_SECONDS:g} s",
        "N": ", ".join(f"{o.fault} {o.n}" for o in outcomes)})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
