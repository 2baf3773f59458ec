"""The project check of every Application: before any Git access, and on every rendered object.

DESIGN.md makes projects the reconciler's security boundary, and this module is where the
controller asks them (the rules themselves are `reconciler.projects`, pure):

1. `spec_problem`, before the source is fetched or rendered: the project exists (in the
   control namespace, where AppProjects live), the Application's namespace is one of its
   `sourceNamespaces` (unless it is the control namespace), `repoURL` is one of its
   `sourceRepos`, the destination one of its `destinations`;
2. `object_problems`, after rendering and before anything is diffed or applied: every
   object's kind against the cluster- or namespace-scoped white/blacklists, and every
   namespaced object's own namespace against `destinations` (a rendered object may name
   any namespace; the destination's is only the default). One refusal fails the whole
   sync: nothing is sent to the API server, not even a dry run;
3. `window_problem`, before a sync starts: the project's sync windows.

`ProjectGate` reads AppProjects from an informer on the control namespace. Neighbours:
`reconciler.controller` and `reconciler.operation_runner` call it; `reconciler.tenancy`
decides which namespaces are served at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from reconciler.clusters import Cluster, scope_problem
from reconciler.multisource import sources_of
from reconciler.projects import (
    check_destination,
    check_resource,
    check_source_namespace,
    check_source_repo,
    sync_window_verdict,
)
from reconciler.tracking import resource_key
from rollouts.api import Application, AppProject, check_object
from rollouts.kube import APP_PROJECT, Informer, Kind, KubeClient

__all__ = ["InvalidProject", "ProjectGate", "object_problems", "spec_problem",
           "window_problem"]

Obj = dict[str, Any]


def _project_name(app: Application) -> str:
    return app.spec.project or "default"


class InvalidProject(NamedTuple):
    """A project that exists but does not parse: every Application of it is refused."""

    message: str


def _cluster_names(app: Application, cluster: Cluster | None) -> tuple[str | None, str | None]:
    """(server, name) the project's `destinations` are matched against: both of the
    resolved cluster (Argo CD matches an entry by either), else what the spec says."""
    if cluster is not None:
        return cluster.server, cluster.name
    destination = app.spec.destination
    return destination.server, destination.name


def spec_problem(project: AppProject | InvalidProject | None, app: Application, *,
                 app_namespace: str, control_namespace: str,
                 cluster: Cluster | None = None) -> str | None:
    """None when `app` may be fetched and rendered under its project, else why not.
    `cluster` is the destination's resolved cluster."""
    name = _project_name(app)
    if project is None:
        return (f"spec.project: AppProject {name!r} does not exist in namespace "
                f"{control_namespace!r}; create it or use an existing project")
    if isinstance(project, InvalidProject):
        return project.message
    problem = check_source_namespace(project, app_namespace=app_namespace,
                                     control_namespace=control_namespace)
    if problem is not None:
        return problem
    for index, source in enumerate(sources_of(app)):  # every source of a multi-source app
        problem = check_source_repo(project, source.repo_url or "")
        if problem is not None:
            return f"spec.sources[{index}]: {problem}" if app.spec.sources else problem
    server, cluster_name = _cluster_names(app, cluster)
    return check_destination(project, server=server, name=cluster_name,
                             namespace=app.spec.destination.namespace or "")


def object_problems(project: AppProject, app: Application,
                    objects: Iterable[tuple[Obj, Kind | None]], *,
                    cluster: Cluster | None = None) -> list[str]:
    """Why rendered objects may not be applied under the project (empty when all may)."""
    server, name = _cluster_names(app, cluster)
    problems = []
    for obj, kind in objects:
        key = resource_key(obj)
        namespaced = kind.namespaced if kind is not None else bool(key.namespace)
        problem = check_resource(project, group=key.group, kind=key.kind, namespaced=namespaced)
        if problem is None and namespaced:
            problem = check_destination(project, server=server, name=name,
                                        namespace=key.namespace)
        if problem is None and cluster is not None:
            problem = scope_problem(cluster, namespace=key.namespace, namespaced=namespaced)
        if problem is not None:
            problems.append(f"{key}: {problem}")
    return problems


def window_problem(project: AppProject, app: Application, *, app_name: str, now: datetime,
                   manual: bool) -> str | None:
    """None when a sync may start now, else the window that blocks it."""
    destination = app.spec.destination
    cluster = destination.server or destination.name or ""
    return sync_window_verdict(project, app=app_name, namespace=destination.namespace or "",
                               cluster=cluster, now=now, manual=manual)


class ProjectGate:
    """AppProjects of the control namespace, read from a watch, parsed once per version."""

    def __init__(self, client: KubeClient, control_namespace: str) -> None:
        self.control_namespace = control_namespace
        self.informer = Informer(client, APP_PROJECT, control_namespace)
        self._parsed: dict[str, tuple[str, AppProject | InvalidProject]] = {}

    def project(self, app: Application) -> AppProject | None:
        """The Application's project when it exists and is valid, else None."""
        found = self.lookup(app)
        return found if isinstance(found, AppProject) else None

    def lookup(self, app: Application) -> AppProject | InvalidProject | None:
        """The Application's project; None when it does not exist, `InvalidProject` (with
        the first lint error) when it does not parse."""
        raw = self.informer.get(self.control_namespace, _project_name(app))
        if raw is None:
            return None
        version = str((raw.get("metadata") or {}).get("resourceVersion") or "")
        name = str(raw["metadata"]["name"])
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        result = check_object({k: v for k, v in raw.items() if k != "status"})
        model: AppProject | InvalidProject
        if isinstance(result.obj, AppProject) and not result.errors:
            model = result.obj
        else:
            first = result.errors[0] if result.errors else "not an AppProject"
            model = InvalidProject(f"AppProject {name!r} is invalid ({first}); fix it "
                                   "(`rollouts lint`) before its Applications can sync")
        self._parsed[name] = (version, model)
        return model
