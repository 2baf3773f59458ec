"""`make demo`: the main job end to end on the local control plane.

Brings up the dev cluster (building it the first time), installs our CRDs and the
demo Rollout from `manifests/demo/`, and shows what a user would look at. Each stage
prints a heading; any failure prints one line and exits non-zero.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from rollouts.devcluster import Cluster, DevClusterError, up

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"


def _heading(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def _kubectl(cluster: Cluster, *args: str, show: bool = True) -> str:
    command = ["kubectl", *args]
    if show:
        click.secho("$ " + " ".join(command), fg="cyan")
    result = subprocess.run(
        [str(cluster.kubectl), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DevClusterError(f"kubectl {' '.join(args[:2])} failed: {last}")
    if show:
        click.echo(result.stdout.rstrip())
    return result.stdout


def run() -> None:
    _heading("1. local control plane (etcd, kube-apiserver, controller-manager, scheduler, "
             "kwok, prometheus)")
    cluster = up(lambda line: click.echo(f"   {line}"))
    _kubectl(cluster, "get", "nodes")

    _heading("2. install the CRDs")
    _kubectl(cluster, "apply", "--server-side", "-k", str(MANIFESTS))
    _kubectl(cluster, "wait", "--for=condition=Established", "--timeout=60s",
             "crd/rollouts.argoproj.io", show=False)

    _heading("3. deploy the demo Rollout")
    _kubectl(cluster, "apply", "-f", str(MANIFESTS / "demo" / "rollout.yaml"))
    _kubectl(cluster, "get", "rollouts")

    _heading("done")
    click.echo("the cluster keeps running; use it with:")
    click.echo('  eval "$(.venv/bin/rollouts dev env)"; kubectl get rollouts')
    click.echo("stop it with: make dev-down")


def main() -> None:
    try:
        run()
    except DevClusterError as problem:
        click.secho(f"demo failed: {problem}", fg="red", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
