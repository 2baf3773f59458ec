"""Conditions in Argo's expression language: what they mean, and how they fail.

The worked examples are Argo Rollouts' documented ones (analysis, Prometheus and web
metric pages) and the cases of Argo's own evaluator tests.
"""

from __future__ import annotations

import contextlib
import math

import pytest

from analysis.evaluator import ConditionError, compile_condition, evaluate

NAN = math.nan
INF = math.inf


class TestArgoDocumentedExamples:
    """Given the conditions Argo's docs show, with the results providers produce."""

    @pytest.mark.parametrize(
        ("condition", "result", "expected"),
        [
            # Prometheus vectors are lists of floats
            ("result[0] >= 0.95", [0.99], True),
            ("result[0] >= 0.95", [0.80], False),
            ("result >= 0.95", 0.97, True),  # a scalar query
            # "no data" treated as success, explicitly
            ("len(result) == 0 || result[0] < 5", [], True),
            ("len(result) == 0 || result[0] < 5", [3.0], True),
            ("len(result) == 0 || result[0] < 5", [7.0], False),
            ("isNaN(result[0])", [NAN], True),
            ("isNaN(result)", NAN, True),
            ("isNaN(result)", 0.5, False),
            ("isInf(result)", INF, True),
            ("default(result, 0) > 3", None, False),
            ("default(result, 0) > 3", 4.0, True),
            ("default(result[0], 0) > 3", [], False),
            ("default(result[0], 0) > 3", [4.0], True),
            ("isNil(result)", None, True),
            ("isNil(result)", [], False),
            # web metrics: JSON values
            ("asInt(result) == 1", "1", True),
            ("asInt(result) == 1", 1, True),
            ("asInt(result) == 1", 1.123, True),  # truncates, as Argo
            ("asFloat(result) == 1.1", "1.1", True),
            ("asFloat(result) >= 0.90", "0.95", True),
            ("asFloat(result) >= 1", 1, True),
            ("result == true", True, True),
            ("result == 'true'", "true", True),
            ("result == true", "true", False),  # a string is not a bool
            ("result.code == 200", {"code": 200}, True),
            (
                "result.ok && result.successPercent >= 0.90",
                {"ok": True, "successPercent": 0.95},
                True,
            ),
            (
                "result.ok && result.successPercent >= 0.90",
                {"ok": False, "successPercent": 0.95},
                False,
            ),
            # range queries: every value must pass
            ("all(result, # < 1000)", [10.0, 999.0], True),
            ("all(result, # < 1000)", [10.0, 1001.0], False),
            ("all(result, {# < 10})", [], True),
            (
                "all(result.service_apdex.values.values, {# > 1})",
                {"service_apdex": {"label": None, "values": {"values": [2.0, 2.0]}}},
                True,
            ),
            ("2 in result", [2.0, 2.0], True),
            ("result > 1", 5.0, True),
            ("true", True, True),
        ],
    )
    def test_condition_means_what_argo_documents(
        self, condition: str, result: object, expected: bool
    ) -> None:
        assert evaluate(condition, result) is expected

    def test_missing_data_is_an_error_not_a_pass(self) -> None:
        """`result[0] < 5` on an empty vector: index out of range, never true."""
        with pytest.raises(ConditionError, match=r"index out of range: 0 \(array length is 0\)"):
            evaluate("result[0] < 5", [])

    @pytest.mark.parametrize(
        ("condition", "result", "error"),
        [
            ("invalidVariable", True, "unknown name invalidVariable"),
            ("1", True, "condition must be true or false, got 1"),
            ("result.Name() == 'hi'", True, "cannot call Name()"),
            ("asInt(result) == 1.1", "1.1", "'1.1' is not an integer"),
            ("asFloat(result) == 1.1", "NotANum", "'NotANum' is not a number"),
            ("isNaN(result)", [1.0], "isNaN() needs a number, got array"),
            ("a == true", True, "unknown name a"),
        ],
    )
    def test_argo_error_cases_are_errors(self, condition: str, result: object, error: str) -> None:
        with pytest.raises(ConditionError, match=error.replace("(", r"\(").replace(")", r"\)")):
            evaluate(condition, result)


