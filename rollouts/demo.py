"""`make demo`: the main job end to end on the local control plane.

Brings up the dev cluster (building it the first time), installs our CRDs, starts the
controller, deploys the demo Rollout from `manifests/demo/`, then changes its image and
walks the canary (setWeight 20 -> pause 10s -> setWeight 50 -> pause {} -> promote),
printing the rollout tree at each stage. Any failure prints one line and exits 1.
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

from rollouts.devcluster import Cluster, DevClusterError, up

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
NAMESPACE = "rollouts-demo"


class DemoFailed(Exception):
    """A stage of the demo did not happen in time."""


def _heading(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def _kubectl(cluster: Cluster, *args: str, show: bool = True) -> str:
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


def _rollouts(cluster: Cluster, *args: str) -> None:
    click.secho("$ rollouts " + " ".join(args), fg="cyan")
    result = subprocess.run(
        [sys.executable, "-m", "rollouts.cli.main", *args, "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}"],
        capture_output=True, text=True, check=False,
    )
    click.echo((result.stdout + result.stderr).rstrip())
    if result.returncode != 0:
        raise DemoFailed(f"rollouts {' '.join(args)} exited {result.returncode}")


def _status(cluster: Cluster) -> dict[str, Any]:
    out = _kubectl(cluster, "get", "rollout", "demo", "-n", NAMESPACE, "-o", "json",
                   show=False)
    return dict(json.loads(out).get("status") or {})


def _wait(cluster: Cluster, what: str, done: Callable[[dict[str, Any]], bool],
          timeout: float = 120) -> dict[str, Any]:
    click.echo(f"   waiting for {what} ...")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = _status(cluster)
        if done(status):
            click.echo(f"   {what}: after {time.monotonic() - started:.1f}s")
            return status
        time.sleep(0.5)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}; "
                     f"last status: phase={_status(cluster).get('phase')}")


def _at(phase: str, step: int | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("phase") == phase and (step is None
                                                  or s.get("currentStepIndex") == step)


def run() -> None:
    _heading("1. local control plane (etcd, kube-apiserver, controller-manager, scheduler, "
             "kwok, prometheus)")
    cluster = up(lambda line: click.echo(f"   {line}"))
    _kubectl(cluster, "get", "nodes")

    _heading("2. install the CRDs and a fresh demo namespace")
    _kubectl(cluster, "apply", "--server-side", "-k", str(MANIFESTS))
    _kubectl(cluster, "wait", "--for=condition=Established", "--timeout=60s",
             "crd/rollouts.argoproj.io", show=False)
    _kubectl(cluster, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    _kubectl(cluster, "create", "namespace", NAMESPACE)

    _heading("3. start the controller")
    log = cluster.directory / "logs" / "demo-controller.log"
    controller = subprocess.Popen(
        [sys.executable, "-m", "rollouts.cli.main", "controller", "-n", NAMESPACE,
         f"--kubeconfig={cluster.kubeconfig}", "--no-leader-elect", "--port", "0"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    click.echo(f"   rollouts controller -n {NAMESPACE} (pid {controller.pid}, log {log})")
    try:
        _walk_the_canary(cluster)
    finally:
        controller.terminate()
        controller.wait(15)

    _heading("done: the canary went 20% -> pause 10s -> 50% -> promote -> Healthy")
    click.echo("the cluster keeps running (the demo's controller has stopped); explore with:")
    click.echo('  eval "$(.venv/bin/rollouts dev env)"; kubectl get rollouts -n rollouts-demo')
    click.echo("stop it with: make dev-down")


def _walk_the_canary(cluster: Cluster) -> None:
    _heading("4. deploy the demo Rollout (first version: straight to stable)")
    _kubectl(cluster, "apply", "-n", NAMESPACE, "-f", str(MANIFESTS / "demo" / "rollout.yaml"))
    _wait(cluster, "Healthy", _at("Healthy"))
    _kubectl(cluster, "get", "rollouts", "-n", NAMESPACE)
    _rollouts(cluster, "get", "rollout", "demo")

    _heading("5. new image: setWeight 20, then a 10s pause")
    _rollouts(cluster, "set", "image", "demo", "demo=argoproj/rollouts-demo:green")
    _wait(cluster, "step 2 (pause 10s)", _at("Paused", 1))
    _rollouts(cluster, "get", "rollout", "demo")

    _heading("6. the pause expires by itself: setWeight 50, then pause until promoted")
    _wait(cluster, "step 4 (pause until promoted)", _at("Paused", 3), timeout=60)
    _kubectl(cluster, "get", "rollouts", "-n", NAMESPACE)
    _rollouts(cluster, "get", "rollout", "demo")

    _heading("7. promote")
    _rollouts(cluster, "promote", "demo")
    _wait(cluster, "Healthy on the new version",
          lambda s: s.get("phase") == "Healthy" and s.get("stableRS") == s.get("currentPodHash")
          and s.get("availableReplicas") == 5 and s.get("replicas") == 5)
    _kubectl(cluster, "get", "rollouts", "-n", NAMESPACE)
    _rollouts(cluster, "get", "rollout", "demo")
    _rollouts(cluster, "status", "demo")


def main() -> None:
    try:
        run()
    except (DevClusterError, DemoFailed) as problem:
        click.secho(f"demo failed: {problem}", fg="red", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
