"""`DiffCache.seed`: the compare right after a sync asks no dry run of what it applied.

A fake client counts dry runs; its live objects carry no managedFields, so the settled
check of `reconciler.diff_settled` never applies and only the seed can save a dry run.
"""

from __future__ import annotations

import copy
from typing import Any

from reconciler.compare import DiffCache
from reconciler.diff import IgnoreRule, apply_body
from rollouts.kube import Kind

SERVICE = Kind(group="", version="v1", kind="Service", plural="services", namespaced=True)


class Client:
    def __init__(self) -> None:
        self.dry_runs = 0

    def discover_kind(self, api_version: str, kind: str) -> Kind:
        return SERVICE

    def apply(self, kind: Kind, namespace: str | None, body: dict[str, Any],
              field_manager: str, force: bool = True, dry_run: bool = False) -> dict[str, Any]:
        assert dry_run
        self.dry_runs += 1
        return {**copy.deepcopy(body), "status": {}}


def desired() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}


def written(**spec: Any) -> dict[str, Any]:
    obj = apply_body(desired())
    obj["metadata"].update(resourceVersion="5", uid="u")
    obj["spec"].update(clusterIP="None", **spec)
    return obj


def cache() -> tuple[DiffCache, Client]:
    client = Client()
    return DiffCache(client, "rollouts-reconciler"), client  # type: ignore[arg-type]


def test_a_seeded_object_unchanged_since_needs_no_dry_run() -> None:
    diffs, client = cache()
    diffs.seed("shop/app", desired(), apply_body(desired()), written())
    live = written()
    live["metadata"]["resourceVersion"] = "6"  # the watch's copy: a later version only
    result = diffs.diff("shop/app", desired(), live, [IgnoreRule(
        kind="Service", json_pointers=("/spec/selector",))])
    assert not result.changed and result.live_exists
    assert client.dry_runs == 0 and diffs.seeded == 1


def test_a_change_since_the_apply_asks_the_dry_run() -> None:
    diffs, client = cache()
    diffs.seed("shop/app", desired(), apply_body(desired()), written())
    diffs.diff("shop/app", desired(), written(selector={"app": "other"}), [])
    assert client.dry_runs == 1
    changed = desired()
    changed["spec"]["ports"][0]["port"] = 81  # Git changed: not the desired object seeded
    diffs.diff("shop/app", changed, written(), [])
    assert client.dry_runs == 2


def test_a_body_without_foreign_fields_is_not_seeded() -> None:
    diffs, client = cache()
    body = apply_body(desired())
    del body["spec"]["selector"]  # left to another controller: the dry run must judge it
    diffs.seed("shop/app", desired(), body, written())
    diffs.diff("shop/app", desired(), written(), [])
    assert client.dry_runs == 1 and diffs.seeded == 0


def test_seeds_are_per_application() -> None:
    diffs, client = cache()
    diffs.seed("shop/app", desired(), apply_body(desired()), written())
    diffs.diff("shop/other", desired(), written(), [])
    assert client.dry_runs == 1
