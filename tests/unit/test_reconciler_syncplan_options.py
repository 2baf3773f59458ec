"""Sync options: `syncPolicy.syncOptions` strings, automation and requested syncs."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.syncplan_annotations import object_sync_options
from reconciler.syncplan_options import SyncOptions
from rollouts.api.application import Application
from rollouts.api.application_status import Operation


def test_defaults_are_argo_cds() -> None:
    options = SyncOptions.parse(None)
    assert options == SyncOptions()
    assert not options.prune and not options.create_namespace and options.validate
    assert options.prune_propagation_policy == "Foreground"


def test_every_implemented_option_is_read() -> None:
    options = SyncOptions.parse([
        "CreateNamespace=true", "PruneLast=true", "ServerSideApply=true",
        "ApplyOutOfSyncOnly=true", "Validate=false", "PrunePropagationPolicy=background",
    ], prune=True, dry_run=True)
    assert options == SyncOptions(
        prune=True, dry_run=True, create_namespace=True, prune_last=True,
        server_side_apply=True, apply_out_of_sync_only=True, validate=False,
        prune_propagation_policy="Background")


def test_values_are_case_insensitive_and_later_options_win() -> None:
    options = SyncOptions.parse(["CreateNamespace=TRUE", "PrunePropagationPolicy=Orphan",
                                 "CreateNamespace=false"])
    assert not options.create_namespace
    assert options.prune_propagation_policy == "Orphan"


@pytest.mark.parametrize(("option", "says"), [
    ("Retry=true", "is unknown (known: CreateNamespace"),
    ("Replace=true", "is not implemented (objects are always applied"),
    ("PruneLast=yes", "PruneLast takes true or false"),
    ("CreateNamespace", "CreateNamespace takes true or false"),
    ("PrunePropagationPolicy=later", "takes foreground|background|orphan"),
])
def test_a_bad_option_is_a_warning_and_changes_nothing(option: str, says: str) -> None:
    options = SyncOptions.parse([option])
    assert len(options.warnings) == 1 and says in options.warnings[0]
    assert option in options.warnings[0]
    assert SyncOptions.parse([option]) == SyncOptions(warnings=options.warnings)


def app(sync_policy: dict[str, Any] | None) -> Application:
    return Application.model_validate({
        "metadata": {"name": "shop"},
        "spec": {"destination": {"namespace": "shop"},
                 **({"syncPolicy": sync_policy} if sync_policy is not None else {})},
    })


class TestForApplication:
    def test_an_automated_sync_takes_prune_and_allow_empty_from_the_policy(self) -> None:
        options = SyncOptions.for_application(app({
            "automated": {"prune": True, "allowEmpty": True},
            "syncOptions": ["CreateNamespace=true"]}))
        assert options.automated and options.prune and options.allow_empty
        assert options.create_namespace

    def test_automation_without_prune_does_not_prune(self) -> None:
        options = SyncOptions.for_application(app({"automated": {}}))
        assert options.automated and not options.prune and not options.allow_empty

    def test_a_requested_sync_takes_its_own_flags_and_options(self) -> None:
        operation = Operation.model_validate({
            "sync": {"prune": True, "dryRun": True, "syncOptions": ["PruneLast=true",
                                                                   "CreateNamespace=false"]},
            "initiatedBy": {"username": "alice"}})
        options = SyncOptions.for_application(
            app({"automated": {"prune": False}, "syncOptions": ["CreateNamespace=true"]}),
            operation)
        assert options.prune and options.dry_run and not options.automated
        assert options.prune_last and not options.create_namespace

    def test_an_application_without_a_policy(self) -> None:
        options = SyncOptions.for_application(app(None), Operation.model_validate({"sync": {}}))
        assert options == SyncOptions()


def test_per_object_options_come_from_its_annotation() -> None:
    obj = {"metadata": {"annotations": {
        "argocd.argoproj.io/sync-options": "Prune=false, PruneLast=TRUE,Validate=false"}}}
    assert object_sync_options(obj) == {"Prune": "false", "PruneLast": "true",
                                        "Validate": "false"}
    assert object_sync_options({"metadata": {}}) == {}