class TestOperators:
    @pytest.mark.parametrize(
        "condition",
        [
            "1 + 2 * 3 == 7",
            "(1 + 2) * 3 == 9",
            "-2 ** 2 == -4",
            "2 ** 3 ** 2 == 512",
            "2 ^ 3 == 8",
            "7 / 2 == 3.5",
            "7 % 3 == 1",
            "-7 % 3 == -1",  # Go's remainder follows the dividend
            "1 / 0 > 1e308",
            "isNaN(0 / 0)",
            "1_000 == 1e3",
            "1 == 1.0",
            "!(true == 1)",  # no Python bool/int coalescing
            "not false",
            "true and not false or false",
            "false || true && false == false",
            "1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 != 2",
            "'abc' < 'abd'",
            "'ab' + 'c' == 'abc'",
            "'abc' contains 'b' && 'abc' startsWith 'a' && 'abc' endsWith 'c'",
            "3 in [1, 2, 3] && 4 not in [1, 2, 3]",
            "[1, [2, 3]] == [1.0, [2, 3.0]]",
            "true ? 1 == 1 : false",
            "(false ? 1 : 2) == 2",
            "nil == nil",
            "'\\u00e9' == 'é' && \"a\\tb\" == 'a\tb' && `raw\\n` == 'raw\\\\n'",
        ],
    )
    def test_holds(self, condition: str) -> None:
        assert evaluate(condition, None) is True

    def test_logical_operators_short_circuit(self) -> None:
        assert evaluate("true || result[5] > 1", []) is True
        assert evaluate("false && result[5] > 1", []) is False

    @pytest.mark.parametrize(
        ("condition", "error"),
        [
            ("result > 1", "invalid operation: > (mismatched types array and int)"),
            ("result + 1 == 2", "invalid operation: + (mismatched types array and int)"),
            ("'a' < 1", "mismatched types string and int"),
            ("!1", "invalid operation: ! on int"),
            ("1 && true", "invalid operation: && on int"),
            ("1.5 % 2 == 1", "% needs integers"),
            ("1 % 0 == 1", "integer divide by zero"),
            ("9223372036854775807 + 1 > 0", "integer overflow"),
            ("99999999999999999999 > 0", "too large"),
            ("1 in 'abc'", "in needs an array or a map"),
            ("[1] in {}", "unexpected '{'"),
        ],
    )
    def test_type_errors(self, condition: str, error: str) -> None:
        with pytest.raises(ConditionError) as raised:
            evaluate(condition, [1.0])
        assert error in str(raised.value)


class TestDataAccess:
    def test_maps_arrays_and_strings(self) -> None:
        result = {"data": {"items": [{"v": 1}, {"v": 2}], "name": "canary"}}
        assert evaluate("result.data.items[1].v == 2", result)
        assert evaluate('result["data"]["name"] == "canary"', result)
        assert evaluate("result.data.items[-1].v == 2", result)
        assert evaluate("result.data.name[0:3] == 'can'", result)
        assert evaluate("len(result.data.items[1:]) == 1", result)
        assert evaluate("'data' in result && !('nope' in result)", result)

    def test_a_missing_key_is_nil_but_fetching_from_nil_is_an_error(self) -> None:
        assert evaluate("result.missing == nil", {})
        assert evaluate("result.code == 200", {}) is False
        with pytest.raises(ConditionError, match="cannot fetch b from nil"):
            evaluate("result.a.b == 1", {})
        assert evaluate("result?.a?.b == nil", {})
        assert evaluate("(result.a.b ?? 7) == 7", {})

    def test_only_dictionary_keys_are_reachable_never_python_attributes(self) -> None:
        class Secretive:
            token = "s3cr3t"

        with pytest.raises(ConditionError, match="cannot fetch token from Secretive"):
            evaluate("result.token == 's3cr3t'", Secretive())
        with pytest.raises(ConditionError, match="cannot fetch __class__"):
            evaluate("result.__class__ == nil", [1])
        assert evaluate("result.keys == nil", {"a": 1})  # a key lookup, not dict.keys

    def test_predicates_see_the_element_as_hash_and_its_fields_with_a_dot(self) -> None:
        pods = [{"ready": True, "restarts": 0}, {"ready": True, "restarts": 3}]
        assert evaluate("all(result, .ready)", pods)
        assert evaluate("any(result, #.restarts > 2)", pods)
        assert evaluate("none(result, .restarts > 5)", pods)
        assert evaluate("one(result, {.restarts > 2})", pods)
        assert evaluate("count(result, .restarts == 0) == 1", pods)
        assert evaluate("len(filter(result, .restarts > 0)) == 1", pods)
        assert evaluate("map(result, .restarts) == [0, 3]", pods)
        assert evaluate("all(result, all(#, # > 0))", [[1, 2], [3]])

    @pytest.mark.parametrize(
        "condition",
        [
            "len(result) == 3",
            "abs(-2) == 2 && abs(-1.5) == 1.5",
            "min(result) == 1 && max(result) == 3",
            "min(4, 2, 8) == 2 && max(4, 2.5) == 4",
            "sum(result) == 6 && mean(result) == 2",
            "int('42') == 42 && float('0.5') == 0.5 && int(2.9) == 2",
        ],
    )
    def test_functions(self, condition: str) -> None:
        assert evaluate(condition, [1, 2, 3])


