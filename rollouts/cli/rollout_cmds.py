"""The commands that steer and show Rollouts, with the habits of kubectl-argo-rollouts.

Top level: `promote`, `abort`, `retry`, `pause`, `restart`, `undo`, `status`; groups:
`set image`, `get rollout` (alias `ro`), `list rollouts` (aliases `rollout`, `ro`).
Controls are patches (built by the pure `rollout_controls`) that the controller reacts
to; views are text (rendered by the pure `rollout_view`). Every API failure becomes a
one-line `UsageProblem` through `kubeopts.Session.calling`. Commands poll with plain
GETs (every 1 s for `status --watch`, 2 s for `get --watch`): simple and reliable.
"""

from __future__ import annotations

import copy
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError
from rollouts.cli import rollout_controls as controls
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, Session, kube_options
from rollouts.cli.output import dump_object
from rollouts.cli.rollout_view import (
    effective_phase,
    render_list,
    render_tree,
    status_line,
)
from rollouts.core.observed import HASH_LABEL
from rollouts.kube import ANALYSIS_RUN, POD, REPLICA_SET, ROLLOUT, KubeError

__all__ = ["register"]

STATUS_POLL_SECONDS = 1.0
GET_WATCH_SECONDS = 2.0
_CLEAR = "\x1b[H\x1b[2J"  # cursor home, erase screen


# --- talking to the API server ---------------------------------------------------------

def _fetch(session: Session, name: str) -> dict[str, Any]:
    with session.calling("get", "rollout", name):
        return session.client.get(ROLLOUT, session.namespace, name)


def _send(session: Session, name: str, patches: list[controls.Patch]) -> None:
    for patch in patches:
        verb = "patch the status of" if patch.subresource else "patch"
        with session.calling(verb, "rollout", name):
            session.client.patch(ROLLOUT, session.namespace, name, patch.body,
                                 patch.patch_type, subresource=patch.subresource)


def _owned(items: list[dict[str, Any]], owner: dict[str, Any]) -> list[dict[str, Any]]:
    uid = owner["metadata"].get("uid")
    return [item for item in items
            if any(ref.get("uid") == uid
                   for ref in item.get("metadata", {}).get("ownerReferences") or [])]


def _replica_sets(session: Session, rollout: dict[str, Any]) -> list[dict[str, Any]]:
    match = (rollout.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(match.items())) or None
    with session.calling("list", "replica sets"):
        items = session.client.list(REPLICA_SET, session.namespace, selector).items
    return _owned(items, rollout)


Objects = list[dict[str, Any]]


def _tree_objects(session: Session, name: str) -> tuple[dict[str, Any], Objects, Objects,
                                                        Objects]:
    """The Rollout, its ReplicaSets, their pods and its AnalysisRuns (one LIST each)."""
    rollout = _fetch(session, name)
    replica_sets = _replica_sets(session, rollout)
    hashes = sorted({str(rs["metadata"].get("labels", {}).get(HASH_LABEL))
                     for rs in replica_sets if rs["metadata"].get("labels", {}).get(HASH_LABEL)})
    pods: list[dict[str, Any]] = []
    if hashes:
        with session.calling("list", "pods"):
            pods = session.client.list(
                POD, session.namespace, f"{HASH_LABEL} in ({','.join(hashes)})").items
    try:
        with session.calling("list", "analysis runs"):
            runs = _owned(session.client.list(ANALYSIS_RUN, session.namespace).items, rollout)
    except UsageProblem:
        runs = []  # no AnalysisRun CRD, or no right to read them: show the rest
    return rollout, replica_sets, pods, runs



# --- controls --------------------------------------------------------------------------

@click.command("promote")
@click.argument("name")
@click.option("--full", is_flag=True,
              help="Skip all remaining steps, pauses and analyses (status.promoteFull).")
@kube_options
def promote(name: str, full: bool, kube: KubeOptions) -> None:
    """Promote a paused rollout, or skip its current step.

    Resumes a rollout paused with `rollouts pause` (spec.paused); clears the controller's
    pause (status.pauseConditions: a canary pause step, or a blue-green rollout waiting
    for promotion) so it moves on; otherwise skips a canary's current step (a setWeight
    still converging, an analysis still running). With --full, a blue-green rollout
    also skips its pause and pre-promotion analysis.
    """
    session = kube.session()
    patches = controls.promote_patches(_fetch(session, name), full=full)
    if not patches:
        click.echo(f"rollout '{name}' is already fully promoted: nothing to promote" if full
                   else f"rollout '{name}' is not paused and waits on no step: "
                   "nothing to promote")
        return
    _send(session, name, patches)
    click.echo(f"rollout '{name}' {'fully promoted' if full else 'promoted'}")


