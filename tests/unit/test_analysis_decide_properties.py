"""Properties of the AnalysisRun state machine over random provider behaviour: the counters
add up, the verdict is final, errors never promote, and planning is idempotent."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.decide import Outcome, plan_run, record
from tests.unit.test_analysis_decide import T0, analysis_run, metric

outcomes = st.one_of(
    st.lists(st.floats(min_value=0, max_value=1), max_size=2).map(Outcome.measured),
    st.just(Outcome.failed("connection refused")),
    st.sampled_from([None, "garbage", {"a": 1}]).map(Outcome.measured),
)

metric_specs = st.fixed_dictionaries(
    {
        "interval": st.sampled_from(["10s", "1m"]),
        "count": st.integers(min_value=1, max_value=6),
        "failureLimit": st.integers(min_value=0, max_value=2),
        "inconclusiveLimit": st.integers(min_value=0, max_value=2),
        "consecutiveErrorLimit": st.integers(min_value=0, max_value=3),
        "successCondition": st.just("len(result) > 0 && result[0] >= 0.5"),
        "failureCondition": st.sampled_from([None, "len(result) > 0 && result[0] < 0.2"]),
    }
).map(lambda fields: {key: value for key, value in fields.items() if value is not None})


def _check_invariants(status: dict[str, Any]) -> None:
    for result in status.get("metricResults", []):
        assert result["count"] == result["successful"] + result["failed"] + result["inconclusive"]
        assert 0 <= result["consecutiveError"] <= result["error"]
        assert len(result.get("measurements", [])) <= 10


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(metric_specs, min_size=1, max_size=2),
    script=st.lists(outcomes, min_size=1, max_size=15),
    dry_run=st.booleans(),
)
def test_random_runs_keep_their_invariants(
    specs: list[dict[str, Any]], script: list[Outcome], dry_run: bool
) -> None:
    names = [f"m{index}" for index in range(len(specs))]
    spec: dict[str, Any] = {}
    if dry_run:
        spec["dryRun"] = [{"metricName": "m0"}]
    run = analysis_run(*(metric(name, **s) for name, s in zip(names, specs, strict=True)), **spec)
    now = T0
    plan = plan_run(run, now)
    answers = iter(script)
    only_errors = all(outcome.error is not None for outcome in script)
    while not plan.done:
        status = plan.status
        for name in plan.due:
            outcome = next(answers, None)
            if outcome is None:
                _check_invariants(status)
                return
            status = record(run, status, name, outcome, now)
        run["status"] = status
        plan = plan_run(run, now)
        _check_invariants(plan.status)
        again = plan_run({**run, "status": copy.deepcopy(plan.status)}, now)
        assert again.status == plan.status  # planning twice changes nothing
        if plan.done:
            break
        assert plan.next_wake is not None and plan.next_wake > now
        now = plan.next_wake
        run["status"] = plan.status
        plan = plan_run(run, now)
    final = plan.phase
    assert final.completed
    if only_errors and not dry_run:
        assert final.value == "Error"  # missing data never promotes
    later = plan_run({**run, "status": plan.status}, now + timedelta(days=1))
    assert later.status == plan.status and later.done