class TestErrorsSayWhatAndWhere:
    @pytest.mark.parametrize(
        ("condition", "message"),
        [
            ("result[0] > 1)", "unexpected ')' at column 14"),
            ("(result[0] > 1", "unexpected end of expression (expected ')') at column 15"),
            ("result[0] >", "unexpected end of expression at column 12"),
            ("result[0] = 1", "unexpected character '=' at column 11"),
            ("resutl[0] > 1", "unknown name resutl (the measured value is called result)"),
            ("lenght(result) > 0", "unknown function lenght"),
            ("len(result, 1)", "len() takes 1 argument, got 2"),
            ("'open", "string is not closed at column 1"),
            ("# > 1", "'#' is only allowed inside a predicate"),
            ("result matches 'a.*'", "the 'matches' operator is not supported"),
            ("len", "len is a function: call it"),
            ("", "condition is empty"),
            ("1.5e > 1", "the exponent needs digits"),
        ],
    )
    def test_syntax_errors(self, condition: str, message: str) -> None:
        with pytest.raises(ConditionError) as raised:
            compile_condition(condition)
        assert message in str(raised.value)

    def test_error_carries_the_column(self) -> None:
        with pytest.raises(ConditionError) as raised:
            evaluate("len(result) >= 1 && result[3] > 0", [1.0])
        assert raised.value.position == 27
        assert raised.value.message == "index out of range: 3 (array length is 1)"


class TestBoundedWork:
    def test_long_conditions_are_refused(self) -> None:
        with pytest.raises(ConditionError, match="2001 characters long; the limit is 2000"):
            compile_condition("true" + " " * 1997)

    def test_deep_nesting_is_refused(self) -> None:
        with pytest.raises(ConditionError, match="nested too deeply"):
            compile_condition("(" * 150 + "true" + ")" * 150)
        with pytest.raises(ConditionError, match="nested too deeply"):
            compile_condition("result" + "[0]" * 150 + " == 1")

    def test_long_flat_chains_of_and_or_are_fine(self) -> None:
        condition = " || ".join(f"result == {n}" for n in range(120))  # 120 > depth limit
        assert evaluate(condition, 119)

    def test_runaway_evaluation_is_stopped(self) -> None:
        with pytest.raises(ConditionError, match="takes too long"):
            evaluate("all(result, all(result, all(result, # >= 0)))", list(range(100)))

    def test_strings_cannot_grow_without_bound(self) -> None:
        doubling = "map(" * 20 + "[result]" + ", # + #)" * 20
        with pytest.raises(ConditionError, match="string longer than"):
            evaluate(f"len({doubling}) > 0", "x" * 1000)

    @pytest.mark.parametrize(
        "condition",
        ["result > 1", "isNaN(result)", "result / 2 > 1", "asInt('9' + result) > 1", "result"],
    )
    def test_huge_numbers_in_results_are_handled(self, condition: str) -> None:
        for huge in (10**5000, "9" * 5000):
            with contextlib.suppress(ConditionError):  # any other exception fails the test
                evaluate(condition, huge)

    def test_compiling_is_cached(self) -> None:
        assert compile_condition("result[0] > 1") is compile_condition("result[0] > 1")