@click.command("abort")
@click.argument("name")
@kube_options
def abort(name: str, kube: KubeOptions) -> None:
    """Abort a rollout: traffic back to stable (blue-green: the active and preview
    Services select the stable ReplicaSet again), phase Degraded."""
    session = kube.session()
    _fetch(session, name)  # a missing rollout gets its own clear message
    _send(session, name, [controls.abort_patch()])
    click.echo(f"rollout '{name}' aborted")


@click.command("retry")
@click.argument("words", nargs=-1, required=True, metavar="[rollout] NAME")
@kube_options
def retry(words: tuple[str, ...], kube: KubeOptions) -> None:
    """Retry an aborted rollout from the start: a canary's first step, a blue-green
    preview (`retry NAME` or `retry rollout NAME`)."""
    if len(words) == 2 and words[0] in ("rollout", "rollouts", "ro"):
        name = words[1]
    elif len(words) == 1:
        name = words[0]
    else:
        raise click.UsageError("expected `retry NAME` or `retry rollout NAME`")
    session = kube.session()
    _fetch(session, name)
    _send(session, name, [controls.retry_patch()])
    click.echo(f"rollout '{name}' retried")


@click.command("pause")
@click.argument("name")
@kube_options
def pause(name: str, kube: KubeOptions) -> None:
    """Pause a rollout (spec.paused); `rollouts promote NAME` resumes it."""
    session = kube.session()
    _fetch(session, name)
    _send(session, name, [controls.pause_patch()])
    click.echo(f"rollout '{name}' paused")


@click.command("restart")
@click.argument("name")
@kube_options
def restart(name: str, kube: KubeOptions) -> None:
    """Restart the pods of a rollout (spec.restartAt = now)."""
    session = kube.session()
    _fetch(session, name)
    _send(session, name, [controls.restart_patch(datetime.now(UTC))])
    click.echo(f"rollout '{name}' restarted")


@click.command("undo")
@click.argument("name")
@click.option("--to-revision", type=click.IntRange(min=0), default=0, show_default=False,
              help="Revision to go back to (default: the one before the current one).")
@kube_options
def undo(name: str, to_revision: int, kube: KubeOptions) -> None:
    """Roll back to an earlier revision's pod template (a new revision, like kubectl)."""
    session = kube.session()
    rollout = _fetch(session, name)
    revision, patch = controls.undo_patch(rollout, _replica_sets(session, rollout),
                                          to_revision)
    _send(session, name, [patch])
    click.echo(f"rollout '{name}' rolled back to revision {revision}")


@click.group("set")
def set_group() -> None:
    """Change a rollout's spec."""


@set_group.command("image")
@click.argument("name")
@click.argument("assignments", nargs=-1, required=True, metavar="CONTAINER=IMAGE...")
@kube_options
def set_image(name: str, assignments: tuple[str, ...], kube: KubeOptions) -> None:
    """Set container images: `rollouts set image demo app=nginx:1.27`; `*=IMAGE` sets
    every container, init containers included. This starts a new update (canary steps,
    or a blue-green preview)."""
    pairs = controls.parse_image_assignments(assignments)
    session = kube.session()
    patch = controls.set_image_patch(_fetch(session, name), pairs)
    _send(session, name, [patch])
    click.echo(f"rollout '{name}' image updated")


# --- status ----------------------------------------------------------------------------

def _parse_timeout(text: str) -> float:
    try:
        seconds = Duration.parse(text.strip()).seconds
    except SpecError as problem:
        raise UsageProblem(f"bad --timeout '{text}': {problem}") from None
    if seconds < 0:
        raise UsageProblem(f"bad --timeout '{text}': it cannot be negative (0 waits forever)")
    return seconds


@click.command("status")
@click.argument("name")
@click.option("-w", "--watch", is_flag=True,
              help="Print each change until Healthy (exit 0), Degraded or timed out (exit 1).")
@click.option("-t", "--timeout", default="0", show_default=True, metavar="DURATION",
              help="With --watch: give up after this long (5m, 90s, 1h; 0 waits forever).")
