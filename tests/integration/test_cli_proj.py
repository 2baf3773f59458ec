"""AppProjects on the real API server: the CRD takes Argo CD's manifests, `rollouts proj`
lists and shows them.

The project is Argo CD's documented example (every field of the spec), applied with
kubectl's strict field validation, so an Argo field missing from our schema fails here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from reconciler.projects import default_project
from tests.integration.support import rollouts_cli
from tests.unit.test_appproject_api import ARGO_PROJECT

if TYPE_CHECKING:
    from tests.conftest import TestCluster

pytestmark = pytest.mark.integration


def argo_project(namespace: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ARGO_PROJECT)
    doc["metadata"]["namespace"] = namespace
    # Argo CD's finalizer would wait forever for Argo CD's API server to remove it.
    del doc["metadata"]["finalizers"]
    doc["spec"]["roles"] = [{"name": "ci", "description": "CI pipeline",
                             "policies": ["p, proj:my-project:ci, applications, sync, "
                                          "my-project/*, allow"],
                             "groups": ["acme:ci"]}]
    doc["spec"]["signatureKeys"] = [{"keyID": "4AEE18F83AFDEB23"}]
    return doc


def apply(cluster: TestCluster, obj: dict[str, Any]) -> None:
    cluster.kubectl_run("apply", "--server-side", "--field-manager=test", "-f", "-",
                        input=json.dumps(obj))


def proj(cluster: TestCluster, namespace: str, *args: str) -> str:
    result = rollouts_cli(cluster, "proj", *args, "-n", namespace)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def test_argo_cd_projects_are_stored_listed_and_shown(cluster: TestCluster,
                                                      namespace: str) -> None:
    apply(cluster, argo_project(namespace))
    apply(cluster, default_project(namespace))

    stored = json.loads(cluster.kubectl_run(
        "get", "appproj", "my-project", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"] == argo_project(namespace)["spec"]  # nothing pruned by the schema

    lines = proj(cluster, namespace, "list").splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "SOURCE-REPOS", "DESTINATIONS"]
    assert lines[1].split() == ["default", "-", "*", "*,*"]
    assert lines[2].startswith("my-project") and "Example Project" in lines[2]

    view = proj(cluster, namespace, "get", "my-project")
    assert "Destinations:         server=https://kubernetes.default.svc name=in-cluster " \
           "namespace=guestbook" in view
    windows = view.split("Sync Windows:")[1].splitlines()
    assert windows[2].split()[:3] == ["0", "allow", "10"]
    assert ("open until" in windows[3]) or ("closed, opens" in windows[3])
    assert "  warning: spec.roles: not supported yet" in view

    as_yaml = yaml.safe_load(proj(cluster, namespace, "get", "my-project", "-o", "yaml"))
    assert as_yaml["spec"]["syncWindows"] == argo_project(namespace)["spec"]["syncWindows"]
    listed = json.loads(proj(cluster, namespace, "list", "-o", "json"))
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == [
        "default", "my-project"]


def test_all_namespaces_lists_the_namespace_first(cluster: TestCluster, namespace: str) -> None:
    apply(cluster, default_project(namespace))
    result = rollouts_cli(cluster, "proj", "list", "-A")
    assert result.returncode == 0, result.stderr
    assert any(line.split()[:2] == [namespace, "default"]
               for line in result.stdout.splitlines())


def test_a_missing_project_is_one_line_saying_where_to_look(cluster: TestCluster,
                                                           namespace: str) -> None:
    result = rollouts_cli(cluster, "proj", "get", "nope", "-n", namespace)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: appproject 'nope' not found in namespace '{namespace}'; list them with "
        f"`rollouts proj list -n {namespace}` (projects live in the controller's namespace)"]


def test_the_schema_refuses_a_wrongly_typed_field_naming_it(cluster: TestCluster,
                                                          namespace: str) -> None:
    bad = default_project(namespace)
    bad["metadata"]["name"] = "bad"
    bad["spec"]["sourceRepos"] = "https://github.com/acme/*"  # a string, not a list
    result = cluster.kubectl_run("apply", "--server-side", "--field-manager=test", "-f", "-",
                                 input=json.dumps(bad), check=False)
    assert result.returncode != 0 and "spec.sourceRepos" in result.stderr
