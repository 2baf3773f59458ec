"""`rollouts get experiment NAME [--watch]`, `rollouts terminate experiment NAME` and
`rollouts terminate analysisrun NAME`, as Argo's kubectl plugin has them.

`render_experiment(obj, now)` is the pure view (phase, templates with their replica
counts and Services, analyses with their runs' phases); the commands fetch, render, and
for `terminate` send Argo's patch `{"spec": {"terminate": true}}`.
"""

from __future__ import annotations

import copy
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, Session, kube_options
from rollouts.cli.output import dump_object
from rollouts.kube import ANALYSIS_RUN, EXPERIMENT, Kind

__all__ = ["register", "render_experiment"]

GET_WATCH_SECONDS = 2.0
TERMINATE_PATCH = {"spec": {"terminate": True}}
_CLEAR = "\x1b[H\x1b[2J"
_COMPLETED = {"Successful", "Failed", "Error", "Inconclusive"}


def _age(created: object, now: datetime) -> str:
    if not isinstance(created, str) or not created:
        return "-"
    try:
        seconds = int((now - datetime.fromisoformat(created.replace("Z", "+00:00")))
                      .total_seconds())
    except ValueError:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [headers, *rows]]


def render_experiment(obj: dict[str, Any], now: datetime) -> str:
    """The experiment as text: a header, its templates, its analyses."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = [
        f"Name:          {meta.get('name')}",
        f"Namespace:     {meta.get('namespace')}",
        f"Phase:         {status.get('phase') or 'Pending'}"
        + ("  (terminating)" if spec.get("terminate") and status.get("phase") not in _COMPLETED
           else ""),
    ]
    if status.get("message"):
        lines.append(f"Message:       {status['message']}")
    if spec.get("duration") is not None:
        lines.append(f"Duration:      {spec['duration']}")
    if status.get("availableAt"):
        lines.append(f"Available at:  {status['availableAt']} "
                     f"({_age(status['availableAt'], now)} ago)")
    lines.append(f"Age:           {_age(meta.get('creationTimestamp'), now)}")
    entries = {str(e.get("name")): e for e in status.get("templateStatuses") or []}
    rows = []
    for template in spec.get("templates") or []:
        name = str(template.get("name"))
        entry = entries.get(name, {})
        desired = template.get("replicas", 1)
        rows.append([
            name, str(entry.get("status") or "-"),
            f"{entry.get('availableReplicas', 0)}/{desired}",
            str(entry.get("readyReplicas", 0)),
            str(entry.get("podTemplateHash") or "-"),
            str(entry.get("serviceName") or "-"),
            str(entry.get("message") or ""),
        ])
    lines.append("")
    lines.extend(_table(["TEMPLATE", "STATUS", "AVAILABLE", "READY", "HASH", "SERVICE",
                         "MESSAGE"], rows))
    runs = {str(e.get("name")): e for e in status.get("analysisRuns") or []}
    analyses = spec.get("analyses") or []
    if analyses:
        run_rows = []
        for analysis in analyses:
            entry = runs.get(str(analysis.get("name")), {})
            required = " (required)" if analysis.get("requiredForCompletion") else ""
            run_rows.append([
                f"{analysis.get('name')}{required}", str(analysis.get("templateName")),
                str(entry.get("analysisRun") or "-"), str(entry.get("phase") or "-"),
                str(entry.get("message") or ""),
            ])
        lines.append("")
        lines.extend(_table(["ANALYSIS", "TEMPLATE", "ANALYSISRUN", "PHASE", "MESSAGE"],
                            run_rows))
    return "\n".join(lines)


def _fetch(session: Session, kind: Kind, resource: str, name: str) -> dict[str, Any]:
    with session.calling("get", resource, name):
        return session.client.get(kind, session.namespace, name)



@click.command("experiment")
@click.argument("name")
@click.option("-w", "--watch", is_flag=True, help="Re-render every 2s until Ctrl-C.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]),
              help="Print the Experiment object instead of the summary.")
@kube_options
def get_experiment(name: str, watch: bool, output: str | None, kube: KubeOptions) -> None:
    """Show an experiment: phase, templates with replica counts, analyses (alias: exp)."""
    session = kube.session()
    obj = _fetch(session, EXPERIMENT, "experiments", name)
    if output:
        dump_object(obj, output)
        return
    click.echo(render_experiment(obj, datetime.now(UTC)))
    clear = sys.stdout.isatty()
    try:
        while watch:
            time.sleep(GET_WATCH_SECONDS)
            try:
                obj = _fetch(session, EXPERIMENT, "experiments", name)
            except UsageProblem as problem:
                cause = problem.__cause__
                if not getattr(cause, "temporary", False):
                    raise
                click.echo(f"({problem}; retrying)", err=True)
                continue
            click.echo((_CLEAR if clear else "\n") + render_experiment(obj, datetime.now(UTC)))
    except KeyboardInterrupt:
        return


def _terminate(kube: KubeOptions, kind: Kind, resource: str, what: str, name: str) -> None:
    session = kube.session()
    obj = _fetch(session, kind, resource, name)
    phase = (obj.get("status") or {}).get("phase")
    if phase in _COMPLETED:
        click.echo(f"{what} '{name}' already completed ({phase}): nothing to terminate")
        return
    with session.calling("patch", resource, name):
        session.client.patch(kind, session.namespace, name, copy.deepcopy(TERMINATE_PATCH))
    click.echo(f"{what} '{name}' terminated")


@click.group("terminate")
def terminate_group() -> None:
    """Stop an experiment or an analysis run early (spec.terminate)."""


@terminate_group.command("experiment")
@click.argument("name")
@kube_options
def terminate_experiment(name: str, kube: KubeOptions) -> None:
    """Terminate an experiment: its ReplicaSets scale down, its analysis runs are
    terminated; it ends Successful unless it already failed (alias: exp)."""
    _terminate(kube, EXPERIMENT, "experiments", "experiment", name)


@terminate_group.command("analysisrun")
@click.argument("name")
@kube_options
def terminate_analysisrun(name: str, kube: KubeOptions) -> None:
    """Terminate an analysis run: its running metrics stop (alias: ar)."""
    _terminate(kube, ANALYSIS_RUN, "analysisruns", "analysisrun", name)


def _alias(command: click.Command, name: str) -> click.Command:
    alias = copy.copy(command)
    alias.name = name
    alias.hidden = True
    return alias


_get_group = click.Group("get", help="Show one object in detail.")
_get_group.add_command(get_experiment)
_get_group.add_command(_alias(get_experiment, "exp"))
terminate_group.add_command(_alias(terminate_experiment, "exp"))
terminate_group.add_command(_alias(terminate_analysisrun, "ar"))


def register(cli: click.Group) -> None:
    """Add `get experiment` (merged into an existing `get` group) and `terminate`."""
    for group in (_get_group, terminate_group):
        existing = cli.commands.get(str(group.name))
        if isinstance(existing, click.Group) and existing is not group:
            for sub_name, sub in group.commands.items():
                existing.add_command(sub, sub_name)
        else:
            cli.add_command(group)
