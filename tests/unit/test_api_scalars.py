"""Int-or-percent, int-or-placeholder and quantities: parsing, rounding, round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollouts.api import IntOrArg, IntOrPercent, SpecError, parse_quantity
from rollouts.api.rollout import CanaryStrategy


class TestGivenMaxSurgeAndMaxUnavailableAsPercentages:
    @pytest.mark.parametrize(
        ("percent", "total", "surge", "unavailable"),
        [
            ("25%", 10, 3, 2),  # 2.5 pods: surge rounds up, unavailable down
            ("25%", 4, 1, 1),
            ("25%", 1, 1, 0),
            ("0%", 10, 0, 0),
            ("100%", 7, 7, 7),
            ("150%", 2, 3, 3),
        ],
    )
    def test_when_resolved_then_kubernetes_rounding_applies(
        self, percent: str, total: int, surge: int, unavailable: int
    ) -> None:
        value = IntOrPercent.parse(percent)
        assert value.resolve(total, round_up=True) == surge
        assert value.resolve(total, round_up=False) == unavailable

    def test_when_a_count_then_it_is_used_as_is(self) -> None:
        assert IntOrPercent.parse(3).resolve(100, round_up=True) == 3

    def test_when_omitted_then_the_defaults_are_25_percent_and_not_dumped(self) -> None:
        canary = CanaryStrategy.model_validate({})
        assert canary.max_surge_or_default == IntOrPercent("25%")
        assert canary.max_unavailable_or_default.resolve(10, round_up=False) == 2
        assert canary.model_dump(by_alias=True, exclude_none=True) == {}

    @pytest.mark.parametrize("written", ["25", "25.5%", "-1%", "%", "a%", -1, True, 2.5, None])
    def test_when_malformed_then_spec_error(self, written: object) -> None:
        with pytest.raises(SpecError):
            IntOrPercent.parse(written)


class TestGivenAnalysisCountersThatMayHoldArguments:
    def test_when_a_placeholder_then_the_value_waits_for_the_run(self) -> None:
        count = IntOrArg.parse("{{args.count}}")
        assert count.is_placeholder and count.value is None
        with pytest.raises(SpecError, match="placeholder"):
            count.resolved()

    def test_when_digits_then_they_are_the_number(self) -> None:
        assert IntOrArg.parse("3").value == 3
        assert IntOrArg.parse(3).resolved() == 3

    def test_when_neither_then_spec_error_shows_both_spellings(self) -> None:
        with pytest.raises(SpecError, match=r"\{\{args.NAME\}\}"):
            IntOrArg.parse("three")


class TestGivenKubernetesQuantities:
    @pytest.mark.parametrize(
        ("written", "value"),
        [
            ("16Mi", Decimal(16 * 2**20)),
            ("1Gi", Decimal(2**30)),
            ("100m", Decimal("0.1")),
            ("1", Decimal(1)),
            ("0.5", Decimal("0.5")),
            (".5", Decimal("0.5")),
            ("2e3", Decimal(2000)),
            ("1E", Decimal(10**18)),
            ("1k", Decimal(1000)),
            (2, Decimal(2)),
            (0.25, Decimal("0.25")),
        ],
    )
    def test_when_parsed_then_the_value_is_exact(self, written: object, value: Decimal) -> None:
        assert parse_quantity(written) == value

    @pytest.mark.parametrize(
        "written", ["invalid", "16MB", "1.2.3", "Mi", "", " 1", "1 Gi", True, None]
    )
    def test_when_malformed_then_spec_error_names_the_value(self, written: object) -> None:
        with pytest.raises(SpecError, match="quantity"):
            parse_quantity(written)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_a_percentage_rounds_up_and_down_within_one_pod(percent: int, total: int) -> None:
    value = IntOrPercent.parse(f"{percent}%")
    up, down = value.resolve(total, round_up=True), value.resolve(total, round_up=False)
    assert down <= percent * total / 100 <= up
    assert up - down in (0, 1)
    assert value.raw == f"{percent}%"


@given(st.one_of(st.integers(min_value=0), st.integers(0, 10**6).map(lambda p: f"{p}%")))
def test_int_or_percent_round_trips_through_a_model(written: int | str) -> None:
    canary = CanaryStrategy.model_validate({"maxSurge": written})
    dumped = canary.model_dump(by_alias=True, exclude_none=True)
    assert dumped == {"maxSurge": written}
    assert CanaryStrategy.model_validate(dumped) == canary


@given(st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans(), st.none()))
def test_any_input_is_an_int_or_percent_or_a_spec_error(value: object) -> None:
    try:
        parsed = IntOrPercent.parse(value)
    except SpecError:
        return
    assert parsed.value >= 0


@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.booleans()))
def test_any_input_is_a_quantity_or_a_spec_error(value: object) -> None:
    try:
        quantity = parse_quantity(value)
    except SpecError:
        return
    assert quantity.is_finite()


@given(st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none()))
def test_any_input_is_an_int_or_arg_or_a_spec_error(value: object) -> None:
    try:
        parsed = IntOrArg.parse(value)
    except SpecError:
        return
    assert IntOrArg.parse(parsed.raw) == parsed
