"""`rollouts dev up|down|status|env|build|restart`: the local control plane from the command
line. `--name NAME` works on a second, named cluster beside the default one (its own
directory, ports, CA and kubeconfig context `rollouts-dev-NAME`): a destination for
multi-cluster Applications (`rollouts cluster add rollouts-dev-NAME`)."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rollouts.cli.errors import UsageProblem
from rollouts.devcluster import Cluster, DevClusterError, down, restart_component, up
from rollouts.devcluster.build import ensure_built
from rollouts.devcluster.cluster import COMPONENT_STOP_GRACE_SECONDS, check_name
from rollouts.devcluster.versions import ALL_TOOLS, CONTROL_PLANE_TOOLS, KUBERNETES, state_dir


def _say(line: str) -> None:
    click.echo(line, err=True)


def _name_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--name", default=None, metavar="NAME",
                        help="A second, named cluster (default: the default one).")(command)


def _directory(name: str | None) -> Path:
    if name:
        try:
            check_name(name)
        except DevClusterError as problem:
            raise UsageProblem(f"--name: {problem}") from None
    return state_dir(name)


def _not_running(name: str | None) -> UsageProblem:
    flag = f" --name {name}" if name else ""
    which = f"dev cluster '{name}'" if name else "dev cluster"
    return UsageProblem(f"no {which} is running; start one with `rollouts dev up{flag}`")


@click.group()
def dev() -> None:
    """Run a real local Kubernetes control plane (etcd, kube-apiserver, kwok nodes, ...)."""


@dev.command("up")
@_name_option
def dev_up(name: str | None) -> None:
    """Start the local control plane and Prometheus; wait until all are healthy."""
    directory = _directory(name)
    try:
        cluster = up(_say, directory=directory, name=name)
    except DevClusterError as problem:
        raise UsageProblem(f"dev up: {problem}") from None
    click.echo(f"kubeconfig: {cluster.kubeconfig}")
    flag = f" --name {name}" if name else ""
    click.echo(f'use it with:  eval "$(rollouts dev env{flag})"  then  kubectl get nodes')


@dev.command("down")
@_name_option
def dev_down(name: str | None) -> None:
    """Stop exactly the processes `dev up` started and remove their state."""
    down(_say, directory=_directory(name))


@dev.command("restart")
@click.argument("component")
@click.option("--down-seconds", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to leave it stopped before starting it again.")
@click.option("--kill", is_flag=True, help="SIGKILL it at once (a crash) instead of SIGTERM.")
@_name_option
def dev_restart(component: str, down_seconds: float, kill: bool, name: str | None) -> None:
    """Stop one component (etcd, kube-apiserver, prometheus, ...) and start it again."""
    try:
        restart_component(_say, component, directory=_directory(name),
                          down_seconds=down_seconds,
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
@_name_option
def dev_status(name: str | None) -> None:
    """Show each component, its PID, health and the ports in use. Exit 1 when not up."""
    cluster = Cluster.load(_directory(name))
    if cluster is None:
        raise _not_running(name)
    health = cluster.healthy()
    click.echo(f"{'COMPONENT':<26}{'PID':>8}  {'HEALTHY':<8}LOG")
    for running in cluster.processes:
        state = "yes" if health.get(running.name) else "NO"
        click.echo(f"{running.name:<26}{running.pid:>8}  {state:<8}{running.log}")
    click.echo("")
    click.echo(f"api server:  {cluster.server}")
    click.echo(f"prometheus:  {cluster.prometheus_url}")
    click.echo(f"kubeconfig:  {cluster.kubeconfig} (context {cluster.context})")
    ports = ", ".join(f"{name}={port}" for name, port in sorted(cluster.ports.items()))
    click.echo(f"ports:       {ports}")
    click.echo(f"up since:    {time.strftime('%H:%M:%S', time.localtime(cluster.started_at))}"
               f" (ready in {cluster.ready_seconds:.1f}s)")
    if not all(health.values()):
        raise UsageProblem("some components are not healthy; see their logs above, "
                           "or restart with `rollouts dev down && rollouts dev up`")


@dev.command("env")
@_name_option
def dev_env(name: str | None) -> None:
    """Print shell lines that point kubectl at the dev cluster: eval "$(rollouts dev env)"."""
    cluster = Cluster.load(_directory(name))
    if cluster is None:
        raise _not_running(name)
    bin_dir = cluster.kubectl.parent
    click.echo(f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}")
    click.echo(f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"')
    click.echo(f"export ROLLOUTS_PROMETHEUS_URL={shlex.quote(cluster.prometheus_url)}")
    click.echo(f"# kubectl {KUBERNETES.version} from {bin_dir}")
