"""The models' behaviour: phases, defaults, status records, and the public surface."""

from __future__ import annotations

import itertools
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import rollouts.api as api
from rollouts.api import (
    AnalysisPhase,
    AnalysisRunStatus,
    ApplicationStatus,
    HealthStatusCode,
    Metric,
    RolloutPhase,
    RolloutSpec,
    RolloutStatus,
    dump_object,
    parse_object,
)
from rollouts.api.application import Backoff, SyncPolicy
from rollouts.api.rollout import BlueGreenStrategy, CanaryStep, CanaryStrategy, Pause

WORST_LAST = ["Successful", "Running", "Pending", "Inconclusive", "Error", "Failed"]


class TestGivenAnalysisPhases:
    def test_when_folded_then_the_worst_wins_in_argo_order(self) -> None:
        for better, worse in itertools.combinations(WORST_LAST, 2):
            assert AnalysisPhase.worst([AnalysisPhase(better), AnalysisPhase(worse)]) == worse

    def test_when_there_are_none_then_the_run_is_successful(self) -> None:
        assert AnalysisPhase.worst([]) is AnalysisPhase.SUCCESSFUL

    def test_completed_phases_are_the_verdicts(self) -> None:
        completed = {phase.value for phase in AnalysisPhase if phase.completed}
        assert completed == {"Successful", "Failed", "Error", "Inconclusive"}


@given(st.lists(st.sampled_from(list(AnalysisPhase)), min_size=1))
def test_the_worst_phase_does_not_depend_on_order(phases: list[AnalysisPhase]) -> None:
    worst = AnalysisPhase.worst(phases)
    assert worst in phases
    assert worst == AnalysisPhase.worst(reversed(phases))
    assert all(phase.severity <= worst.severity for phase in phases)


class TestGivenRolloutPhases:
    @pytest.mark.parametrize(
        ("phase", "health"),
        [
            ("Healthy", "Healthy"),
            ("Progressing", "Progressing"),
            ("Paused", "Suspended"),
            ("Degraded", "Degraded"),
        ],
    )
    def test_when_reported_to_the_reconciler_then_argo_cd_health_applies(
        self, phase: str, health: str
    ) -> None:
        assert RolloutPhase(phase).health is HealthStatusCode(health)

    def test_an_application_is_as_healthy_as_its_worst_resource(self) -> None:
        statuses = [
            HealthStatusCode.HEALTHY,
            HealthStatusCode.DEGRADED,
            HealthStatusCode.PROGRESSING,
        ]
        assert HealthStatusCode.worst(statuses) is HealthStatusCode.DEGRADED


class TestGivenOmittedFields:
    def test_when_a_rollout_spec_is_empty_then_argo_defaults_are_exposed_not_dumped(self) -> None:
        spec = RolloutSpec.model_validate({})
        assert spec.replicas_or_default == 1
        assert spec.revision_history_limit_or_default == 10
        assert spec.progress_deadline_seconds_or_default == 600
        assert spec.model_dump(by_alias=True, exclude_none=True) == {}

    def test_when_a_canary_omits_its_delays_then_they_default_to_30_seconds(self) -> None:
        canary = CanaryStrategy.model_validate({})
        assert canary.scale_down_delay_seconds_or_default == 30
        assert canary.abort_scale_down_delay_seconds_or_default == 30
        assert canary.step_list == []

    def test_when_blue_green_omits_auto_promotion_then_it_is_on(self) -> None:
        blue_green = BlueGreenStrategy.model_validate({"activeService": "web"})
        assert blue_green.auto_promotion_enabled_or_default is True
        assert blue_green.scale_down_delay_seconds_or_default == 30

    def test_when_a_zero_delay_is_written_then_it_is_not_replaced_by_the_default(self) -> None:
        assert (
            BlueGreenStrategy.model_validate(
                {"scaleDownDelaySeconds": 0}
            ).scale_down_delay_seconds_or_default
            == 0
        )

    def test_when_a_metric_omits_its_limits_then_argo_defaults_apply(self) -> None:
        metric = Metric.model_validate({"name": "m", "provider": {"web": {"url": "http://x"}}})
        assert metric.failure_limit_or_default == 0
        assert metric.inconclusive_limit_or_default == 0
        assert metric.consecutive_error_limit_or_default == 4
        assert metric.effective_count == 1

    def test_when_a_metric_has_an_interval_and_no_count_then_it_runs_until_ended(self) -> None:
        metric = Metric.model_validate(
            {"name": "m", "interval": "1m", "provider": {"web": {"url": "u"}}}
        )
        assert metric.effective_count is None


class TestGivenCanarySteps:
    @pytest.mark.parametrize(
        ("step", "action"),
        [
            ({"setWeight": 20}, "setWeight"),
            ({"pause": {"duration": "1m"}}, "pause"),
            ({"analysis": {"templates": [{"templateName": "t"}]}}, "analysis"),
            ({"setCanaryScale": {"replicas": 2}}, "setCanaryScale"),
            ({"experiment": {"templates": [{"name": "a", "specRef": "canary"}]}},
             "experiment"),
            ({"setHeaderRoute": {"name": "h"}}, "setHeaderRoute"),
            ({"plugin": {"name": "p"}}, None),
            ({"setWeight": 20, "pause": {}}, None),
        ],
    )
    def test_the_action_is_the_one_thing_the_step_does(
        self, step: dict[str, Any], action: str | None
    ) -> None:
        parsed = CanaryStep.model_validate(step)
        assert (parsed.action.value if parsed.action else None) == action

    def test_a_pause_duration_is_in_seconds(self) -> None:
        assert Pause.model_validate({"duration": "1m30s"}).duration_seconds == 90.0


