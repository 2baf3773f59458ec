"""Hostile inputs to the analysis side, fed to the real evaluator and state machine.

Each test is one finding of the December 2026 security review (issue 11): a condition
built to exhaust memory (M2), measured values that echo a Secret (M4). The HTTP side
(redirects, slow and huge servers, the egress policy) is in
tests/integration/test_analysis_hostile.py, against real servers on 127.0.0.1.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from analysis.decide import Outcome, plan_run, record
from analysis.evaluator import ConditionError, evaluate
from analysis.expr_values import MAX_BUILT_BYTES

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MiB = 1024 * 1024


def _run(condition: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "hostile", "namespace": "default"},
        "spec": {"metrics": [{"name": "m", "successCondition": condition,
                              "provider": {"web": {"url": "http://checks/"}}}]},
    }


def _peak_while(action: Any) -> tuple[float, int, object]:
    """(seconds, peak bytes allocated, what `action` returned or raised) while it runs."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        try:
            result: object = action()
        except ConditionError as error:
            result = error
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return time.monotonic() - started, peak, result


class TestMemoryBomb:
    """M2: `map` over a large array of a slice of a large string used to build gigabytes
    (4.7 GB for these sizes, measured by the review) before the step budget tripped."""

    PROBE = "len(map(result.arr, result.big[1:])) > 0"

    @pytest.mark.parametrize("big", [200_000, 2_000_000], ids=["200KB", "2MB"])
    def test_the_review_probe_stops_at_the_memory_budget(self, big: int) -> None:
        result = {"arr": list(range(30_000)), "big": "x" * big}
        seconds, peak, outcome = _peak_while(lambda: evaluate(self.PROBE, result))
        assert isinstance(outcome, ConditionError), outcome
        assert f"builds more than {MAX_BUILT_BYTES // MiB} MiB" in str(outcome)
        assert peak < 100 * MiB, f"peak {peak / MiB:.0f} MiB"
        assert seconds < 10

    def test_the_probe_is_an_error_measurement(self) -> None:
        run = _run(self.PROBE)
        status = plan_run(run, T0).status
        value = {"arr": list(range(30_000)), "big": "x" * 2_000_000}
        _, peak, after = _peak_while(
            lambda: record(run, status, "m", Outcome.measured(value), T0))
        assert isinstance(after, dict)
        [measurement] = after["metricResults"][0]["measurements"]
        assert measurement["phase"] == "Error"
        assert "builds more than 16 MiB" in measurement["message"]
        assert "\n" not in measurement["message"]
        assert peak < 100 * MiB, f"peak {peak / MiB:.0f} MiB"

    @pytest.mark.parametrize("condition", [
        "len(filter(result.arr, len(result.big[1:]) > 0)) > 0",  # slices kept alive by nothing
        "len(map(result.arr, [result.big[1:], result.big[2:]])) > 0",
        "len(map(result.arr, map(result.arr, #))) > 0",           # arrays of arrays
        "len(map(result.arr, result.arr[1:])) > 0",
        "len(map(result.arr, result.small + result.small)) > 0",  # concatenation
    ])
    def test_other_ways_to_copy_stop_too(self, condition: str) -> None:
        result = {"arr": list(range(30_000)), "big": "x" * 2_000_000, "small": "y" * 50_000}
        seconds, peak, outcome = _peak_while(lambda: evaluate(condition, result))
        assert isinstance(outcome, ConditionError), outcome
        assert peak < 100 * MiB, f"{condition}: peak {peak / MiB:.0f} MiB"
        assert seconds < 10

    def test_scanning_a_long_string_again_and_again_runs_out_of_steps(self) -> None:
        result = {"arr": list(range(30_000)), "big": "ab" * 1_000_000}
        seconds, _, outcome = _peak_while(
            lambda: evaluate('none(result.arr, result.big contains "abc")', result))
        assert isinstance(outcome, ConditionError) and "too long" in str(outcome), outcome
        assert seconds < 10

    def test_as_float_of_a_long_digit_string_is_linear(self) -> None:
        # The old float pattern backtracked quadratically: 16k digits took ~10 s.
        started = time.monotonic()
        with pytest.raises(ConditionError, match="is not a number"):
            evaluate("asFloat(result) > 0", "1" * 2_000_000 + "x")
        assert time.monotonic() - started < 5

    @pytest.mark.parametrize(("condition", "result"), [
        ("len(result.text[1:]) == 3", {"text": "abcd"}),
        ("len(map(result, # * 2)) == 3 && sum(result) == 6", [1, 2, 3]),
        ("len(filter(result, # > 1)) == 2", [1, 2, 3]),
        ('result.a + result.b == "xy"', {"a": "x", "b": "y"}),
        ("[1, 2][1:] == [2]", None),
        ('result.body contains "ok"', {"body": "ok " * 1_000_000}),  # a 3 MB friendly answer
        ("sum(result) > 0", list(range(1, 50_000))),
    ])
    def test_friendly_conditions_still_fit(self, condition: str, result: object) -> None:
        assert evaluate(condition, result) is True
