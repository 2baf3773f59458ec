"""Numeric thresholds read from simple conditions, for the backtest chart. Pure.

`result[0] < 0.05` has the threshold 0.05; so do `result < 0.05`, `0.05 > result[0]` and
`asFloat(result[0]) < 0.05`. `&&`/`||` of such comparisons give each of their thresholds
(`result[0] > 0.9 && result[0] <= 1`), and guards about missing data may stand beside
them (`len(result) == 0 || result[0] < 0.05`, `!isNaN(result[0]) && ...`). Anything else
(`all(result, {# < 1})`, arithmetic on `result`, a comparison of two results) is not
simple: the chart then draws values and verdicts only, and says so.

The condition is read with the evaluator's own parser (`analysis.expr_parser`), never
evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.expr_lexer import ConditionError
from analysis.expr_parser import Binary, Call, Index, Literal, Logical, Name, Node, Unary, parse

__all__ = ["Thresholds", "thresholds"]

_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_GUARD_FUNCTIONS = frozenset({"isNaN", "isInf", "isNil", "len"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a condition compares the first value with; `simple` False: no line can be drawn."""

    values: tuple[float, ...]
    simple: bool


def thresholds(condition: str | None) -> Thresholds:
    """The numeric thresholds of `condition` (None or empty: none, and simple)."""
    if condition is None or not condition.strip():
        return Thresholds((), True)
    try:
        tree = parse(condition)
    except ConditionError:
        return Thresholds((), False)
    found: list[float] = []
    if not _collect(tree, found) or not found:
        return Thresholds((), False)
    return Thresholds(tuple(dict.fromkeys(found)), True)


def _collect(node: Node, found: list[float]) -> bool:
    """Add the thresholds of `node` to `found`; False when it is not simple."""
    if isinstance(node, Logical):
        return all(_collect(operand, found) or _is_guard(operand) for operand in node.operands)
    if isinstance(node, Binary) and node.op in _COMPARISONS:
        left, right = _number(node.left), _number(node.right)
        if right is not None and _is_first_value(node.left):
            found.append(right)
            return True
        if left is not None and _is_first_value(node.right):
            found.append(left)
            return True
    return False


def _is_first_value(node: Node) -> bool:
    """`result`, `result[0]`, or either wrapped in `asFloat(...)` / `asInt(...)`."""
    if isinstance(node, Call) and node.function in ("asFloat", "asInt") and len(node.args) == 1:
        return _is_first_value(node.args[0])
    if isinstance(node, Name):
        return node.name == "result"
    if isinstance(node, Index):
        index = node.index
        return (isinstance(node.target, Name) and node.target.name == "result"
                and isinstance(index, Literal) and index.value == 0)
    return False


def _number(node: Node) -> float | None:
    if isinstance(node, Unary) and node.op in ("-", "+"):
        inner = _number(node.operand)
        return None if inner is None else (-inner if node.op == "-" else inner)
    if isinstance(node, Literal) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _is_guard(node: Node) -> bool:
    """A test about missing data that draws no line: `len(result) == 0`, `isNaN(result[0])`."""
    if isinstance(node, Unary) and node.op == "!":
        return _is_guard(node.operand)
    if isinstance(node, Call):
        return node.function in _GUARD_FUNCTIONS
    if isinstance(node, Binary) and node.op in _COMPARISONS:
        return any(isinstance(side, Call) and side.function == "len"
                   for side in (node.left, node.right))
    return False