class TestGivenAnAnalysisSpec:
    def test_dry_run_and_retention_rules_match_metric_names_like_argo(self) -> None:
        run = parse_object(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "metadata": {"name": "r"},
                "spec": {
                    "metrics": [
                        {"name": "error-rate", "provider": {"web": {"url": "u"}}},
                        {"name": "latency", "provider": {"web": {"url": "u"}}},
                    ],
                    "dryRun": [{"metricName": "error"}],
                    "measurementRetention": [{"metricName": ".*", "limit": 20}],
                },
            }
        )
        assert isinstance(run, api.AnalysisRun)
        assert run.spec.is_dry_run("error-rate") and not run.spec.is_dry_run("latency")
        assert run.spec.measurement_retention_limit("latency") == 20


class TestGivenAnApplicationSyncPolicy:
    def test_sync_options_are_read_by_name(self) -> None:
        policy = SyncPolicy.model_validate(
            {"syncOptions": ["CreateNamespace=true", "PruneLast=false"]}
        )
        assert policy.sync_option_enabled("CreateNamespace")
        assert not policy.sync_option_enabled("PruneLast")
        assert policy.sync_option("ServerSideApply") is None

    def test_retry_backoff_grows_by_its_factor_up_to_the_maximum(self) -> None:
        backoff = Backoff.model_validate({})
        assert [backoff.delay(attempt) for attempt in (1, 2, 3, 10, 10_000)] == [
            5,
            10,
            20,
            180,
            180,
        ]


def _docstring_example(model: type[Any]) -> dict[str, Any]:
    """The YAML block after `::` in the model's docstring (indented under the class body)."""
    lines = (model.__doc__ or "").split("::", 1)[1].splitlines()[1:]
    block: list[str] = []
    for line in lines:
        if line.strip() and not line.startswith(" " * 8):
            break
        block.append(line)
    loaded = yaml.safe_load(textwrap.dedent("\n".join(block)))
    assert isinstance(loaded, dict) and isinstance(loaded["status"], dict)
    return loaded["status"]


class TestGivenTheStatusRecordsDocumentedExamples:
    @pytest.mark.parametrize("model", [RolloutStatus, AnalysisRunStatus, ApplicationStatus])
    def test_when_parsed_then_they_are_valid_and_round_trip(self, model: type[Any]) -> None:
        example = _docstring_example(model)
        status = model.model_validate(example, by_alias=True, by_name=False)
        assert api.field_problems(status) == []
        dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert model.model_validate(dumped) == status

    def test_times_are_aware_utc_and_dump_as_kubernetes_writes_them(self) -> None:
        status = RolloutStatus.model_validate(
            {
                "pauseConditions": [
                    {"reason": "CanaryPauseStep", "startTime": "2024-05-01T14:00:00+02:00"}
                ]
            }
        )
        assert status.pause_conditions is not None
        start = status.pause_conditions[0].start_time
        assert start == datetime(2024, 5, 1, 12, tzinfo=UTC)
        dumped = status.model_dump(by_alias=True, exclude_none=True)
        assert dumped["pauseConditions"][0]["startTime"] == "2024-05-01T12:00:00Z"

    def test_observed_generation_accepts_argo_string_and_our_integer(self) -> None:
        assert (
            RolloutStatus.model_validate({"observedGeneration": "4"}).observed_generation_number
            == 4
        )
        assert RolloutStatus.model_validate({"observedGeneration": 4}).observed_generation == "4"


class TestGivenPythonCode:
    def test_when_a_model_is_built_by_attribute_name_then_it_dumps_argo_keys(self) -> None:
        canary = CanaryStrategy(stable_service="web-stable", canary_service="web-canary")
        assert canary.model_dump(by_alias=True, exclude_none=True) == {
            "stableService": "web-stable",
            "canaryService": "web-canary",
        }

    def test_dump_object_gives_plain_yaml_ready_data(self) -> None:
        rollout = parse_object(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "metadata": {"name": "web"},
                "spec": {
                    "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "strategy": {"canary": {"steps": [{"pause": {"duration": 10}}]}},
                },
                "status": {"phase": "Paused"},
            }
        )
        data = dump_object(rollout)
        assert yaml.safe_load(yaml.safe_dump(data)) == data
        assert type(data["status"]["phase"]) is str


def test_the_public_surface_is_pinned() -> None:
    assert sorted(api.__all__) == sorted(set(api.__all__))
    for name in api.__all__:
        assert hasattr(api, name), name
    for name in (
        "Rollout",
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
        "AnalysisRun",
        "Application",
        "Duration",
        "IntOrPercent",
        "SpecError",
        "parse_object",
        "check_object",
        "dump_object",
        "field_problems",
        "unsupported_field_catalog",
        "unsupported_metric_providers",
        "AnalysisPhase",
        "RolloutPhase",
    ):
        assert name in api.__all__
    assert set(api.KINDS) == {
        "Rollout",
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
        "AnalysisRun",
        "Experiment",
        "Application",
        "AppProject",
    }
