"""`rollouts proj list|get`: read AppProjects, and show what each permits and when.

`list` prints one row per project (NAME, DESCRIPTION, SOURCE-REPOS, DESTINATIONS; with
`-A` the NAMESPACE first); `get` prints one project: its repositories, destinations,
source namespaces, resource white/blacklists, orphaned-resource monitoring and sync
windows, each window with whether it is open now (computed by `reconciler.projects`, the
rules the controller applies). Both take `-o json|yaml` for the objects themselves.
AppProjects live in the controller's control namespace (`argocd` in an Argo CD install);
like every command, `-n` defaults to the kubeconfig context's namespace.

Neighbours: `kubeopts` (cluster options, one-line errors), `output.dump_object`,
`reconciler.projects.window_states`. The rendering functions are pure (`now` passed in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from reconciler.projects import WindowState, window_states
from rollouts.api import AppProject, check_object
from rollouts.cli.errors import UsageProblem
from rollouts.cli.kubeopts import KubeOptions, Session, kube_options
from rollouts.cli.output import dump_object
from rollouts.kube import APP_PROJECT, NotFound

__all__ = ["proj_group", "register", "render_list", "render_project"]

Obj = dict[str, Any]
_SHOWN_IN_LIST = 2  # repositories / destinations shown in a `list` cell before "+N"
_LABEL_WIDTH = 22


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows]


def _spec(project: Obj) -> Obj:
    spec = project.get("spec")
    return spec if isinstance(spec, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _destination(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    cluster = item.get("server") or item.get("name") or "-"
    return f"{cluster},{item.get('namespace') or '-'}"


def _cell(values: list[str]) -> str:
    if not values:
        return "-"
    shown = "; ".join(values[:_SHOWN_IN_LIST])
    rest = len(values) - _SHOWN_IN_LIST
    return f"{shown} (+{rest})" if rest > 0 else shown


def render_list(projects: list[Obj], *, all_namespaces: bool) -> str:
    """NAME DESCRIPTION SOURCE-REPOS DESTINATIONS (NAMESPACE first with -A)."""
    head = ["NAME", "DESCRIPTION", "SOURCE-REPOS", "DESTINATIONS"]
    if all_namespaces:
        head.insert(0, "NAMESPACE")
    rows: list[tuple[str, ...]] = [tuple(head)]
    for project in sorted(projects, key=lambda p: (str(p["metadata"].get("namespace")),
                                                   str(p["metadata"].get("name")))):
        spec = _spec(project)
        cells = [str(project["metadata"].get("name")), str(spec.get("description") or "-"),
                 _cell(_strings(spec.get("sourceRepos"))),
                 _cell([_destination(d) for d in spec.get("destinations") or []])]
        if all_namespaces:
            cells.insert(0, str(project["metadata"].get("namespace") or ""))
        rows.append(tuple(cells))
    return "\n".join(_table(rows))


def _kinds(items: Any) -> str:
    texts = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        group, kind, name = item.get("group") or "", item.get("kind") or "", item.get("name")
        text = f"{group}/{kind}" if group else kind
        texts.append(f"{text} ({name})" if name else text)
    return ", ".join(texts)


def _resource_lines(spec: Obj) -> list[tuple[str, str]]:
    cluster_white = spec.get("clusterResourceWhitelist")
    namespace_white = spec.get("namespaceResourceWhitelist")
    return [
        ("Cluster Resources", f"allow {_kinds(cluster_white)}" if cluster_white
         else "none allowed (clusterResourceWhitelist is empty)"),
        ("", f"deny {_kinds(spec.get('clusterResourceBlacklist'))}"
         if spec.get("clusterResourceBlacklist") else ""),
        ("Namespaced Resources", "all allowed" if namespace_white is None
         else (f"allow {_kinds(namespace_white)}" if namespace_white else "none allowed")),
        ("", f"deny {_kinds(spec.get('namespaceResourceBlacklist'))}"
         if spec.get("namespaceResourceBlacklist") else ""),
    ]


def _orphaned(spec: Obj) -> str:
    settings = spec.get("orphanedResources")
    if not isinstance(settings, dict):
        return "not monitored"
    warn = settings.get("warn")
    text = "monitored, " + ("no warning" if warn is False else "warning condition")
    ignored = _kinds(settings.get("ignore"))
    return f"{text}; ignore {ignored}" if ignored else text


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "never"


def _window_now(state: WindowState) -> str:
    if state.error:
        return f"error: {state.error}"
    if state.active:
        return f"open until {_when(state.closes_at)}"
    return f"closed, opens {_when(state.next_opens_at)}"


def _window_rows(project: Obj, now: datetime) -> list[str]:
    windows = _spec(project).get("syncWindows") or []
    if not windows:
        return ["Sync Windows:         none (syncs allowed at any time)"]
    try:
        model = AppProject.model_validate(project, by_alias=True, by_name=False)
        states: list[WindowState] | None = window_states(model, now)
    except ValueError:
        states = None
    rows: list[tuple[str, ...]] = [("#", "KIND", "SCHEDULE", "DURATION", "TIME ZONE",
                                    "APPLICATIONS", "NAMESPACES", "CLUSTERS", "MANUAL",
                                    "NOW")]
    for index, window in enumerate(windows):
        window = window if isinstance(window, dict) else {}
        now_text = _window_now(states[index]) if states is not None else "-"
        rows.append((str(index), str(window.get("kind") or "-"),
                     str(window.get("schedule") or "-"), str(window.get("duration") or "-"),
                     str(window.get("timeZone") or "UTC"),
                     ",".join(_strings(window.get("applications"))) or "-",
                     ",".join(_strings(window.get("namespaces"))) or "-",
                     ",".join(_strings(window.get("clusters"))) or "-",
                     "yes" if window.get("manualSync") else "no", now_text))
    return ["Sync Windows:", *("  " + line for line in _table(rows))]


def render_project(project: Obj, now: datetime) -> str:
    """A readable view of one AppProject; windows say whether they are open at `now`."""
    spec = _spec(project)
    metadata = project.get("metadata") or {}
    source_namespaces = _strings(spec.get("sourceNamespaces"))
    pairs: list[tuple[str, str]] = [
        ("Name", str(metadata.get("name") or "")),
        ("Namespace", str(metadata.get("namespace") or "")),
        ("Description", str(spec.get("description") or "-")),
    ]
    repos = _strings(spec.get("sourceRepos"))
    pairs += _multi("Source Repos", repos, "none (no repository is permitted)")
    destinations = [" ".join(f"{key}={item[key]}" for key in ("server", "name", "namespace")
                             if key in item)
                    for item in spec.get("destinations") or [] if isinstance(item, dict)]
    pairs += _multi("Destinations", destinations, "none (no destination is permitted)")
    pairs += _multi("Source Namespaces", source_namespaces,
                    "none (only Applications in the project's namespace)")
    pairs += [pair for pair in _resource_lines(spec) if pair[1]]
    pairs.append(("Orphaned Resources", _orphaned(spec)))
    lines = [f"{label + ':' if label else '':<{_LABEL_WIDTH}}{value}".rstrip()
             for label, value in pairs]
    lines += _window_rows(project, now)
    problems = [f"{problem.severity}: {problem}"
                for problem in check_object(_without_status(project)).problems]
    if problems:
        lines.append("Problems:")
        lines += [f"  {problem}" for problem in problems]
    return "\n".join(lines)


def _multi(label: str, values: list[str], empty: str) -> list[tuple[str, str]]:
    if not values:
        return [(label, empty)]
    return [(label if index == 0 else "", value) for index, value in enumerate(values)]


def _without_status(project: Obj) -> Obj:
    return {key: value for key, value in project.items() if key != "status"}


def _fetch(session: Session, name: str) -> Obj:
    try:
        with session.calling("get", "appproject", name):
            return session.client.get(APP_PROJECT, session.namespace, name)
    except UsageProblem as problem:
        if isinstance(problem.__cause__, NotFound):
            raise UsageProblem(
                f"appproject '{name}' not found in namespace '{session.namespace}'; list "
                f"them with `rollouts proj list -n {session.namespace}` (projects live in "
                "the controller's namespace)") from None
        raise


@click.group("proj")
def proj_group() -> None:
    """Argo CD AppProjects: what Applications may use, where they deploy, when they sync."""


@proj_group.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="List projects in every namespace.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]),
              help="Print the objects as a List instead of the table.")
@kube_options
def list_projects(all_namespaces: bool, output: str | None, kube: KubeOptions) -> None:
    """List projects: description, source repositories, destinations."""
    session = kube.session()
    namespace = None if all_namespaces else session.namespace
    with session.calling("list", "appprojects", namespace=namespace):
        items = session.client.list(APP_PROJECT, namespace).items
    if output:
        dump_object({"apiVersion": "v1", "kind": "List", "items": items}, output)
        return
    if not items:
        where = "any namespace" if all_namespaces else f"namespace '{namespace}'"
        click.echo(f"No projects found in {where}.", err=True)
        return
    click.echo(render_list(items, all_namespaces=all_namespaces))


@proj_group.command("get")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]),
              help="Print the AppProject object instead of the view.")
@kube_options
def get_project(name: str, output: str | None, kube: KubeOptions) -> None:
    """Show a project: repositories, destinations, source namespaces, resource lists,
    orphaned-resource monitoring, and sync windows with whether each is open now."""
    project = _fetch(kube.session(), name)
    if output:
        dump_object(project, output)
    else:
        click.echo(render_project(project, datetime.now(UTC)))


def register(cli: click.Group) -> None:
    """Add the `proj` group to `cli`."""
    cli.add_command(proj_group)
