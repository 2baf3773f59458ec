"""Orphaned objects with Argo CD's rules, on live objects given as plain dicts."""

from __future__ import annotations

from typing import Any

from reconciler.projects import ORPHANED_CONDITION, orphan_warning, orphaned_objects
from reconciler.tracking import ResourceKey
from rollouts.api import AppProject, parse_object


def project(**spec: Any) -> AppProject:
    obj = parse_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                        "metadata": {"name": "team-a"},
                        "spec": {"destinations": [{"server": "*", "namespace": "*"}], **spec}})
    assert isinstance(obj, AppProject)
    return obj


def live(kind: str, name: str, *, api: str = "v1", namespace: str = "shop",
         owned: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if owned:
        metadata["ownerReferences"] = [{"kind": "ReplicaSet", "name": "x", "uid": "1"}]
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


TRACKED = {ResourceKey("apps", "Deployment", "shop", "web")}
LIVE = [
    live("Deployment", "web", api="apps/v1"),        # tracked
    live("ConfigMap", "debug"),                      # orphaned
    live("Pod", "web-abc", owned=True),              # owned: not top-level
    live("ServiceAccount", "default"),               # every namespace has it
    live("ConfigMap", "kube-root-ca.crt"),           # every namespace has it
    live("Secret", "cert-manager-tls"),              # orphaned unless ignored
]


def test_without_orphaned_resources_nothing_is_monitored() -> None:
    assert orphaned_objects(project(), tracked_or_desired_keys=TRACKED, live_objects=LIVE) == []


def test_untracked_top_level_objects_are_orphaned() -> None:
    found = orphaned_objects(project(orphanedResources={}), tracked_or_desired_keys=TRACKED,
                             live_objects=LIVE)
    assert found == [ResourceKey("", "ConfigMap", "shop", "debug"),
                     ResourceKey("", "Secret", "shop", "cert-manager-tls")]


def test_ignore_entries_match_group_kind_and_name_globs() -> None:
    proj = project(orphanedResources={"ignore": [{"kind": "Secret", "name": "cert-*"}]})
    found = orphaned_objects(proj, tracked_or_desired_keys=TRACKED, live_objects=LIVE)
    assert found == [ResourceKey("", "ConfigMap", "shop", "debug")]


def test_an_ignore_entry_without_kind_or_name_matches_the_whole_group() -> None:
    proj = project(orphanedResources={"ignore": [{"group": ""}]})
    assert orphaned_objects(proj, tracked_or_desired_keys=TRACKED, live_objects=LIVE) == []


def test_kinds_and_namespaces_the_project_forbids_are_not_the_tenant_s_orphans() -> None:
    proj = project(orphanedResources={}, namespaceResourceBlacklist=[{"group": "",
                                                                       "kind": "Secret"}])
    found = orphaned_objects(proj, tracked_or_desired_keys=TRACKED, live_objects=LIVE)
    assert found == [ResourceKey("", "ConfigMap", "shop", "debug")]
    elsewhere = project(orphanedResources={}, destinations=[{"server": "*", "namespace": "web"}])
    assert orphaned_objects(elsewhere, tracked_or_desired_keys=TRACKED, live_objects=LIVE) == []


def test_the_warning_is_on_by_default_and_off_with_warn_false() -> None:
    orphans = [ResourceKey("", "ConfigMap", "shop", "debug")]
    message = orphan_warning(project(orphanedResources={}), orphans)
    assert message == "1 orphaned object(s) in the namespace: ConfigMap shop/debug"
    assert orphan_warning(project(orphanedResources={"warn": False}), orphans) is None
    assert orphan_warning(project(orphanedResources={}), []) is None
    assert ORPHANED_CONDITION == "OrphanedResourceWarning"
