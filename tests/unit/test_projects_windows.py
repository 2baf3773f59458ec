"""Sync windows with Argo CD's semantics, at instants computed by hand.

A window opens at each fire time `t` of its schedule (in its time zone) and is open while
`t < now < t + duration`. The calendar used below: 2024-05-01 is a Wednesday, 2024-05-05
a Sunday, 2024-05-06 a Monday; Paris is UTC+2 in May and UTC+1 in January.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.projects import (
    matching_windows,
    next_window_change,
    sync_window_verdict,
    window_states,
)
from rollouts.api import AppProject, check_object, parse_object

IN_CLUSTER = "https://kubernetes.default.svc"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def project(*windows: dict[str, Any]) -> AppProject:
    obj = parse_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                        "metadata": {"name": "team-a"},
                        "spec": {"syncWindows": list(windows)}})
    assert isinstance(obj, AppProject)
    return obj


def window(kind: str, schedule: str, duration: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "schedule": schedule, "duration": duration,
            "applications": ["*"], **extra}


def verdict(proj: AppProject, now: str, *, manual: bool = False, app: str = "shop",
            namespace: str = "shop", cluster: str = IN_CLUSTER) -> str | None:
    return sync_window_verdict(proj, app=app, namespace=namespace, cluster=cluster,
                               now=at(now), manual=manual)


def active(proj: AppProject, now: str) -> bool:
    (state,) = window_states(proj, at(now))
    assert state.error is None
    return state.active


class TestWhenAWindowIsOpen:
    @pytest.mark.parametrize(("now", "expected"), [
        ("2024-05-01T21:59:00", False),
        ("2024-05-01T22:00:00", False),  # Argo: the fire time itself is not yet "before now"
        ("2024-05-01T22:00:01", True),
        ("2024-05-01T23:59:59", True),
        ("2024-05-02T00:00:00", True),   # across midnight
        ("2024-05-02T05:59:59", True),
        ("2024-05-02T06:00:00", False),  # 22:00 + 8h: closed
        ("2024-05-02T12:00:00", False),
    ])
    def test_a_nightly_window_spans_midnight(self, now: str, expected: bool) -> None:
        assert active(project(window("deny", "0 22 * * *", "8h")), now) is expected

    def test_the_open_window_knows_when_it_opened_and_closes(self) -> None:
        (state,) = window_states(project(window("deny", "0 22 * * *", "8h")),
                                 at("2024-05-02T01:00:00"))
        assert state.opened_at == at("2024-05-01T22:00:00")
        assert state.closes_at == at("2024-05-02T06:00:00")
        assert state.next_opens_at == at("2024-05-02T22:00:00")

    @pytest.mark.parametrize(("now", "expected"), [
        ("2024-05-01T06:59:00", False),
        ("2024-05-01T07:30:00", True),   # 09:30 in Paris (UTC+2)
        ("2024-05-01T08:30:00", False),
        ("2024-01-10T07:30:00", False),  # 08:30 in Paris (UTC+1): not yet
        ("2024-01-10T08:30:00", True),
    ])
    def test_the_schedule_runs_in_the_window_s_time_zone(self, now: str, expected: bool) -> None:
        proj = project(window("allow", "0 9 * * *", "1h", timeZone="Europe/Paris"))
        assert active(proj, now) is expected

    @pytest.mark.parametrize(("now", "expected"), [
        ("2024-05-05T12:00:00", True),   # Sunday
        ("2024-05-06T12:00:00", False),  # Monday (APScheduler's own crontab would say 0=Monday)
    ])
    def test_weekday_zero_is_sunday(self, now: str, expected: bool) -> None:
        assert active(project(window("deny", "0 0 * * 0", "24h")), now) is expected

    @pytest.mark.parametrize(("now", "expected"), [
        ("2024-05-01T00:30:00", True),   # the 1st (a Wednesday)
        ("2024-05-06T00:30:00", True),   # a Monday
        ("2024-05-02T00:30:00", False),  # neither
    ])
    def test_both_day_fields_restricted_means_either_as_in_cron(self, now: str,
                                                                expected: bool) -> None:
        assert active(project(window("deny", "0 0 1 * 1", "1h")), now) is expected

    def test_a_day_of_week_range_and_names(self) -> None:
        proj = project(window("deny", "0 12 * * MON-FRI", "1h"))
        assert active(proj, "2024-05-06T12:30:00")
        assert not active(proj, "2024-05-05T12:30:00")

    def test_a_date_that_never_exists_never_opens(self) -> None:
        proj = AppProject.model_validate({"metadata": {"name": "p"}, "spec": {
            "syncWindows": [window("deny", "0 0 30 2 *", "1h")]}})
        (state,) = window_states(proj, at("2024-02-29T00:30:00"))
        assert not state.active and state.next_opens_at is None


class TestVerdicts:
    def test_no_window_allows_every_sync(self) -> None:
        assert verdict(project(), "2024-05-01T12:00:00") is None

    def test_an_open_deny_window_blocks_and_says_which_and_until_when(self) -> None:
        proj = project(window("deny", "0 22 * * *", "8h"))
        assert verdict(proj, "2024-05-01T23:00:00") == (
            "project 'team-a': sync window syncWindows[0] (deny '0 22 * * *' for 8h UTC) is "
            "open until 2024-05-02T06:00:00Z and denies syncs")
        assert verdict(proj, "2024-05-01T12:00:00") is None

    def test_a_deny_window_with_manual_sync_lets_only_manual_syncs_through(self) -> None:
        proj = project(window("deny", "0 22 * * *", "8h", manualSync=True))
        assert verdict(proj, "2024-05-01T23:00:00", manual=True) is None
        assert verdict(proj, "2024-05-01T23:00:00", manual=False) is not None

    def test_manual_passes_a_deny_only_when_every_open_deny_allows_it(self) -> None:
        proj = project(window("deny", "0 22 * * *", "8h", manualSync=True),
                       window("deny", "0 23 * * *", "1h"))
        refusal = verdict(proj, "2024-05-01T23:30:00", manual=True)
        assert refusal is not None and "syncWindows[1]" in refusal

    def test_allow_windows_block_outside_them(self) -> None:
        proj = project(window("allow", "0 9 * * *", "1h"))
        assert verdict(proj, "2024-05-01T09:30:00") is None
        assert verdict(proj, "2024-05-01T11:00:00") == (
            "project 'team-a': no allow sync window is open; the next, syncWindows[0] (allow "
            "'0 9 * * *' for 1h UTC), opens at 2024-05-02T09:00:00Z")

    def test_one_open_allow_window_is_enough(self) -> None:
        proj = project(window("allow", "0 9 * * *", "1h"), window("allow", "0 11 * * *", "1h"))
        assert verdict(proj, "2024-05-01T11:30:00") is None

    def test_manual_passes_closed_allows_only_when_all_of_them_allow_it(self) -> None:
        both = project(window("allow", "0 9 * * *", "1h", manualSync=True),
                       window("allow", "0 11 * * *", "1h", manualSync=True))
        one = project(window("allow", "0 9 * * *", "1h", manualSync=True),
                      window("allow", "0 11 * * *", "1h"))
        assert verdict(both, "2024-05-01T14:00:00", manual=True) is None
        assert verdict(one, "2024-05-01T14:00:00", manual=True) is not None
        assert verdict(both, "2024-05-01T14:00:00", manual=False) is not None

    def test_deny_wins_over_an_open_allow(self) -> None:
        proj = project(window("allow", "0 0 * * *", "24h"), window("deny", "0 12 * * *", "1h"))
        assert verdict(proj, "2024-05-01T12:30:00") is not None
        assert verdict(proj, "2024-05-01T14:00:00") is None

    def test_a_window_that_cannot_be_evaluated_blocks(self) -> None:
        proj = AppProject.model_validate({"metadata": {"name": "p"}, "spec": {
            "syncWindows": [window("deny", "0 22 * * 9", "8h")]}})
        refusal = verdict(proj, "2024-05-01T12:00:00")
        assert refusal is not None and "cannot be evaluated" in refusal and "schedule" in refusal


class TestWhichApplicationsAWindowAppliesTo:
    def test_by_application_name_glob(self) -> None:
        proj = project(window("deny", "0 0 * * *", "24h", applications=["shop-*"]))
        assert verdict(proj, "2024-05-01T12:00:00", app="shop-web") is not None
        assert verdict(proj, "2024-05-01T12:00:00", app="blog") is None

    def test_by_destination_namespace_or_cluster(self) -> None:
        by_namespace = project({"kind": "deny", "schedule": "0 0 * * *", "duration": "24h",
                                "namespaces": ["prod-*"]})
        by_cluster = project({"kind": "deny", "schedule": "0 0 * * *", "duration": "24h",
                              "clusters": ["in-cluster"]})
        assert verdict(by_namespace, "2024-05-01T12:00:00", namespace="prod-eu") is not None
        assert verdict(by_namespace, "2024-05-01T12:00:00", namespace="dev") is None
        assert verdict(by_cluster, "2024-05-01T12:00:00", cluster=IN_CLUSTER) is not None
        assert verdict(by_cluster, "2024-05-01T12:00:00", cluster="https://other:6443") is None

    def test_lists_are_ored_unless_and_operator(self) -> None:
        spec = {"kind": "deny", "schedule": "0 0 * * *", "duration": "24h",
                "applications": ["shop"], "namespaces": ["prod"]}
        ored, anded = project(spec), project({**spec, "andOperator": True})
        assert matching_windows(ored, app="shop", namespace="dev", cluster=IN_CLUSTER)
        assert not matching_windows(anded, app="shop", namespace="dev", cluster=IN_CLUSTER)
        assert matching_windows(anded, app="shop", namespace="prod", cluster=IN_CLUSTER)


class TestWhenToLookAgain:
    def test_an_open_window_changes_when_it_closes(self) -> None:
        proj = project(window("deny", "0 22 * * *", "8h"))
        assert next_window_change(proj, app="shop", namespace="shop", cluster=IN_CLUSTER,
                                  now=at("2024-05-01T23:00:00")) == at("2024-05-02T06:00:00")

    def test_a_closed_window_changes_when_it_next_opens(self) -> None:
        proj = project(window("allow", "30 9 * * *", "1h"))
        assert next_window_change(proj, app="shop", namespace="shop", cluster=IN_CLUSTER,
                                  now=at("2024-05-01T12:00:00")) == at("2024-05-02T09:30:00")

    def test_no_matching_window_means_nothing_to_wait_for(self) -> None:
        proj = project(window("deny", "0 22 * * *", "8h", applications=["other"]))
        assert next_window_change(proj, app="shop", namespace="shop", cluster=IN_CLUSTER,
                                  now=at("2024-05-01T12:00:00")) is None


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("kind", "block", "must be allow or deny"),
    ("schedule", "0 22 * *", "exactly five"),
    ("schedule", "@daily", "descriptors"),
    ("schedule", "0 22 * * 7", "0 is Sunday"),
    ("schedule", "61 * * * *", "minute"),
    ("schedule", "0 0 31 4 *", "never exists"),
    ("duration", "3600", "has no unit"),
    ("duration", "1 hour", "not a duration"),
    ("timeZone", "Mars/Olympus", "unknown time zone"),
])
def test_lint_names_the_bad_window_field(field: str, value: str, needle: str) -> None:
    spec = window("deny", "0 22 * * *", "8h")
    spec[field] = value
    result = check_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                           "metadata": {"name": "p"}, "spec": {"syncWindows": [spec]}})
    (problem,) = result.errors
    assert problem.path == f"spec.syncWindows[0].{field}"
    assert needle in problem.message
