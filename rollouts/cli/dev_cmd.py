"""`rollouts dev up|down|status|env|build|restart`: the local control plane from the command
line."""

from __future__ import annotations

import shlex
import time

import click

from rollouts.cli.errors import UsageProblem
from rollouts.devcluster import Cluster, DevClusterError, down, restart_component, up
from rollouts.devcluster.build import ensure_built
from rollouts.devcluster.cluster import COMPONENT_STOP_GRACE_SECONDS
from rollouts.devcluster.versions import ALL_TOOLS, CONTROL_PLANE_TOOLS, KUBERNETES


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.group()
def dev() -> None:
    """Run a real local Kubernetes control plane (etcd, kube-apiserver, kwok nodes, ...)."""


@dev.command("up")
def dev_up() -> None:
    """Start the local control plane and Prometheus; wait until all are healthy."""
    try:
        cluster = up(_say)
    except DevClusterError as problem:
        raise UsageProblem(f"dev up: {problem}") from None
    click.echo(f"kubeconfig: {cluster.kubeconfig}")
    click.echo('use it with:  eval "$(rollouts dev env)"  then  kubectl get nodes')


@dev.command("down")
def dev_down() -> None:
    """Stop exactly the processes `dev up` started and remove their state."""
    down(_say)


@dev.command("restart")
@click.argument("component")
@click.option("--down-seconds", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to leave it stopped before starting it again.")
@click.option("--kill", is_flag=True, help="SIGKILL it at once (a crash) instead of SIGTERM.")
def dev_restart(component: str, down_seconds: float, kill: bool) -> None:
    """Stop one component (etcd, kube-apiserver, prometheus, ...) and start it again."""
    try:
        restart_component(_say, component, down_seconds=down_seconds,
                          grace_seconds=0.0 if kill else COMPONENT_STOP_GRACE_SECONDS)
    except DevClusterError as problem:
        raise UsageProblem(f"dev restart: {problem}") from None


@dev.command("build")
@click.option("--all", "everything", is_flag=True, help="Also build helm (for Helm sources).")
def dev_build(everything: bool) -> None:
    """Build (or find cached) the control plane's tools from Go modules."""
    try:
        ensure_built(_say, ALL_TOOLS if everything else CONTROL_PLANE_TOOLS)
    except DevClusterError as problem:
        raise UsageProblem(f"dev build: {problem}") from None


@dev.command("status")
def dev_status() -> None:
    """Show each component, its PID, health and the ports in use. Exit 1 when not up."""
    cluster = Cluster.load()
    if cluster is None:
        raise UsageProblem("no dev cluster is running; start one with `rollouts dev up`")
    health = cluster.healthy()
    click.echo(f"{'COMPONENT':<26}{'PID':>8}  {'HEALTHY':<8}LOG")
    for running in cluster.processes:
        state = "yes" if health.get(running.name) else "NO"
        click.echo(f"{running.name:<26}{running.pid:>8}  {state:<8}{running.log}")
    click.echo("")
    click.echo(f"api server:  {cluster.server}")
    click.echo(f"prometheus:  {cluster.prometheus_url}")
    click.echo(f"kubeconfig:  {cluster.kubeconfig}")
    ports = ", ".join(f"{name}={port}" for name, port in sorted(cluster.ports.items()))
    click.echo(f"ports:       {ports}")
    click.echo(f"up since:    {time.strftime('%H:%M:%S', time.localtime(cluster.started_at))}"
               f" (ready in {cluster.ready_seconds:.1f}s)")
    if not all(health.values()):
        raise UsageProblem("some components are not healthy; see their logs above, "
                           "or restart with `rollouts dev down && rollouts dev up`")


@dev.command("env")
def dev_env() -> None:
    """Print shell lines that point kubectl at the dev cluster: eval "$(rollouts dev env)"."""
    cluster = Cluster.load()
    if cluster is None:
        raise UsageProblem("no dev cluster is running; start one with `rollouts dev up`")
    bin_dir = cluster.kubectl.parent
    click.echo(f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}")
    click.echo(f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"')
    click.echo(f"export ROLLOUTS_PROMETHEUS_URL={shlex.quote(cluster.prometheus_url)}")
    click.echo(f"# kubectl {KUBERNETES.version} from {bin_dir}")
