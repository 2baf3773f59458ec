"""What the demo shows and does, step by step: headings, commands echoed then run,
waits on a Rollout's status. Shared by the demo's stages (`demo.py`, `demo_traffic.py`);
any stage that does not happen in time raises `DemoFailed`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rollouts.devcluster import Cluster, DevClusterError

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
NAMESPACE = "rollouts-demo"


class DemoFailed(Exception):
    """A stage of the demo did not happen in time."""


def heading(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def kubectl(cluster: Cluster, *args: str, show: bool = True) -> str:
    if show:
        click.secho("$ kubectl " + " ".join(args), fg="cyan")
    result = subprocess.run(
        [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DevClusterError(f"kubectl {' '.join(args[:2])} failed: {last}")
    if show and result.stdout.strip():
        click.echo(result.stdout.rstrip())
    return result.stdout


def rollouts_cli(cluster: Cluster, *args: str) -> None:
    click.secho("$ rollouts " + " ".join(args), fg="cyan")
    result = subprocess.run(
        [sys.executable, "-m", "rollouts.cli.main", *args, "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}"],
        capture_output=True, text=True, check=False,
    )
    click.echo((result.stdout + result.stderr).rstrip())
    if result.returncode != 0:
        raise DemoFailed(f"rollouts {' '.join(args)} exited {result.returncode}")


def rollout_status(cluster: Cluster, name: str = "demo") -> dict[str, Any]:
    out = kubectl(cluster, "get", "rollout", name, "-n", NAMESPACE, "-o", "json",
                  show=False)
    return dict(json.loads(out).get("status") or {})


def wait(cluster: Cluster, what: str, done: Callable[[dict[str, Any]], bool],
         timeout: float = 120, name: str = "demo") -> dict[str, Any]:
    click.echo(f"   waiting for {what} ...")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = rollout_status(cluster, name)
        if done(status):
            click.echo(f"   {what}: after {time.monotonic() - started:.1f}s")
            return status
        time.sleep(0.5)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}; "
                     f"last status: phase={rollout_status(cluster, name).get('phase')}, "
                     f"message={rollout_status(cluster, name).get('message')}")


def at(phase: str, step: int | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("phase") == phase and (step is None
                                                  or s.get("currentStepIndex") == step)
