"""`emptyResult` (our extension): what a measurement that found no data is.

Unset, the conditions judge `[]` and NaN as Argo's do (`result[0]` on `[]` is an Error
measurement; NaN fails every comparison). Set, a value without data (`[]`, null, NaN, a
list of NaN only) is Inconclusive (hold), Failed or Error before any condition is read;
a value with data is judged by the conditions as always. Lint accepts the field with a
note that it is ours; the CRDs accept its three values and nothing else.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analysis.decide_rules import is_empty
from rollouts.api import Severity, check_object
from rollouts.cli.lint_cmd import lint
from rollouts.lint import lint_text
from tests.unit.test_analysis_decide import Controller, analysis_run, metric
from tests.unit.test_crds_static import validate_doc

GUARDED = "result[0] < 0.05"


def empty_result_metric(choice: str | None, **fields: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"successCondition": GUARDED, **fields}
    if choice is not None:
        settings["emptyResult"] = choice
    return metric("error-ratio", **settings)


def phases_after(choice: str | None, answers: list[object], **fields: Any) -> list[str]:
    controller = Controller(analysis_run(empty_result_metric(choice, **fields)))
    return controller.feed("error-ratio", answers)


class TestUnsetIsArgosBehaviour:
    def test_no_series_is_an_error_measurement_and_five_in_a_row_end_the_run_in_error(
        self,
    ) -> None:
        controller = Controller(analysis_run(empty_result_metric(None, interval="1m")))
        assert controller.feed("error-ratio", [[]] * 5) == ["Running"] * 4 + ["Error"]
        assert controller.measurements("error-ratio")[0]["phase"] == "Error"

    def test_a_nan_scalar_fails_a_success_condition(self) -> None:
        indexed = Controller(analysis_run(empty_result_metric(None)))
        assert indexed.feed("error-ratio", [math.nan]) == ["Running"]  # result[0] on a float
        assert indexed.measurements("error-ratio")[0]["phase"] == "Error"
        controller = Controller(analysis_run(metric("r", successCondition="result < 0.05")))
        assert controller.feed("r", [math.nan]) == ["Failed"]


class TestInconclusive:
    def test_no_series_is_an_inconclusive_measurement_and_the_run_holds(self) -> None:
        controller = Controller(analysis_run(empty_result_metric("Inconclusive")))

        assert controller.feed("error-ratio", [[]]) == ["Inconclusive"]

        first = controller.measurements("error-ratio")[0]
        assert first["phase"] == "Inconclusive"
        assert first["value"] == "[]"
        assert first["message"] == "no data (no series): emptyResult is Inconclusive"
        result = controller.result("error-ratio")
        assert (result["inconclusive"], result["error"], result["failed"]) == (1, 0, 0)
        assert controller.status["message"].startswith(
            'Metric "error-ratio" assessed Inconclusive due to inconclusive (1) > '
            "inconclusiveLimit (0)")

    @pytest.mark.parametrize("empty", [[], None, math.nan, [math.nan], [math.nan, math.nan]])
    def test_every_shape_of_no_data_counts(self, empty: object) -> None:
        assert phases_after("Inconclusive", [empty]) == ["Inconclusive"]

    def test_counts_toward_inconclusive_limit_and_data_is_still_judged(self) -> None:
        phases = phases_after("Inconclusive", [[], [0.01], [], [0.02], []], interval="1m",
                              count=5, inconclusiveLimit=2)
        assert phases == ["Running", "Running", "Running", "Running", "Inconclusive"]

    def test_a_value_with_data_is_judged_by_the_conditions(self) -> None:
        assert phases_after("Inconclusive", [[0.5]]) == ["Failed"]
        assert phases_after("Inconclusive", [[0.01]]) == ["Successful"]
        assert phases_after("Inconclusive", [[math.nan, 0.01]]) == ["Failed"]  # some data


class TestFailedAndError:
    def test_failed_counts_toward_failure_limit(self) -> None:
        assert phases_after("Failed", [[], []], interval="1m", count=3, failureLimit=1) == [
            "Running", "Failed"]

    def test_error_counts_toward_consecutive_error_limit(self) -> None:
        controller = Controller(analysis_run(empty_result_metric(
            "Error", interval="1m", consecutiveErrorLimit=1)))
        assert controller.feed("error-ratio", [[], []]) == ["Running", "Error"]
        result = controller.result("error-ratio")
        assert (result["error"], result["consecutiveError"], result["count"]) == (2, 2, 0)
        assert controller.measurements("error-ratio")[0]["message"] == (
            "no data (no series): emptyResult is Error")


def test_is_empty_only_for_values_without_data() -> None:
    empty: list[object] = [[], None, math.nan, [math.nan]]
    data: list[object] = [[0.0], 0.0, [math.nan, 1.0], {}, "", False, math.inf]
    assert all(is_empty(v) for v in empty)
    assert not any(is_empty(v) for v in data)


def template(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "error-ratio"},
            "spec": {"metrics": [empty_result_metric(None, **fields)]}}


class TestLintAndSchema:
    def test_lint_accepts_it_with_a_note_that_it_is_ours(self) -> None:
        result = check_object(template(emptyResult="Inconclusive"))
        assert result.ok and result.warnings == []
        [note] = result.notes
        assert note.severity is Severity.NOTE
        assert note.path == "spec.metrics[0].emptyResult"
        assert "rollouts extension: Argo Rollouts does not have this field" in note.message

    def test_a_note_is_printed_but_never_fails_lint(self) -> None:
        import yaml

        report = lint_text(yaml.safe_dump(template(emptyResult="Failed")), "t.yaml")
        assert (report.errors, report.warnings, report.notes) == (0, 0, 1)
        assert str(report.problems[0]).startswith(
            "t.yaml:1:spec.metrics[0].emptyResult: note: a rollouts extension")

    def test_lint_strict_passes_a_note_and_the_summary_counts_it(self, tmp_path: Path) -> None:
        import yaml

        path = tmp_path / "t.yaml"
        path.write_text(yaml.safe_dump(template(emptyResult="Error")))
        result = CliRunner().invoke(lint, ["--strict", str(path)])
        assert result.exit_code == 0
        assert result.stdout.startswith(f"{path}:1:spec.metrics[0].emptyResult: note: ")
        assert result.stderr.strip().endswith("0 errors, 0 warnings, 1 note")

    def test_an_unknown_choice_is_an_error(self) -> None:
        result = check_object(template(emptyResult="Maybe"))
        assert not result.ok
        assert "emptyResult" in str(result.errors[0])

    def test_argo_manifests_get_no_note(self) -> None:
        assert check_object(template()).problems == ()

    @pytest.mark.parametrize("kind", ["AnalysisTemplate", "ClusterAnalysisTemplate",
                                      "AnalysisRun"])
    def test_the_crds_take_the_three_choices_only(self, kind: str) -> None:
        for choice in ("Inconclusive", "Failed", "Error"):
            assert validate_doc({**template(emptyResult=choice), "kind": kind}) == []
        assert validate_doc({**template(emptyResult="Maybe"), "kind": kind}) != []
