"""`rollouts app ...`: list, show, sync, diff, roll back and wait for Applications.

`get --refresh` / `--hard-refresh` set Argo CD's refresh annotation and show the app once
the controller has compared it again (`app_refresh`).

The CLI and the Application controller speak Argo CD's contract: a sync is requested by
merge-patching the Application's top-level `operation` (`app_view.sync_operation`, sent
with the resourceVersion as a precondition by `app_view.operation_patch`, so two
requests cannot both win); the controller runs it, records `status.operationState` and
removes `operation`. `sync` and `rollback` then poll (GET every second) until *that*
operation is final (`app_view.ours`): exit 0 Succeeded, 1 Failed/Error/timeout.

`diff` needs no controller: it fetches and renders the source(s) itself (`app_render`:
every source of a multi-source app, `$ref` value files included) and compares each
object with the live one by server-side apply dry-run (`diff_object`, field manager
`rollouts-reconciler`, the Application's ignoreDifferences; an object our manager
applied exactly as Git says, every value unchanged, needs no dry run:
`reconciler.diff_settled`), then lists tracked live objects that left Git. It uses
the controller's own steps: credentials from repository Secrets (`reconciler.repo_creds`,
read in the Application's namespace) and `reconciler.compare.prepare_desired`
(namespaces, tracking). Exit 0 no diff, 1 diff, 2 error.

Neighbours: `app_view` (pure text and status reading), `kubeopts` (cluster options and
error mapping), `reconciler.*` (the library the controller uses too).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import click

from reconciler.compare import prepare_desired
from reconciler.diff import IgnoreRule, ObjectDiff, diff_object
from reconciler.multisource import sources_of
from reconciler.syncplan_annotations import hook_info
from reconciler.tracking import ResourceKey, is_tracked_by, resource_key
from rollouts.api import Application, parse_object
from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError
from rollouts.api.phases import OperationPhase
from rollouts.cli import app_delete, app_refresh
from rollouts.cli import app_view as view
from rollouts.cli.app_render import REVISIONS_HELP, desired_objects, revision_option
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, Session, kube_options
from rollouts.cli.output import dump_object
from rollouts.kube import APPLICATION, SECRET, Conflict, Kind, KubeError, NotFound

__all__ = ["FIELD_MANAGER", "register"]

FIELD_MANAGER = "rollouts-reconciler"
POLL_SECONDS = 1.0
DIFF_ERROR = 2
DIFF_PARALLEL = 8
"""Server-side dry runs `app diff` keeps in flight (one per object)."""
Obj = dict[str, Any]


# --- talking to the API server -----------------------------------------------------------

def _fetch(session: Session, name: str) -> Obj:
    try:
        with session.calling("get", "application", name):
            return session.client.get(APPLICATION, session.namespace, name)
    except UsageProblem as problem:
        if isinstance(problem.__cause__, NotFound) and f'"{name}" not found' in str(
                problem.__cause__.message):
            raise UsageProblem(
                f"application '{name}' not found in namespace '{session.namespace}'; list "
                f"them with `rollouts app list -n {session.namespace}`") from None
        raise


def _poll(session: Session, name: str, last: Obj) -> Obj:
    """A fresh GET; a passing API server outage keeps the last object (and says so)."""
    try:
        return _fetch(session, name)
    except UsageProblem as problem:
        if not (isinstance(problem.__cause__, KubeError) and problem.__cause__.temporary):
            raise
        click.echo(f"({problem}; retrying)", err=True)
        return last


def _parse_timeout(text: str) -> float:
    try:
        seconds = Duration.parse(text.strip()).seconds
    except SpecError as problem:
        raise UsageProblem(f"bad --timeout '{text}': {problem}") from None
    if seconds < 0:
        raise UsageProblem(f"bad --timeout '{text}': it cannot be negative (0 waits forever)")
    return seconds



def _request(session: Session, name: str,
             build: Callable[[Obj], Obj]) -> tuple[Obj, datetime, view.OperationMark]:
    """Set `operation` (built from the current object); refuse if one is in progress."""
    for _ in range(3):
        app = _fetch(session, name)
        busy = view.in_progress(app)
        if busy:
            drop = (f"; to drop a request no controller picks up: `kubectl patch application "
                    f"{name} -n {session.namespace} --type=json -p "
                    """'[{"op":"remove","path":"/operation"}]'`"""
                    if app.get("operation") and view.operation_phase(app) is not
                    OperationPhase.RUNNING else "")
            raise UsageProblem(
                f"another operation is already in progress on application '{name}': {busy}; "
                f"wait for it with `rollouts app wait {name} --operation`{drop}")
        operation = build(app)
        before, requested_at = view.OperationMark.of(app), datetime.now(UTC)
        patch = view.operation_patch(operation, str(app["metadata"].get("resourceVersion")))
        try:
            with session.calling("patch", "application", name):
                session.client.patch(APPLICATION, session.namespace, name, patch, "merge")
        except UsageProblem as problem:
            if isinstance(problem.__cause__, Conflict):
                continue  # changed since we read it: look again (maybe an operation started)
            raise
        return operation, requested_at, before
    raise UsageProblem(f"application '{name}' kept changing while the operation was "
                       "requested; try again")


def _await(session: Session, name: str, requested_at: datetime, before: view.OperationMark,
           limit: float, timeout: str) -> None:
    """Poll until our operation is final; print its result; exit 1 unless Succeeded."""
    started = time.monotonic()
    app: Obj = {}
    shown = ""
    while True:
        app = _poll(session, name, app)
        state = view.ours(app, requested_at=requested_at, before=before) or {}
        phase = view.operation_phase(app) if state else None
        message = state.get("message") or "no message"
        if phase is not None and phase.completed:
            click.echo(view.render_operation(app, state))
            if phase is OperationPhase.SUCCEEDED:
                return
            raise UsageProblem(f"sync of application '{name}' {phase}: {message}")
        if phase is not None and f"{phase}: {message}" != shown:
            shown = f"{phase}: {message}"
            click.echo(shown)
        if limit and time.monotonic() - started >= limit:
            last = (shown if phase
                    else "not picked up by a controller yet, the request stays in .operation;"
                         " is `rollouts controller` running?")
            raise UsageProblem(f"timed out after {timeout} waiting for the sync of application "
                               f"'{name}' (last: {last})")
        time.sleep(POLL_SECONDS)


def _requested(name: str, operation: Obj, what: str = "sync") -> str:
    revisions = operation["sync"].get("revisions")
    revision = ", ".join(revisions) if revisions else operation["sync"].get("revision")
    return f"{what} of application '{name}' requested" + (f" (revision {revision})"
                                                           if revision else "")


# --- diff --------------------------------------------------------------------------------

def _parse(app: Obj) -> Application:
    """The typed Application (spec only: status and operation are not ours to judge)."""
    name = app["metadata"]["name"]
    try:
        parsed = parse_object({k: app[k] for k in ("apiVersion", "kind", "metadata", "spec")
                               if k in app})
    except SpecError as error:
        raise UsageProblem(f"application '{name}' is invalid: {error}") from None
    if not isinstance(parsed, Application) or not sources_of(parsed):
        raise UsageProblem(f"application '{name}' has neither spec.source nor spec.sources")
    return parsed


def _destination(session: Session, app: Application) -> Session:
    """A session on the cluster `app` deploys to: this one, or a cluster registered by a
    Secret in the app's (control) namespace, resolved as the controller resolves it."""
    from reconciler.clusters import (
        CLUSTER_SECRET_SELECTOR,
        DestinationError,
        read_clusters,
        resolve_destination,
    )
    from reconciler.clusters.connections import client_for

    destination = app.spec.destination
    if destination.is_in_cluster:
        return session
    with session.calling("list", "cluster secrets"):
        secrets = session.client.list(SECRET, session.namespace,
                                      label_selector=CLUSTER_SECRET_SELECTOR).items
    clusters, problems = read_clusters(secrets)
    found = resolve_destination(clusters, server=destination.server, name=destination.name,
                                namespace=destination.namespace, problems=problems)
    if isinstance(found, DestinationError):
        raise UsageProblem(f"application '{app.metadata.name}': {found.message}")
    if found.local:
        return session
    return Session(client_for(found, field_manager=FIELD_MANAGER), session.namespace)


def _live(session: Session, kind: Kind, obj: Obj) -> Obj | None:
    key = resource_key(obj)
    try:
        return session.client.get(kind, key.namespace or None, key.name)
    except NotFound:
        return None


def _list_scope(session: Session, app: Obj, desired: list[Obj], namespace: str
                ) -> tuple[dict[ResourceKey, Obj], set[tuple[str, str, str]]]:
    """Live objects of every (kind, namespace) in `view.search_scope`, by key: one LIST
    each instead of one GET per object; and the (group, kind, namespace) listed (a kind
    not listed, say for RBAC, is read object by object)."""
    kinds, namespaces = view.search_scope(app, desired, namespace)
    found: dict[ResourceKey, Obj] = {}
    listed: set[tuple[str, str, str]] = set()
    for api_version, kind_name in kinds:
        try:
            kind = session.client.discover_kind(api_version, kind_name)
        except KubeError as error:
            if error.temporary:
                raise
            continue  # a kind no longer served: nothing live, nothing to prune there
        for where in namespaces if kind.namespaced else [""]:
            try:
                items = session.client.list(kind, where or None).items
            except KubeError as error:
                if error.temporary:
                    raise
                continue  # not ours to list
            listed.add((kind.group, kind.kind, where))
            for obj in items:
                found[resource_key(obj)] = obj
    return found, listed


def _tracked_live(live: dict[ResourceKey, Obj], name: str, desired: list[Obj]) -> list[Obj]:
    """Live objects this app tracks that left Git (within `view.search_scope`)."""
    in_git = {resource_key(obj) for obj in desired}
    return [obj for key, obj in live.items() if is_tracked_by(obj, name)
            and key not in in_git and not hook_info(obj).is_hook]


def _diff(session: Session, app_obj: Obj, revision: str | None) -> tuple[list[str], str]:
    """The per-object diff blocks (none when in sync) and a one-line summary; problems the
    controller would report as conditions are printed as warnings."""
    app = _parse(app_obj)
    name = str(app.metadata.name)
    try:
        rules = [IgnoreRule.from_api(rule) for rule in app.spec.ignore_differences or []]
    except ValueError as error:
        raise UsageProblem(f"application '{name}' has a bad spec.ignoreDifferences: {error}"
                           ) from None
    objects, where = desired_objects(session, app, revision)
    remote = _destination(session, app)  # compare where the controller would apply
    try:
        blocks, new, changed, pruned = _compare(remote, app_obj, app, objects, rules)
    finally:
        if remote.client is not session.client:  # a registered cluster's: its key file goes
            remote.client.close()
    return blocks, view.diff_summary(name, where, new=new, changed=changed, pruned=pruned)


def _compare(session: Session, app_obj: Obj, app: Application, objects: list[Obj],
             rules: list[IgnoreRule]) -> tuple[list[str], int, int, int]:
    """The diff blocks and the counts (new, changed, pruned) on the destination cluster."""
    name = str(app.metadata.name)
    blocks: list[str] = []
    new = changed = 0
    with session.calling("compare", "the objects of application", name):
        prepared = prepare_desired(session.client, objects, app_name=name,
                                   destination_namespace=app.spec.destination.namespace)
        for kind_of_problem, message in prepared.conditions:
            click.echo(f"warning: {kind_of_problem}: {message}", err=True)
        live, listed = _list_scope(session, app_obj, prepared.objects,
                                   app.spec.destination.namespace or "")

        def one(obj: Obj) -> ObjectDiff | str | None:
            info = hook_info(obj)
            if info.is_hook or info.skip or info.unknown:
                return None  # hooks are run, not kept in sync (as the controller compares)
            key = resource_key(obj)
            kind = prepared.kinds.get(key)
            if kind is None:
                return (f"{view.diff_header(key)}\nerror: the API server serves no kind "
                        f"{obj['kind']} in {obj.get('apiVersion')}")
            where = key.namespace if kind.namespaced else ""
            current = live.get(key) if (kind.group, kind.kind, where) in listed else \
                _live(session, kind, obj)
            return diff_object(session.client, obj, current, field_manager=FIELD_MANAGER,
                               ignore=rules)

        # One server-side dry run per object, DIFF_PARALLEL in flight: the API server
        # answers them concurrently, and the answers come back in Git's order.
        with ThreadPoolExecutor(DIFF_PARALLEL) as pool:
            for result in pool.map(one, prepared.objects):
                if isinstance(result, str):
                    changed += 1
                    blocks.append(result)
                elif result is not None and result.changed:
                    new, changed = (new, changed + 1) if result.live_exists else \
                        (new + 1, changed)
                    blocks.append(view.diff_block(result))
        pruned = _tracked_live(live, name, prepared.objects)
    blocks += [f"{view.diff_header(resource_key(obj))}\n{view.render_pruned(obj)}"
               for obj in pruned]
    return blocks, new, changed, len(pruned)


# --- commands ----------------------------------------------------------------------------

@click.group("app")
def app_group() -> None:
    """Argo CD Applications: list, get, sync, diff, history, rollback, wait."""


@app_group.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="List applications in every namespace.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml", "wide"]),
              help="json/yaml: the objects as a List; wide: more columns.")
@kube_options
def list_apps(all_namespaces: bool, output: str | None, kube: KubeOptions) -> None:
    """List applications: sync and health status, revision, repository, path, target."""
    session = kube.session()
    namespace = None if all_namespaces else session.namespace
    with session.calling("list", "applications", namespace=namespace):
        items = session.client.list(APPLICATION, namespace).items
    if output in ("json", "yaml"):
        dump_object({"apiVersion": "v1", "kind": "List", "items": items}, output)
        return
    if not items:
        where = "any namespace" if all_namespaces else f"namespace '{namespace}'"
        click.echo(f"No applications found in {where}.", err=True)
        return
    click.echo(view.render_list(items, all_namespaces=all_namespaces, wide=output == "wide",
                                now=datetime.now(UTC)))


@app_group.command("get")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]),
              help="Print the Application object instead of the view.")
@click.option("--refresh", is_flag=True, help="Have the controller compare with Git now, "
              "and show the result.")
@click.option("--hard-refresh", is_flag=True, help="As --refresh, and render the source "
              "again instead of using the controller's cached render.")
@kube_options
def get_app(name: str, output: str | None, refresh: bool, hard_refresh: bool,
            kube: KubeOptions) -> None:
    """Show an application: source, destination, sync and health state, last operation,
    conditions, then its resources."""
    session = kube.session()
    if refresh or hard_refresh:
        kind = app_refresh.HARD if hard_refresh else app_refresh.NORMAL
        app = app_refresh.refresh(session, name, kind, lambda: _fetch(session, name))
    else:
        app = _fetch(session, name)
    if output:
        dump_object(app, output)
    else:
        click.echo(view.render_app(app, datetime.now(UTC)))


_TIMEOUT_HELP = "Give up after this long (5m, 90s, 1h; 0 waits forever)."


@app_group.command("sync")
@click.argument("name")
@click.option("--prune", is_flag=True, help="Delete tracked objects that left Git.")
@click.option("--dry-run", is_flag=True, help="Ask the controller to sync without changing "
              "anything.")
@click.option("--revision", metavar="REV", help="Sync this branch, tag or commit instead of "
              f"the target revision ({REVISIONS_HELP}).")
@click.option("--sync-option", "sync_options", multiple=True, metavar="KEY=VALUE",
              help="Sync option for this sync (default: the application's own).")
@click.option("--async", "no_wait", is_flag=True, help="Request the sync and exit at once.")
@click.option("--timeout", default="5m", show_default=True, metavar="DURATION",
              help=_TIMEOUT_HELP)
@kube_options
def sync_app(name: str, prune: bool, dry_run: bool, revision: str | None,
             sync_options: tuple[str, ...], no_wait: bool, timeout: str,
             kube: KubeOptions) -> None:
    """Sync an application (sets its `operation`) and wait for the result.

    Without --revision it goes to the commit the target revision names when the
    controller starts the sync (Git is asked then), so a push just before is deployed.

    \b
    Exit status: 0 Succeeded (or requested, with --async); 1 Failed, Error or timed out.
    """
    limit = _parse_timeout(timeout)
    session = kube.session()

    def build(app: Obj) -> Obj:
        options = list(sync_options) or (((app.get("spec") or {}).get("syncPolicy") or {})
                                          .get("syncOptions") or [])
        sources = (app.get("spec") or {}).get("sources") or []
        revisions = revision_option(revision, name, len(sources)) \
            if revision and sources else None
        return view.sync_operation(revision=revision, prune=prune, dry_run=dry_run,
                                   sync_options=options, revisions=revisions)

    operation, requested_at, before = _request(session, name, build)
    click.echo(_requested(name, operation))
    if not no_wait:
        _await(session, name, requested_at, before, limit, timeout)


@app_group.command("rollback")
@click.argument("name")
@click.argument("history_id", metavar="[ID]", type=int, required=False)
@click.option("--prune", is_flag=True, help="Delete tracked objects not in that revision.")
@click.option("--async", "no_wait", is_flag=True, help="Request the rollback and exit at once.")
@click.option("--timeout", default="5m", show_default=True, metavar="DURATION",
              help=_TIMEOUT_HELP)
@kube_options
def rollback_app(name: str, history_id: int | None, prune: bool, no_wait: bool, timeout: str,
                 kube: KubeOptions) -> None:
    """Sync an application to the revision of a history entry (default: the previous one).

    Refused while automated sync is on. Exit status as for `app sync`.
    """
    limit = _parse_timeout(timeout)
    session = kube.session()

    def build(app: Obj) -> Obj:
        entry = view.rollback_entry(app, history_id)
        revisions = entry.get("revisions")
        return view.sync_operation(revision=str(entry.get("revision") or "") or None,
                                   prune=prune, dry_run=False, sync_options=None,
                                   source=entry.get("source"),
                                   revisions=[str(r) for r in revisions]
                                   if isinstance(revisions, list) else None,
                                   sources=entry.get("sources"))

    operation, requested_at, before = _request(session, name, build)
    click.echo(_requested(name, operation, "rollback"))
    if not no_wait:
        _await(session, name, requested_at, before, limit, timeout)


@app_group.command("history")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]),
              help="Print status.history as it is.")
@kube_options
def history_app(name: str, output: str | None, kube: KubeOptions) -> None:
    """List the deployments recorded in the application's history: ID, DATE, REVISION."""
    app = _fetch(kube.session(), name)
    history = (app.get("status") or {}).get("history") or []
    if output:
        dump_object(history, output)
    elif not history:
        click.echo(f"Application '{name}' has not been synced yet: no history.", err=True)
    else:
        click.echo(view.render_history(app))


@app_group.command("wait")
@click.argument("name")
@click.option("--sync", "want_sync", is_flag=True, help="Wait until Synced.")
@click.option("--health", "want_health", is_flag=True, help="Wait until Healthy.")
@click.option("--operation", "want_operation", is_flag=True,
              help="Wait until no operation is pending or running.")
@click.option("--timeout", default="5m", show_default=True, metavar="DURATION",
              help=_TIMEOUT_HELP)
@kube_options
def wait_app(name: str, want_sync: bool, want_health: bool, want_operation: bool,
             timeout: str, kube: KubeOptions) -> None:
    """Wait until an application is Synced and Healthy (and no operation is running);
    the flags choose a subset. Exit 0 when reached, 1 on timeout."""
    if not (want_sync or want_health or want_operation):
        want_sync = want_health = want_operation = True
    limit = _parse_timeout(timeout)
    session = kube.session()
    started = time.monotonic()
    app = _fetch(session, name)
    shown = ""
    while True:
        line = view.status_line(app)
        if line != shown:
            click.echo(line)
            shown = line
        if view.wait_reached(app, sync=want_sync, health=want_health,
                             operation=want_operation):
            return
        if limit and time.monotonic() - started >= limit:
            goal = " and ".join(what for what, wanted in (
                ("Synced", want_sync), ("Healthy", want_health),
                ("done with its operation", want_operation)) if wanted)
            raise UsageProblem(f"timed out after {timeout} waiting for application '{name}' "
                               f"to be {goal} (last: {shown})")
        time.sleep(POLL_SECONDS)
        app = _poll(session, name, app)


@app_group.command("diff")
@click.argument("name")
@click.option("--revision", metavar="REV", help="Compare this branch, tag or commit instead "
              f"of the target revision ({REVISIONS_HELP}).")
@kube_options
def diff_app(name: str, revision: str | None, kube: KubeOptions) -> None:
    """Show how the live objects differ from Git, computed here (no controller needed).

    \b
    Exit status: 0 no difference; 1 differences; 2 error (application, Git or render).
    """
    try:
        session = kube.session()
        blocks, summary = _diff(session, _fetch(session, name), revision)
    except UsageProblem as problem:
        raise UsageProblem(str(problem), exit_code=DIFF_ERROR) from problem.__cause__
    for block in blocks:
        click.echo(block)
    click.echo(summary, err=True)
    sys.exit(1 if blocks else 0)


app_group.add_command(app_delete.delete_command)


def register(cli: click.Group) -> None:
    """Add the `app` group to `cli`, merging into an `app` group registered first."""
    existing = cli.commands.get(str(app_group.name))
    if isinstance(existing, click.Group) and existing is not app_group:
        for sub_name, sub in app_group.commands.items():
            existing.add_command(sub, sub_name)
    else:
        cli.add_command(app_group)
