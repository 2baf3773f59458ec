"""Durations as Argo writes them: what parses, what it means, and that it dumps unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollouts.api import Duration, SpecError
from rollouts.api.rollout import Pause

_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


class TestGivenTheSpellingsArgoAccepts:
    @pytest.mark.parametrize(
        ("written", "seconds"),
        [
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h", 3600.0),
            ("1h30m", 5400.0),
            ("500ms", 0.5),
            ("1.5h", 5400.0),
            ("2m30.5s", 150.5),
            ("0", 0.0),
            ("45", 45.0),
            (45, 45.0),
            (0, 0.0),
            ("300us", 0.0003),
        ],
    )
    def test_when_parsed_then_seconds_is_the_length_and_raw_is_what_was_written(
        self, written: int | str, seconds: float
    ) -> None:
        duration = Duration.parse(written)
        assert duration.seconds == pytest.approx(seconds)
        assert duration.raw == written

    def test_when_negative_then_it_parses_and_says_so_for_the_rules_to_refuse(self) -> None:
        assert Duration.parse("-5s").is_negative
        assert Duration.parse(-5).seconds == -5.0


class TestGivenSomethingThatIsNotADuration:
    @pytest.mark.parametrize(
        "written",
        ["", "abc", "5x", "5 s", " 5s", "s", ".s", "1.2.3s", "--5s", "5sm", True, 1.5, None, []],
    )
    def test_when_parsed_then_spec_error_says_how_to_write_one(self, written: object) -> None:
        with pytest.raises(SpecError, match="30s"):
            Duration.parse(written)

    def test_when_longer_than_go_allows_then_spec_error(self) -> None:
        with pytest.raises(SpecError, match="too long"):
            Duration.parse("3000000h")


class TestGivenADurationInAModel:
    def test_when_dumped_then_the_user_spelling_comes_back(self) -> None:
        for written in ("1h30m", 90, "90"):
            pause = Pause.model_validate({"duration": written})
            assert pause.model_dump(by_alias=True, exclude_none=True) == {"duration": written}
            assert pause.model_dump(mode="json", by_alias=True) == {"duration": written}

    def test_when_absent_then_the_pause_waits_until_promoted(self) -> None:
        pause = Pause.model_validate({})
        assert pause.is_indefinite and pause.duration_seconds is None
        assert pause.model_dump(by_alias=True, exclude_none=True) == {}


# --- properties -----------------------------------------------------------------------

_components = st.lists(
    st.tuples(
        st.one_of(
            st.integers(min_value=0, max_value=10_000).map(str),
            st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda p: f"{p[0]}.{p[1]}"),
        ),
        st.sampled_from(sorted(_UNITS)),
    ),
    min_size=1,
    max_size=4,
)


@given(_components)
def test_a_go_duration_means_the_sum_of_its_parts(parts: list[tuple[str, str]]) -> None:
    text = "".join(number + unit for number, unit in parts)
    expected = sum(Decimal(number) * _UNITS[unit] for number, unit in parts)
    duration = Duration.parse(text)
    assert duration.nanoseconds == int(expected)
    assert duration.raw == text


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_integer_seconds_round_trip_as_int_and_as_digit_string(seconds: int) -> None:
    assert Duration.parse(seconds).seconds == seconds
    assert Duration.parse(str(seconds)).seconds == seconds
    assert Duration.parse(seconds).raw == seconds


@given(st.integers(min_value=0, max_value=10**9))
def test_from_seconds_of_whole_milliseconds_gives_back_the_same_length(milliseconds: int) -> None:
    assert Duration.from_seconds(milliseconds / 1000).nanoseconds == milliseconds * 10**6


@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none()))
def test_any_input_parses_or_raises_spec_error_and_nothing_else(value: object) -> None:
    try:
        duration = Duration.parse(value)
    except SpecError:
        return
    assert Duration.parse(duration.raw) == duration
    model = Pause.model_validate({"duration": value})
    assert Pause.model_validate(model.model_dump(by_alias=True)) == model
