"""Reading numbers, thresholds, phases and names out of objects for the metrics."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rollouts.metrics.rollout_collector import metric_phase, strategy_and_router
from rollouts.metrics.values import (
    condition_threshold,
    measurement_value,
    metric_dry_run,
    owner_rollout,
    provider_type,
    redact_repo,
)


class TestMeasurementValue:
    @pytest.mark.parametrize(("text", "expected"), [
        ("0.99", 0.99),
        ("[0.99]", 0.99),
        ("[0.99, 0.5]", 0.99),  # a vector: its first element
        ('["0.42"]', 0.42),  # a number as a string inside the vector
        ("42", 42.0),
        ("-3e2", -300.0),
        (7, 7.0),
        (0.5, 0.5),
    ])
    def test_numbers_and_first_elements_of_vectors_are_read(
            self, text: object, expected: float) -> None:
        assert measurement_value(text) == pytest.approx(expected)

    @pytest.mark.parametrize("text", [
        None, "", "[]", "true", "false", True, "{}", '{"a": 1}', "[[1]]", "abc",
        "map[a:1]", "NaN", "[NaN]", "Infinity", math.inf, math.nan, "[true]", '["x"]',
    ])
    def test_anything_not_a_finite_number_is_skipped(self, text: object) -> None:
        assert measurement_value(text) is None


class TestConditionThreshold:
    @pytest.mark.parametrize(("condition", "expected"), [
        ("result[0] >= 0.95", (">=", 0.95)),
        ("result >= 0.95", (">=", 0.95)),
        ("result[0]<0.5", ("<", 0.5)),
        ("asFloat(result[0]) <= 100", ("<=", 100.0)),
        ("0.95 <= result[0]", (">=", 0.95)),  # the result goes on the left
        ("10 > result", ("<", 10.0)),
        ("result[0] > -1e-3", (">", -0.001)),
    ])
    def test_a_comparison_with_one_number_gives_that_number(
            self, condition: str, expected: tuple[str, float]) -> None:
        assert condition_threshold(condition) == expected

    def test_argument_placeholders_are_filled_from_the_run_args(self) -> None:
        found = condition_threshold("result[0] >= {{args.min-ratio}}", {"min-ratio": "0.9"})
        assert found == (">=", 0.9)
        assert condition_threshold("result[0] >= {{args.unknown}}", {}) is None

    @pytest.mark.parametrize("condition", [
        None, "", "len(result) == 0 || result[0] < 5", "result[0] >= 0.9 && result[1] < 2",
        "result[0] == 1", "result.code == 200", "result[1] > 3", 12,
    ])
    def test_anything_else_has_no_single_line_to_draw(self, condition: object) -> None:
        assert condition_threshold(condition) is None


class TestNames:
    @pytest.mark.parametrize(("provider", "expected"), [
        ({"prometheus": {"query": "q"}}, "Prometheus"),
        ({"web": {"url": "u"}}, "Web"),
        ({"job": {"spec": {}}}, "Job"),
        ({"newRelic": {}}, "NewRelic"),
        ({"plugin": {"argoproj-labs/sample": {}}}, "argoproj-labs/sample"),
        ({"somethingNew": {}}, "somethingNew"),
        ({}, ""),
        ({"web": {}, "job": {}}, ""),
    ])
    def test_provider_types_are_spelled_as_argo_does(
            self, provider: dict[str, Any], expected: str) -> None:
        assert provider_type({"name": "m", "provider": provider}) == expected

    @pytest.mark.parametrize(("url", "expected"), [
        ("https://user:s3cret@git.example.com/org/repo.git",
         "https://git.example.com/org/repo.git"),
        ("https://token@git.example.com/org/repo/", "https://git.example.com/org/repo"),
        ("ssh://git:pw@host/repo", "ssh://host/repo"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("file:///srv/repo", "file:///srv/repo"),
        (None, ""),
    ])
    def test_repository_urls_lose_their_credentials(self, url: object, expected: str) -> None:
        assert redact_repo(url) == expected

    def test_a_run_belongs_to_the_rollout_of_its_label_else_its_owner(self) -> None:
        labelled = {"metadata": {"labels": {"rollouts.argoproj.io/rollout": "web"}}}
        owned = {"metadata": {"ownerReferences": [{"kind": "Rollout", "name": "api"}]}}
        assert owner_rollout(labelled) == "web"
        assert owner_rollout(owned) == "api"
        assert owner_rollout({"metadata": {}}) == ""

    def test_dry_run_comes_from_the_result_else_from_the_spec_rules(self) -> None:
        run = {"spec": {"dryRun": [{"metricName": "error.*"}]}}
        assert metric_dry_run(run, "error-rate", None) is True
        assert metric_dry_run(run, "latency", None) is False
        assert metric_dry_run(run, "latency", {"dryRun": True}) is True
        assert metric_dry_run({"spec": {"dryRun": [{"metricName": "("}]}}, "(", None) is True


def _rollout(status: dict[str, Any], strategy: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    return {"spec": {"strategy": {"canary": {}} if strategy is None else strategy},
            "status": status}


class TestRolloutPhase:
    @pytest.mark.parametrize(("status", "expected"), [
        ({"phase": "Healthy"}, "Completed"),
        ({"phase": "Progressing"}, "Progressing"),
        ({}, "Progressing"),
        ({"phase": "Paused"}, "Paused"),
        ({"phase": "Degraded", "abort": True}, "Abort"),
        ({"phase": "Degraded", "conditions": [
            {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}, "Timeout"),
        ({"phase": "Degraded", "message": "InvalidSpec: spec.replicas: must be >= 0"},
         "InvalidSpec"),
        ({"phase": "Degraded", "conditions": [{"type": "InvalidSpec"}]}, "InvalidSpec"),
        ({"phase": "Degraded", "message": "something else"}, "Error"),
    ])
    def test_phases_are_argos_metric_phases(self, status: dict[str, Any],
                                            expected: str) -> None:
        assert metric_phase(_rollout(status)) == expected

    @pytest.mark.parametrize(("strategy", "expected"), [
        ({"canary": {}}, ("canary", "")),
        ({"canary": {"trafficRouting": {"istio": {}}}}, ("canary", "Istio")),
        ({"canary": {"trafficRouting": {"smi": {}, "managedRoutes": []}}}, ("canary", "SMI")),
        ({"blueGreen": {}}, ("blueGreen", "")),
        ({}, ("none", "")),
    ])
    def test_strategy_and_traffic_router_are_labelled_as_argo_does(
            self, strategy: dict[str, Any], expected: tuple[str, str]) -> None:
        assert strategy_and_router(_rollout({}, strategy)) == expected