@kube_options
def status(name: str, watch: bool, timeout: str, kube: KubeOptions) -> None:
    """Print a rollout's phase and message; made for CI pipelines.

    \b
    Exit status without --watch: 0 Healthy, Progressing or Paused; 1 Degraded.
    Exit status with --watch:    0 once Healthy; 1 once Degraded, or on timeout.
    A spec change the controller has not observed yet counts as Progressing.
    """
    limit = _parse_timeout(timeout)
    session = kube.session()
    rollout = _fetch(session, name)
    if not watch:
        click.echo(status_line(rollout))
        sys.exit(1 if effective_phase(rollout)[0] == "Degraded" else 0)
    started = time.monotonic()
    shown = ""
    while True:
        line = status_line(rollout)
        if line != shown:
            click.echo(line)
            shown = line
        phase = effective_phase(rollout)[0]
        if phase in ("Healthy", "Degraded"):
            sys.exit(0 if phase == "Healthy" else 1)
        if limit and time.monotonic() - started >= limit:
            raise UsageProblem(
                f"timed out after {timeout} waiting for rollout '{name}' to become Healthy "
                f"(last: {shown})")
        time.sleep(STATUS_POLL_SECONDS)
        rollout = _poll(session, name, rollout)


def _temporary(problem: UsageProblem) -> bool:
    """Whether the API failure behind `problem` may pass (server down, overloaded)."""
    cause = problem.__cause__
    return isinstance(cause, KubeError) and cause.temporary


def _poll(session: Session, name: str, last: dict[str, Any]) -> dict[str, Any]:
    """A fresh GET; a passing API server outage keeps the last object (and says so)."""
    try:
        return _fetch(session, name)
    except UsageProblem as problem:
        if not _temporary(problem):
            raise
        click.echo(f"({problem}; retrying)", err=True)
        return last


# --- get / list ------------------------------------------------------------------------

def _alias(command: click.Command, name: str) -> click.Command:
    """The same command under another name, hidden from help."""
    alias = copy.copy(command)
    alias.name = name
    alias.hidden = True
    return alias


@click.group("get")
def get_group() -> None:
    """Show one object in detail."""


@get_group.command("rollout")
@click.argument("name")
@click.option("-w", "--watch", is_flag=True, help="Re-render every 2s until Ctrl-C.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]),
              help="Print the Rollout object instead of the tree.")
@kube_options
def get_rollout(name: str, watch: bool, output: str | None, kube: KubeOptions) -> None:
    """Show a rollout as a tree: revisions, ReplicaSets, pods and AnalysisRuns (alias: ro)."""
    session = kube.session()
    if output:
        dump_object(_fetch(session, name), output)
        return
    view = render_tree(*_tree_objects(session, name), datetime.now(UTC))
    click.echo(view)
    clear = sys.stdout.isatty()
    try:
        while watch:
            time.sleep(GET_WATCH_SECONDS)
            try:
                view = render_tree(*_tree_objects(session, name), datetime.now(UTC))
            except UsageProblem as problem:
                if not _temporary(problem):
                    raise
                click.echo(f"({problem}; retrying)", err=True)
                continue
            click.echo((_CLEAR if clear else "\n") + view)
    except KeyboardInterrupt:
        return


@click.group("list")
def list_group() -> None:
    """List objects in a table."""


@list_group.command("rollouts")
@click.option("-A", "--all-namespaces", is_flag=True, help="List rollouts in every namespace.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml", "wide"]),
              help="json/yaml: the objects as a List; wide: more columns.")
@kube_options
def list_rollouts(all_namespaces: bool, output: str | None, kube: KubeOptions) -> None:
    """List rollouts: strategy, phase, step, weight and replica counts (aliases: ro)."""
    session = kube.session()
    namespace = None if all_namespaces else session.namespace
    with session.calling("list", "rollouts", namespace=namespace):
        items = session.client.list(ROLLOUT, namespace).items
    if output in ("json", "yaml"):
        dump_object({"apiVersion": "v1", "kind": "List", "items": items}, output)
        return
    if not items:
        where = "any namespace" if all_namespaces else f"namespace '{namespace}'"
        click.echo(f"No rollouts found in {where}.", err=True)
        return
    click.echo(render_list(items, all_namespaces=all_namespaces, wide=output == "wide",
                           now=datetime.now(UTC)))


get_group.add_command(_alias(get_rollout, "ro"))
for _name in ("rollout", "ro"):
    list_group.add_command(_alias(list_rollouts, _name))


def register(cli: click.Group) -> None:
    """Add these commands to `cli`; `get`/`list`/`set` merge into groups of those names
    another module may have registered first."""
    for command in (promote, abort, retry, pause, restart, undo, status):
        cli.add_command(command)
    for group in (set_group, get_group, list_group):
        existing = cli.commands.get(str(group.name))
        if isinstance(existing, click.Group) and existing is not group:
            for sub_name, sub in group.commands.items():
                existing.add_command(sub, sub_name)
        else:
            cli.add_command(group)
