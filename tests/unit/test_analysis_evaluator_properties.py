"""Properties of the condition evaluator: whatever the text and the result, it answers a
bool or raises `ConditionError`, quickly; and it agrees with arithmetic where it should."""

from __future__ import annotations

import math
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.evaluator import ConditionError, evaluate

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63, -(2**63) - 1, 10**400, -(10**4000)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)

# Fragments that make plausible (and implausible) conditions when strung together.
VOCABULARY = [
    "result", "result[0]", "result[-1]", "result.a", "result?.b", "result['k']", "#", ".x",
    "0", "1", "0.95", "1e3", "-1", "'s'", '"t"', "true", "false", "nil", "[1, 2]", "[]",
    "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "**", "^", "??",
    "&&", "||", "!", "not", "and", "or", "in", "not in", "contains", "startsWith",
    "?", ":", "(", ")", "[", "]", "{", "}", ",", ".", "[1:2]",
    "len(", "all(", "any(", "filter(", "map(", "count(", "one(", "none(", "default(",
    "isNil(", "isNaN(", "isInf(", "asInt(", "asFloat(", "min(", "max(", "sum(", "mean(",
    "abs(", "int(", "float(", "'1e999'", "99999999999", "/ 0", "** 0.5",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=25).map(" ".join)


def _outcome(condition: str, result: object) -> bool | None:
    """The condition's verdict, or None when it raised ConditionError (nothing else may)."""
    started = time.perf_counter()
    try:
        verdict = evaluate(condition, result)
    except ConditionError as error:
        assert isinstance(error.message, str) and error.message
        assert error.position is None or 1 <= error.position <= len(condition) + 1
        return None
    finally:
        assert time.perf_counter() - started < 2.0, "evaluation must be bounded"
    assert isinstance(verdict, bool)
    return verdict


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(condition=st.text(max_size=80), result=json_values)
def test_arbitrary_text_only_ever_raises_condition_error(condition: str, result: object) -> None:
    _outcome(condition, result)


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(condition=token_soup, result=json_values)
def test_token_soup_only_ever_raises_condition_error(condition: str, result: object) -> None:
    _outcome(condition, result)


@settings(max_examples=40)
@given(condition=token_soup, depth=st.integers(min_value=500, max_value=3000))
def test_deeply_nested_results_do_not_crash(condition: str, depth: int) -> None:
    result: object = 1.0
    for _ in range(depth):
        result = [result]
    _outcome(condition, result)
    _outcome("result == result", result)


@given(st.lists(st.floats(allow_nan=False), max_size=5))
def test_empty_as_success_idiom_matches_its_meaning(values: list[float]) -> None:
    expected = len(values) == 0 or values[0] < 5
    assert evaluate("len(result) == 0 || result[0] < 5", values) is expected


@given(st.lists(st.floats(allow_nan=False), max_size=5))
def test_first_value_without_guard_never_passes_missing_data(values: list[float]) -> None:
    if values:
        assert evaluate("result[0] >= 0.95", values) is (values[0] >= 0.95)
    else:
        assert _outcome("result[0] >= 0.95", values) is None


@given(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.integers(min_value=-(2**31), max_value=2**31),
)
def test_integer_arithmetic_agrees_with_go(a: int, b: int) -> None:
    assert evaluate(f"{a} + {b} == {a + b}", None)
    assert evaluate(f"{a} * {b} == {a * b}", None)
    assert evaluate(f"({a} < {b}) == {str(a < b).lower()}", None)
    if b != 0:
        truncated = abs(a) % abs(b) * (-1 if a < 0 else 1)
        assert evaluate(f"{a} % {b} == {truncated}", None)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=8))
def test_all_and_any_agree_with_python(values: list[float]) -> None:
    assert evaluate("all(result, # < 10)", values) is all(v < 10 for v in values)
    assert evaluate("any(result, {# > 0.5})", values) is any(v > 0.5 for v in values)
    assert evaluate("count(result, # > 0) == " + str(sum(v > 0 for v in values)), values)


@given(st.floats())
def test_nan_and_inf_checks(value: float) -> None:
    assert evaluate("isNaN(result)", value) is math.isnan(value)
    assert evaluate("isInf(result)", value) is math.isinf(value)
