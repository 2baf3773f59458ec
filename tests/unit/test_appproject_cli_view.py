"""`rollouts proj list|get` views, from AppProject objects as the API server returns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from rollouts.cli.proj_cmds import render_list, render_project
from tests.unit.test_appproject_api import ARGO_PROJECT


def argo_project() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ARGO_PROJECT)
    return doc


DEFAULT = {"metadata": {"name": "default", "namespace": "argocd"},
           "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}}


def test_list_shows_repositories_and_destinations_sorted_by_name() -> None:
    lines = render_list([argo_project(), DEFAULT], all_namespaces=False).splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "SOURCE-REPOS", "DESTINATIONS"]
    assert lines[1].split() == ["default", "-", "*", "*,*"]
    assert lines[2].startswith("my-project")
    assert "https://kubernetes.default.svc,guestbook; https://kubernetes.default.svc," \
           "guestbook-*" in lines[2]


def test_list_with_all_namespaces_starts_with_the_namespace() -> None:
    lines = render_list([DEFAULT], all_namespaces=True).splitlines()
    assert lines[0].split()[0] == "NAMESPACE" and lines[1].split()[:2] == ["argocd", "default"]


def test_get_shows_every_rule_and_which_windows_are_open_now() -> None:
    # 20:30Z is 22:30 in Amsterdam (UTC+2 in May): the nightly deny window is open.
    view = render_project(argo_project(), datetime(2024, 5, 1, 20, 30, tzinfo=UTC))
    assert "Source Repos:         *" in view
    assert "server=https://kubernetes.default.svc namespace=guestbook-*" in view
    assert "Source Namespaces:    team-*" in view
    assert "Cluster Resources:    allow Namespace" in view
    assert "deny Namespace (kube-*)" in view
    assert "Namespaced Resources: allow apps/Deployment" in view
    assert "Orphaned Resources:   monitored, no warning; ignore ConfigMap (*-config)" in view
    windows = view.split("Sync Windows:")[1].splitlines()
    assert windows[2].split()[:2] == ["0", "allow"]
    assert windows[2].endswith("closed, opens 2024-05-02T01:10:00Z")
    assert windows[3].endswith("open until 2024-05-01T21:00:00Z")
    assert "Problems:" not in view


def test_get_of_a_project_that_permits_nothing_says_so() -> None:
    view = render_project({"metadata": {"name": "empty", "namespace": "argocd"}, "spec": {}},
                          datetime(2024, 5, 1, tzinfo=UTC))
    assert "Source Repos:         none (no repository is permitted)" in view
    assert "Cluster Resources:    none allowed (clusterResourceWhitelist is empty)" in view
    assert "Namespaced Resources: all allowed" in view
    assert "Sync Windows:         none (syncs allowed at any time)" in view


def test_get_of_a_broken_project_lists_its_problems_and_still_shows_it() -> None:
    project = argo_project()
    project["spec"]["syncWindows"][1]["schedule"] = "0 22 * * 7"
    view = render_project(project, datetime(2024, 5, 1, 20, 30, tzinfo=UTC))
    assert "error: schedule: day of week" in view
    assert "Problems:" in view and "error: spec.syncWindows[1].schedule" in view
