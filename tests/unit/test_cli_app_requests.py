"""What `rollouts app` asks of an Application, and how it reads the answer (app_view).

Requests are Argo CD's `operation` field, merge-patched with the resourceVersion as a
precondition; the answer is `status.operationState`, which must be told apart from the
state an earlier operation left behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.cli.app_view import (
    CLI_USER,
    OperationMark,
    in_progress,
    operation_patch,
    ours,
    rollback_entry,
    search_scope,
    sync_operation,
    wait_reached,
)
from rollouts.cli.errors import UsageProblem

REQUESTED = datetime(2026, 1, 1, 12, 0, 0, 600_000, tzinfo=UTC)
SHA_1 = "1" * 40
SHA_2 = "2" * 40
SHA_3 = "3" * 40


def app(status: dict[str, Any] | None = None, operation: dict[str, Any] | None = None,
        **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "shop", "namespace": "apps", "resourceVersion": "42"},
        "spec": {"source": {"repoURL": "https://git.example.com/shop.git", "path": "web"},
                 "destination": {"namespace": "shop"}, **spec},
        "status": status or {},
    }
    if operation is not None:
        obj["operation"] = operation
    return obj


def state(phase: str, started: str, finished: str | None = None) -> dict[str, Any]:
    return {"operationState": {"phase": phase, "startedAt": started,
                               **({"finishedAt": finished} if finished else {})}}


OLD = state("Succeeded", "2026-01-01T11:00:00Z", "2026-01-01T11:00:04Z")
HISTORY = {"history": [
    {"id": 2, "revision": SHA_2, "deployedAt": "2026-01-01T10:00:00Z",
     "source": {"repoURL": "https://git.example.com/shop.git", "targetRevision": "v2"}},
    {"id": 1, "revision": SHA_1, "deployedAt": "2026-01-01T09:00:00Z"},
    {"id": 3, "revision": SHA_3, "deployedAt": "2026-01-01T11:00:00Z"},
]}


class TestSyncRequest:
    def test_a_plain_sync_asks_for_the_target_revision_without_prune(self) -> None:
        assert sync_operation(revision=None, prune=False, dry_run=False, sync_options=None) == {
            "sync": {"prune": False, "dryRun": False},
            "initiatedBy": {"username": CLI_USER},
        }

    def test_revision_prune_dry_run_and_options_are_passed_as_argo_cd_names_them(self) -> None:
        operation = sync_operation(revision="v2", prune=True, dry_run=True,
                                   sync_options=["PruneLast=true"])
        assert operation["sync"] == {"prune": True, "dryRun": True, "revision": "v2",
                                     "syncOptions": ["PruneLast=true"]}

    def test_a_rollback_carries_the_source_of_its_history_entry(self) -> None:
        source = {"repoURL": "https://git.example.com/shop.git", "targetRevision": "v2"}
        operation = sync_operation(revision=SHA_2, prune=False, dry_run=False,
                                   sync_options=None, source=source)
        assert operation["sync"]["source"] == source

    def test_the_patch_sets_the_operation_with_the_resource_version_as_precondition(
        self,
    ) -> None:
        operation = sync_operation(revision=None, prune=False, dry_run=False, sync_options=None)
        assert operation_patch(operation, "42") == {
            "metadata": {"resourceVersion": "42"}, "operation": operation}


class TestInProgress:
    def test_nothing_is_in_progress_after_a_finished_operation(self) -> None:
        assert in_progress(app(OLD)) is None
        assert in_progress(app()) is None

    def test_a_pending_operation_says_who_asked(self) -> None:
        pending = app(OLD, operation={"sync": {}, "initiatedBy": {"username": "alice"}})
        assert in_progress(pending) == "a sync requested by alice has not finished yet"

    def test_an_automated_operation_is_in_progress_too(self) -> None:
        pending = app(operation={"sync": {}, "initiatedBy": {"automated": True}})
        assert "automation" in str(in_progress(pending))

    def test_a_running_operation_is_in_progress_even_without_the_request(self) -> None:
        running = app(state("Running", "2026-01-01T11:59:58Z"))
        assert in_progress(running) == "an operation is Running (started 2026-01-01T11:59:58Z)"


class TestWhichOperationStateIsOurs:
    """Given the state seen before the request, which later state answers it."""

    before = OperationMark.of(app(OLD))

    def test_the_old_state_is_not_ours_while_our_request_is_pending(self) -> None:
        pending = app(OLD, operation={"sync": {}})
        assert ours(pending, requested_at=REQUESTED, before=self.before) is None

    def test_the_old_state_is_not_ours_even_once_the_operation_field_is_gone(self) -> None:
        assert ours(app(OLD), requested_at=REQUESTED, before=self.before) is None

    def test_a_state_started_in_the_second_of_the_request_is_ours(self) -> None:
        # Stored timestamps have whole seconds: 12:00:00 answers a request at 12:00:00.6.
        running = app(state("Running", "2026-01-01T12:00:00Z"), operation={"sync": {}})
        found = ours(running, requested_at=REQUESTED, before=self.before)
        assert found is not None and found["phase"] == "Running"

    def test_a_new_state_from_before_the_request_is_not_ours_while_requested(self) -> None:
        earlier = app(state("Running", "2026-01-01T11:59:59Z"), operation={"sync": {}})
        assert ours(earlier, requested_at=REQUESTED, before=self.before) is None

    def test_a_new_finished_state_once_the_operation_is_removed_is_ours_despite_clock_skew(
        self,
    ) -> None:
        # The controller's clock lags ours: startedAt is before the request, but the
        # operation field is gone and the state is a new one.
        done = app(state("Failed", "2026-01-01T11:59:58Z", "2026-01-01T11:59:59Z"))
        found = ours(done, requested_at=REQUESTED, before=self.before)
        assert found is not None and found["phase"] == "Failed"

    def test_the_first_operation_ever_is_ours(self) -> None:
        done = app(state("Succeeded", "2026-01-01T12:00:01Z", "2026-01-01T12:00:03Z"))
        found = ours(done, requested_at=REQUESTED, before=OperationMark.of(app()))
        assert found is not None and found["phase"] == "Succeeded"


class TestRollbackTarget:
    def test_by_default_the_entry_before_the_last_one(self) -> None:
        assert rollback_entry(app(HISTORY), None)["id"] == 2

    def test_an_id_picks_that_entry(self) -> None:
        assert rollback_entry(app(HISTORY), 1)["revision"] == SHA_1

    def test_an_unknown_id_lists_the_known_ones(self) -> None:
        with pytest.raises(UsageProblem, match=r"no history entry 7 \(ids: 1, 2, 3\)"):
            rollback_entry(app(HISTORY), 7)

    def test_one_deployment_leaves_nothing_to_roll_back_to(self) -> None:
        with pytest.raises(UsageProblem, match="no earlier one to roll back to"):
            rollback_entry(app({"history": [{"id": 1, "revision": SHA_1}]}), None)

    def test_refused_while_automated_sync_is_on_as_argo_cd_does(self) -> None:
        automated = app(HISTORY, syncPolicy={"automated": {"prune": True}})
        with pytest.raises(UsageProblem, match="disable it first"):
            rollback_entry(automated, 1)

    def test_an_empty_automated_block_is_automated_too(self) -> None:
        with pytest.raises(UsageProblem, match="automated sync enabled"):
            rollback_entry(app(HISTORY, syncPolicy={"automated": {}}), None)


class TestWaitReached:
    synced_healthy = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}

    def test_synced_and_healthy_with_no_operation(self) -> None:
        assert wait_reached(app(self.synced_healthy), sync=True, health=True, operation=True)

    @pytest.mark.parametrize(("sync", "health", "expected"), [
        (True, False, True), (False, True, False), (True, True, False)])
    def test_each_condition_is_checked_only_when_asked(
        self, sync: bool, health: bool, expected: bool
    ) -> None:
        progressing = app({"sync": {"status": "Synced"}, "health": {"status": "Progressing"}})
        assert wait_reached(progressing, sync=sync, health=health, operation=False) is expected

    def test_a_pending_operation_is_not_done(self) -> None:
        pending = app(self.synced_healthy, operation={"sync": {}})
        assert not wait_reached(pending, sync=True, health=True, operation=True)
        assert wait_reached(pending, sync=True, health=True, operation=False)

    def test_no_status_yet_is_neither_synced_nor_healthy(self) -> None:
        assert not wait_reached(app(), sync=True, health=False, operation=False)
        assert not wait_reached(app(), sync=False, health=True, operation=False)


class TestDiffSearchScope:
    def test_kinds_and_namespaces_of_git_and_of_the_recorded_resources(self) -> None:
        recorded = {"resources": [
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "old",
             "name": "web"},
            {"version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "cfg"},
            {"kind": "Secret", "namespace": "shop", "name": "no-version"},
        ]}
        desired = [{"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "web", "namespace": "shop"}}]
        kinds, namespaces = search_scope(app(recorded), desired, "shop")
        assert kinds == [("apps/v1", "Deployment"), ("v1", "ConfigMap"), ("v1", "Service")]
        assert namespaces == ["old", "shop"]


class TestDiffOnARegisteredCluster:
    def test_the_destination_client_is_closed_even_when_the_compare_fails(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A registered cluster's client holds its client key in a temporary file until
        closed: `app diff` closes it whatever happens."""
        from rollouts.cli import app_cmds
        from rollouts.cli.kubeopts import Session

        class Client:
            closed = 0

            def close(self) -> None:
                self.closed += 1

        here, there = Client(), Client()
        monkeypatch.setattr(app_cmds, "desired_objects", lambda *_a: ([], "git"))
        monkeypatch.setattr(app_cmds, "_destination",
                            lambda session, _app: Session(there, session.namespace))  # type: ignore[arg-type]

        def fail(*_a: Any) -> Any:
            raise UsageProblem("the cluster is unreachable")

        monkeypatch.setattr(app_cmds, "_compare", fail)
        obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app()}
        obj["spec"]["destination"] = {"server": "https://staging:6443", "namespace": "shop"}
        with pytest.raises(UsageProblem, match="unreachable"):
            app_cmds._diff(Session(here, "apps"), obj, None)  # type: ignore[arg-type]
        assert there.closed == 1 and here.closed == 0
        monkeypatch.setattr(app_cmds, "_compare", lambda *_a: ([], 0, 0, 0))
        app_cmds._diff(Session(here, "apps"), obj, None)  # type: ignore[arg-type]
        assert there.closed == 2 and here.closed == 0
