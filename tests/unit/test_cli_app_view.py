"""What the CLI shows of an Application (rollouts.cli.app_view): pure text from literals."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from reconciler.diff import ObjectDiff
from reconciler.tracking import ResourceKey
from rollouts.cli.app_view import (
    diff_block,
    diff_header,
    diff_summary,
    render_app,
    render_history,
    render_list,
    render_operation,
    render_pruned,
    short_revision,
    status_line,
    sync_policy_text,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SHA = "5f3c2a1e9b7d4c6a8e0f1b2d3c4e5f6a7b8c9d0e"

APP: dict[str, Any] = {
    "metadata": {"name": "guestbook", "namespace": "apps",
                 "creationTimestamp": "2026-01-01T10:00:00Z"},
    "spec": {
        "project": "default",
        "source": {"repoURL": "https://robot:s3cr3t-token@git.example.com/shop.git",
                   "path": "web", "targetRevision": "main"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
    },
    "status": {
        "sync": {"status": "OutOfSync", "revision": SHA},
        "health": {"status": "Progressing", "message": "waiting for the rollout"},
        "resources": [
            {"version": "v1", "kind": "Service", "namespace": "shop", "name": "web",
             "status": "Synced", "health": {"status": "Healthy"}},
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop",
             "name": "web", "status": "OutOfSync", "health": {"status": "Progressing"}},
        ],
        "operationState": {
            "phase": "Failed", "message": "one or more objects failed to apply",
            "startedAt": "2026-01-01T11:58:00Z", "finishedAt": "2026-01-01T11:58:04Z",
            "operation": {"sync": {"revision": SHA}},
            "syncResult": {"revision": SHA, "resources": [
                {"version": "v1", "kind": "Service", "namespace": "shop", "name": "web",
                 "status": "Synced", "message": "service/web configured"},
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop",
                 "name": "web", "status": "SyncFailed", "hookType": "",
                 "message": 'Deployment.apps "web" is invalid: image: Required value'},
            ]},
        },
        "conditions": [{"type": "SyncError", "message": "Failed sync attempt"}],
        "history": [
            {"id": 2, "revision": "2" * 40, "deployedAt": "2026-01-01T10:00:00Z"},
            {"id": 1, "revision": "1" * 40, "deployedAt": "2026-01-01T09:00:00Z",
             "source": {"targetRevision": "main"}},
        ],
    },
}


def app_with(**status: Any) -> dict[str, Any]:
    changed = copy.deepcopy(APP)
    changed["status"] = status
    return changed


class TestSmallPieces:
    def test_a_commit_sha_is_cut_to_seven_characters_other_revisions_are_kept(self) -> None:
        assert short_revision(SHA) == "5f3c2a1"
        assert short_revision("main") == "main"
        assert short_revision(None) == ""

    def test_sync_policy_names_its_switches(self) -> None:
        assert sync_policy_text(APP) == "Automated (Prune, SelfHeal)"
        manual = copy.deepcopy(APP)
        del manual["spec"]["syncPolicy"]
        assert sync_policy_text(manual) == "Manual"
        manual["spec"]["syncPolicy"] = {"automated": {}}
        assert sync_policy_text(manual) == "Automated"

    def test_status_line_for_wait(self) -> None:
        assert status_line(APP) == ("sync OutOfSync from main (5f3c2a1), health Progressing "
                                    "(waiting for the rollout), operation Failed")
        synced = app_with(sync={"status": "Synced", "revision": SHA},
                          health={"status": "Healthy"})
        assert status_line(synced) == "sync Synced to main (5f3c2a1), health Healthy"
        assert status_line({"metadata": {}, "operation": {"sync": {}}}) == (
            "sync Unknown, health Unknown, operation requested")


class TestList:
    def test_columns_with_the_repository_redacted_and_the_revision_short(self) -> None:
        lines = render_list([APP], all_namespaces=False, wide=False, now=NOW).splitlines()
        assert [c.strip() for c in lines[0].split("  ") if c.strip()] == [
            "NAME", "SYNC STATUS", "HEALTH STATUS", "REVISION", "REPO", "PATH", "TARGET"]
        assert lines[1].split() == ["guestbook", "OutOfSync", "Progressing", "5f3c2a1",
                                    "https://git.example.com/shop.git", "web", "main"]
        assert "s3cr3t" not in "\n".join(lines) and "robot" not in "\n".join(lines)

    def test_all_namespaces_and_wide_add_columns(self) -> None:
        lines = render_list([APP], all_namespaces=True, wide=True, now=NOW).splitlines()
        assert lines[0].startswith("NAMESPACE")
        assert lines[0].split()[-5:] == ["DESTINATION", "SYNC", "POLICY", "OPERATION", "AGE"]
        assert lines[1].split()[0] == "apps" and lines[1].split()[-1] == "120m"
        assert "Automated (Prune, SelfHeal)" in lines[1] and "Failed" in lines[1]

    def test_an_app_without_status_shows_unknown(self) -> None:
        bare = {"metadata": {"name": "new"}, "spec": {"source": {"repoURL": "git://x/r"}}}
        row = render_list([bare], all_namespaces=False, wide=False, now=NOW).splitlines()[1]
        assert row.split() == ["new", "Unknown", "Unknown", "-", "git://x/r", "-", "HEAD"]


class TestGet:
    def test_header_says_where_from_where_to_and_how_it_went(self) -> None:
        text = render_app(APP, NOW)
        assert "Name:               apps/guestbook" in text
        assert "Repo:               https://git.example.com/shop.git" in text
        assert "Target:             main" in text
        assert "Path:               web" in text
        assert "Namespace:          shop" in text
        assert "Sync Policy:        Automated (Prune, SelfHeal)" in text
        assert "Sync Status:        OutOfSync from main (5f3c2a1)" in text
        assert "Health Status:      Progressing (waiting for the rollout)" in text
        assert "Last Operation:     Failed: one or more objects failed to apply" in text
        assert "Finished:           2026-01-01T11:58:04Z (116s ago)" in text
        assert "- SyncError: Failed sync attempt" in text
        assert "s3cr3t" not in text

    def test_a_destination_by_cluster_name_shows_the_name_not_this_cluster(self) -> None:
        named = app_with()
        named["spec"]["destination"] = {"name": "staging", "namespace": "shop"}
        assert "Server:             staging" in render_app(named, NOW)

    def test_then_the_resources_table(self) -> None:
        lines = render_app(APP, NOW).splitlines()
        head = lines.index("GROUP  KIND        NAMESPACE  NAME  STATUS     HEALTH")
        assert lines[head + 1].split() == ["Service", "shop", "web", "Synced", "Healthy"]
        assert lines[head + 2].split() == ["apps", "Deployment", "shop", "web", "OutOfSync",
                                           "Progressing"]

    def test_a_requested_operation_and_no_resources_yet(self) -> None:
        pending = app_with()
        pending["operation"] = {"sync": {}}
        text = render_app(pending, NOW)
        assert "Operation:          Sync requested, waiting for the controller" in text
        assert "Sync Status:        Unknown" in text
        assert text.endswith("No resources tracked yet.")


class TestHistory:
    def test_oldest_first_with_the_target_and_short_sha(self) -> None:
        assert render_history(APP).splitlines() == [
            "ID  DATE                  REVISION",
            "1   2026-01-01T09:00:00Z  main (1111111)",
            "2   2026-01-01T10:00:00Z  2222222",
        ]


class TestOperationResult:
    def test_summary_then_one_row_per_resource_with_its_health(self) -> None:
        text = render_operation(APP, APP["status"]["operationState"])
        assert "Phase:              Failed" in text
        assert f"Sync Revision:      {SHA}" in text
        assert "Duration:           4s" in text
        rows = text.splitlines()
        head = next(i for i, line in enumerate(rows) if line.startswith("GROUP"))
        assert rows[head].split() == ["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH",
                                      "HOOK", "MESSAGE"]
        assert rows[head + 1].split()[:5] == ["Service", "shop", "web", "Synced", "Healthy"]
        assert "SyncFailed" in rows[head + 2] and "Required value" in rows[head + 2]

    def test_a_dry_run_says_so_and_without_resources_there_is_no_table(self) -> None:
        state = {"phase": "Succeeded", "operation": {"sync": {"dryRun": True}},
                 "message": "successfully synced (dry run)"}
        text = render_operation(APP, state)
        assert "Operation:          Sync (dry run)" in text
        assert "GROUP" not in text


class TestDiff:
    def test_headers_are_argo_cds(self) -> None:
        assert diff_header(ResourceKey("apps", "Deployment", "shop", "web")) == (
            "===== apps/Deployment shop/web ======")
        assert diff_header(ResourceKey("", "Namespace", "", "shop")) == (
            "===== /Namespace /shop ======")

    def test_a_block_is_the_header_and_the_diff_or_the_refusal(self) -> None:
        key = ResourceKey("", "ConfigMap", "shop", "cfg")
        changed = ObjectDiff(key, True, True, None, None, "--- live\n+++ desired\n-a\n+b")
        assert diff_block(changed) == (
            "===== /ConfigMap shop/cfg ======\n--- live\n+++ desired\n-a\n+b")
        refused = ObjectDiff(key, True, True, None, None, "", error="field is immutable")
        assert diff_block(refused).endswith("\nerror: field is immutable")

    def test_a_pruned_object_is_removed_whole_without_server_fields_or_secret_values(
        self,
    ) -> None:
        live = {"apiVersion": "v1", "kind": "Secret", "data": {"token": "c2VjcmV0"},
                "metadata": {"name": "creds", "namespace": "shop", "uid": "u1",
                             "resourceVersion": "7", "managedFields": [{"manager": "x"}]},
                "type": "Opaque"}
        lines = render_pruned(live).splitlines()
        assert lines[:2] == ["--- live", "+++ desired"]
        removed = [line[1:] for line in lines[3:]]
        assert all(line.startswith("-") for line in lines[3:])
        assert "  token: ++++++++" in removed and "  name: creds" in removed
        assert not any("c2VjcmV0" in line or "uid" in line or "managedFields" in line
                       for line in removed)

    def test_summary(self) -> None:
        assert diff_summary("shop", "R", new=0, changed=0, pruned=0) == (
            "application 'shop' is in sync with R")
        assert diff_summary("shop", "R", new=2, changed=1, pruned=1) == (
            "application 'shop' differs from R: 2 new, 1 changed, 1 to prune")
