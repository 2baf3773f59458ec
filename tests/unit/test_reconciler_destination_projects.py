"""AppProject `destinations` judged against the resolved cluster: an entry naming the
cluster matches an Application that names its server, and the other way round (Argo CD
matches an entry by either), and a rendered object's namespace is judged the same way."""

from __future__ import annotations

import base64
from typing import Any

from reconciler.clusters import Cluster, read_clusters, resolve_destination
from reconciler.project_gate import object_problems, spec_problem
from rollouts.api import Application, AppProject, parse_object
from rollouts.kube import CONFIG_MAP


def _project(*destinations: dict[str, str]) -> AppProject:
    obj = parse_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                        "metadata": {"name": "team", "namespace": "rollouts"},
                        "spec": {"sourceRepos": ["*"], "destinations": list(destinations)}})
    assert isinstance(obj, AppProject)
    return obj


def _app(**destination: str) -> Application:
    obj = parse_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                        "metadata": {"name": "shop", "namespace": "rollouts"},
                        "spec": {"project": "team", "destination": destination,
                                 "source": {"repoURL": "https://git.example/a.git",
                                            "path": "shop"}}})
    assert isinstance(obj, Application)
    return obj


def _staging() -> Cluster:
    secret: dict[str, Any] = {"metadata": {"name": "c-staging"}, "data": {
        "name": base64.b64encode(b"staging").decode(),
        "server": base64.b64encode(b"https://10.0.0.2:6443").decode()}}
    clusters, _ = read_clusters([secret])
    app = _app(server="https://10.0.0.2:6443", namespace="web")
    found = resolve_destination(clusters, server=app.spec.destination.server, name=None)
    assert isinstance(found, Cluster)
    return found


def test_an_entry_by_name_permits_an_app_that_names_the_server() -> None:
    project = _project({"name": "staging", "namespace": "web"})
    app = _app(server="https://10.0.0.2:6443", namespace="web")
    assert spec_problem(project, app, app_namespace="rollouts", control_namespace="rollouts",
                        cluster=_staging()) is None
    # Without the resolved cluster only the spec's spelling is known: refused.
    assert spec_problem(project, app, app_namespace="rollouts",
                        control_namespace="rollouts") is not None


def test_an_entry_by_server_permits_an_app_that_names_the_cluster() -> None:
    project = _project({"server": "https://10.0.0.2:*", "namespace": "*"})
    app = _app(name="staging", namespace="web")
    assert spec_problem(project, app, app_namespace="rollouts", control_namespace="rollouts",
                        cluster=_staging()) is None


def test_another_cluster_is_still_refused_with_the_entry_listed() -> None:
    project = _project({"name": "prod", "namespace": "*"})
    refusal = spec_problem(project, _app(name="staging", namespace="web"),
                           app_namespace="rollouts", control_namespace="rollouts",
                           cluster=_staging())
    assert refusal is not None and "https://10.0.0.2:6443" in refusal and "name=prod" in refusal


def test_rendered_objects_are_judged_on_the_resolved_cluster() -> None:
    project = _project({"name": "staging", "namespace": "web"})
    app = _app(server="https://10.0.0.2:6443", namespace="web")
    allowed = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "a", "namespace": "web"}}
    elsewhere = {**allowed, "metadata": {"name": "b", "namespace": "kube-system"}}
    problems = object_problems(project, app, [(allowed, CONFIG_MAP), (elsewhere, CONFIG_MAP)],
                               cluster=_staging())
    assert len(problems) == 1 and "kube-system" in problems[0]


def test_a_cluster_limited_to_namespaces_refuses_other_objects() -> None:
    secret: dict[str, Any] = {"metadata": {"name": "c-team"}, "data": {
        "name": base64.b64encode(b"team").decode(),
        "server": base64.b64encode(b"https://10.0.0.3:6443").decode(),
        "namespaces": base64.b64encode(b"web").decode()}}
    clusters, _ = read_clusters([secret])
    team = clusters[1]
    project = _project({"server": "*", "namespace": "*"})
    app = _app(name="team", namespace="web")
    inside = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "a", "namespace": "web"}}
    outside = {**inside, "metadata": {"name": "b", "namespace": "db"}}
    problems = object_problems(project, app, [(inside, CONFIG_MAP), (outside, CONFIG_MAP)],
                               cluster=team)
    assert len(problems) == 1 and "namespace 'db' is not managed by cluster 'team'" in \
        problems[0]
