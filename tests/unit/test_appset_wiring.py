"""How `rollouts controller` wires the ApplicationSet controller (no cluster)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from reconciler.appset import ApplicationSetController
from rollouts.cli.controller_cmd import DEFAULT_CONTROLLERS, _controllers
from rollouts.cli.errors import UsageProblem
from rollouts.kube import KubeClient


def test_it_is_a_controller_of_its_own_not_in_the_default_set() -> None:
    # As the reconciler: GitOps controllers are chosen, not run by default.
    assert "applicationsets" not in DEFAULT_CONTROLLERS.split(",")
    [alone] = _controllers("applicationsets", cast(KubeClient, object()), "team", None)
    assert isinstance(alone, ApplicationSetController)
    assert alone.name == "applicationsets"
    assert alone.control_namespace == "team"
    assert len(alone.informers()) == 4


def test_beside_the_reconciler_it_reads_git_through_the_same_cache() -> None:
    reconciler, appsets = _controllers("reconciler,applicationsets",
                                       cast(KubeClient, object()), "team", None)
    assert cast(Any, appsets).source is cast(Any, reconciler).sources.source
    assert cast(Any, appsets).checkouts.source is cast(Any, reconciler).sources.source


def test_a_misspelt_name_is_refused() -> None:
    with pytest.raises(UsageProblem, match="unknown controller 'applicationset'"):
        _controllers("applicationset", cast(KubeClient, object()), None, None)


def test_beside_the_reconciler_each_secret_and_application_is_watched_once() -> None:
    reconciler, appsets = _controllers("reconciler,applicationsets",
                                       cast(KubeClient, object()), "team", None)
    mine, theirs = cast(Any, reconciler), cast(Any, appsets)
    assert mine.destinations.informer is theirs.cluster_secrets
    assert mine.secrets is theirs.repo_secrets
    assert mine.apps is theirs.applications
