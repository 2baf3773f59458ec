"""Which Applications are served, and the instance names their objects are tracked by."""

from __future__ import annotations

import doctest

import reconciler.tenancy
from reconciler.tenancy import instance_name, namespace_problem, split_instance_name
from reconciler.tracking import is_tracked_by, with_tracking


def test_docstring_examples() -> None:
    assert doctest.testmod(reconciler.tenancy).failed == 0


def test_the_control_namespace_is_always_served_and_others_only_by_pattern() -> None:
    assert namespace_problem("rollouts", "rollouts", ()) is None
    assert namespace_problem("team-a", "rollouts", ("team-*",)) is None
    refusal = namespace_problem("kube-system", "rollouts", ("team-*",))
    assert refusal is not None
    assert "'kube-system'" in refusal and "team-*" in refusal
    assert "--application-namespaces" in refusal
    assert namespace_problem("team-a", "rollouts", ()) is not None


def test_the_refusal_names_the_kind_it_is_about() -> None:
    refusal = namespace_problem("x", "rollouts", (), kind="ApplicationSet")
    assert refusal is not None
    assert refusal.startswith("ApplicationSets in namespace 'x' are not served")
    assert "move the ApplicationSet to 'rollouts'" in refusal


def test_same_named_apps_of_two_namespaces_never_track_each_others_objects() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}}
    a = instance_name("web", "team-a", "rollouts")
    b = instance_name("web", "team-b", "rollouts")
    home = instance_name("web", "rollouts", "rollouts")
    assert len({a, b, home}) == 3
    for mine in (a, b, home):
        tracked = with_tracking(obj, mine)
        assert [is_tracked_by(tracked, other) for other in (a, b, home)] == \
            [other == mine for other in (a, b, home)]


def test_instance_names_map_back_to_their_application() -> None:
    assert split_instance_name("team-a_web", "rollouts") == ("team-a", "web")
    assert split_instance_name("web", "rollouts") == ("rollouts", "web")
