"""`read_rules` remembers the rules of a spec it has read (a run is read at least twice per
measurement): the same spec gives the very same immutable rules, a changed spec is read
again, and an invalid spec is refused every time."""

from __future__ import annotations

from typing import Any

import pytest

from analysis.decide_rules import InvalidRun, read_rules


def _run(name: str, count: int, condition: str = "result[0] >= 0.9") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"metrics": [{
        "name": "ok", "count": count, "interval": "10s", "successCondition": condition,
        "provider": {"prometheus": {"address": "http://prom:9090", "query": "up"}}}]}}


def test_the_same_spec_gives_the_same_rules() -> None:
    first = read_rules(_run("known-a", 3))
    assert read_rules(_run("known-a", 3)) is first
    assert first.metrics[0].count == 3


def test_a_changed_spec_is_read_again() -> None:
    before = read_rules(_run("known-b", 3))
    after = read_rules(_run("known-b", 5))
    assert after is not before and after.metrics[0].count == 5


def test_an_invalid_spec_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidRun, match="successCondition"):
            read_rules(_run("known-c", 3, condition="result[0] >="))
