"""The values a condition computes with, and the operators on them, as expr defines them.

Values are JSON-like: None (`nil`), bool, int, float, str, list (expr's array), dict (map)
and, from a `result`, tuples (read as arrays). Every operator checks its operand types
the way expr does at run time: comparing an array with a number, adding a string to a
number, `!` on a number are `ConditionError`s, never Python coercions. `true == 1` is
false (Python would say true). Integers stay within int64; division is always float.

`Budget` counts the work an evaluation does and the memory it builds; the evaluator and
the functions of `analysis.expr_functions` spend from it so that no condition runs
unbounded. Steps are node and element visits; bytes are what new strings and arrays
(slices, `map`, `filter`, array literals, `+`) take, measured with `sys.getsizeof`, so a
condition that copies a large `result` over and over stops at `MAX_BUILT_BYTES` instead of
exhausting the controller's memory. Scanning a long string (`contains`, `==`) costs a step
per `SCAN_CHARS_PER_STEP` characters.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import TypeVar

from analysis.expr_lexer import MAX_INT, ConditionError

__all__ = [
    "MAX_BUILT_BYTES",
    "MAX_STEPS",
    "MAX_STRING",
    "SCAN_CHARS_PER_STEP",
    "Budget",
    "Missing",
    "arithmetic",
    "as_array",
    "check_int",
    "compare",
    "contains",
    "describe",
    "equal",
    "is_number",
    "membership",
    "to_float",
    "type_name",
]

MAX_STEPS = 100_000
"""Node visits and element visits one evaluation may make."""
MAX_STRING = 100_000
"""Longest string a condition may build (by `+`)."""
MAX_BUILT_BYTES = 16 * 1024 * 1024
"""Bytes of new strings and arrays one evaluation may build, summed (`sys.getsizeof`).

Without it `map(result.items, result.text[1:])` copies `result.text` once per element:
gigabytes from a 200 KB answer in 100,000 steps."""
SCAN_CHARS_PER_STEP = 1024
"""Characters a string comparison or search may scan per budget step."""


class Missing(ConditionError):
    """A value that is not there: index out of range, or a field fetched from nil.

    `default(x, d)`, `isNil(x)` and `x ?? d` treat it as nil; anywhere else it is an
    ordinary `ConditionError`.
    """


_Built = TypeVar("_Built")


class Budget:
    """Work and memory left for one evaluation; raises `ConditionError` when either runs out.

    `spend` counts steps, `build` charges a new string or array (and returns it), `scan`
    charges reading a long string.
    """

    __slots__ = ("bytes_left", "left")

    def __init__(self, steps: int = MAX_STEPS, built_bytes: int = MAX_BUILT_BYTES) -> None:
        self.left = steps
        self.bytes_left = built_bytes

    def spend(self, steps: int = 1, position: int | None = None) -> None:
        self.left -= steps
        if self.left < 0:
            raise ConditionError(
                f"condition takes too long to evaluate (more than {MAX_STEPS} steps)", position
            )

    def build(self, value: _Built, position: int | None = None) -> _Built:
        """Charge the new string or array `value` (its own size, not its elements')."""
        self.bytes_left -= sys.getsizeof(value)
        if self.bytes_left < 0:
            raise ConditionError(
                f"condition builds more than {MAX_BUILT_BYTES // (1024 * 1024)} MiB of strings "
                "and arrays (slices, map, filter and + copy their input); simplify it",
                position,
            )
        return value

    def scan(self, characters: int, position: int | None = None) -> None:
        """Charge reading `characters` characters of strings."""
        if characters >= SCAN_CHARS_PER_STEP:
            self.spend(characters // SCAN_CHARS_PER_STEP, position)


def is_number(value: object) -> bool:
    """An int or float, but not a bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_array(value: object) -> Sequence[object] | None:
    """The value as an array (list or tuple), or None when it is not one."""
    return value if isinstance(value, list | tuple) else None


def type_name(value: object) -> str:
    """expr's name for the value's type, for error messages."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "map"
    named = getattr(type(value), "expr_type_name", None)  # the method-call value types
    return named if isinstance(named, str) else type(value).__name__


def describe(value: object) -> str:
    """A short rendering of a value for messages (`0.5`, `"ok"`, `array of 3`): bounded."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return '"' + shown.replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return f"array of {len(value)}"
    if isinstance(value, Mapping):
        return f"map of {len(value)}"
    return type_name(value)


def format_number(value: int | float) -> str:
    """Numbers as Go prints them: `1`, `0.95`, `NaN`, `+Inf`."""
    if isinstance(value, int):
        return str(value) if abs(value) <= MAX_INT + 1 else "an integer beyond 64 bits"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def to_float(value: int | float) -> float:
    """A number as a float; an int too large for one is +-Inf (Python would raise)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_int(value: int, position: int | None) -> int:
    if -MAX_INT - 1 <= value <= MAX_INT:
        return value
    raise ConditionError("integer overflow (results must fit in 64 bits)", position)


def equal(left: object, right: object, budget: Budget) -> bool:
    """expr's `==`: numbers by value, arrays and maps element by element, no coercion."""
    pending = [(left, right)]
    while pending:
        a, b = pending.pop()
        budget.spend()
        if is_number(a) and is_number(b):
            if a != b:
                return False
        elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
            if len(a) != len(b):
                return False
            pending.extend(zip(a, b, strict=True))
        elif isinstance(a, Mapping) and isinstance(b, Mapping):
            if len(a) != len(b) or any(key not in b for key in a):
                return False
            pending.extend((a[key], b[key]) for key in a)
        elif isinstance(a, str) and isinstance(b, str):
            budget.scan(min(len(a), len(b)))
            if a != b:
                return False
        elif type_name(a) != type_name(b) or a != b:
            return False
    return True


def compare(
    op: str, left: object, right: object, position: int, budget: Budget | None = None
) -> bool:
    """`<`, `<=`, `>`, `>=` between two numbers or two strings; anything else is an error."""
    if not (
        (is_number(left) and is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    ):
        raise _mismatch(op, left, right, position)
    if budget is not None and isinstance(left, str) and isinstance(right, str):
        budget.scan(min(len(left), len(right)), position)
    assert isinstance(left, int | float | str) and isinstance(right, int | float | str)
    if op == "<":
        return left < right  # type: ignore[operator]
    if op == "<=":
        return left <= right  # type: ignore[operator]
    if op == ">":
        return left > right  # type: ignore[operator]
    return left >= right  # type: ignore[operator]


def arithmetic(
    op: str, left: object, right: object, position: int, budget: Budget | None = None
) -> object:
    """`+ - * / % **` with Go's rules: int op int stays int (except `/` and `**`)."""
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_STRING:
            raise ConditionError(f"string longer than {MAX_STRING} characters", position)
        joined = left + right
        return budget.build(joined, position) if budget is not None else joined
    if not (is_number(left) and is_number(right)):
        raise _mismatch(op, left, right, position)
    assert isinstance(left, int | float) and isinstance(right, int | float)
    both_int = isinstance(left, int) and isinstance(right, int)
    if op == "+":
        total = left + right
        return check_int(total, position) if isinstance(total, int) else total
    if op == "-":
        difference = left - right
        return check_int(difference, position) if isinstance(difference, int) else difference
    if op == "*":
        product = left * right
        return check_int(product, position) if isinstance(product, int) else product
    if op == "/":
        return _divide(to_float(left), to_float(right))
    if op == "%":
        if not both_int:
            raise ConditionError(
                f"invalid operation: % needs integers, got {type_name(left)} and "
                f"{type_name(right)}",
                position,
            )
        assert isinstance(left, int) and isinstance(right, int)
        if right == 0:
            raise ConditionError("integer divide by zero", position)
        remainder = abs(left) % abs(right)  # Go truncates: the sign follows the dividend
        return -remainder if left < 0 else remainder
    return _power(to_float(left), to_float(right))


def membership(element: object, container: object, budget: Budget, position: int) -> bool:
    """`element in container`: an equal item of an array, or a key of a map."""
    items = as_array(container)
    if items is not None:
        budget.spend(len(items), position)
        return any(equal(element, item, budget) for item in items)
    if isinstance(container, Mapping):
        if not isinstance(element, str):
            raise ConditionError(
                f"cannot use {type_name(element)} as a map key (keys are strings)", position
            )
        return element in container
    raise ConditionError(
        f"invalid operation: in needs an array or a map on the right, got {type_name(container)}",
        position,
    )


def contains(
    op: str, left: object, right: object, position: int, budget: Budget | None = None
) -> bool:
    """`contains`, `startsWith`, `endsWith` between strings."""
    if not (isinstance(left, str) and isinstance(right, str)):
        raise _mismatch(op, left, right, position)
    if budget is not None:
        budget.scan(len(left) + len(right), position)
    if op == "contains":
        return right in left
    if op == "startsWith":
        return left.startswith(right)
    return left.endswith(right)


def _divide(left: float, right: float) -> float:
    if right != 0:
        return left / right
    if math.isnan(left) or left == 0:
        return math.nan
    return math.copysign(math.inf, left) * math.copysign(1.0, right)


def _power(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        negative = base < 0 and exponent.is_integer() and int(exponent) % 2 == 1
        return -math.inf if negative else math.inf
    except ValueError:  # 0 ** -1 is +Inf in Go; a negative base with a fraction is NaN
        return math.inf if base == 0 else math.nan


def _mismatch(op: str, left: object, right: object, position: int) -> ConditionError:
    # The method-call value types (times, durations) say what to write instead.
    hint = next((h for h in (getattr(type(v), "expr_operator_hint", None) for v in (left, right))
                 if isinstance(h, str)), "")
    if hint and type(left) is type(right):
        return ConditionError(
            f"invalid operation: {op} is not defined on {type_name(left)}; {hint}", position)
    return ConditionError(
        f"invalid operation: {op} (mismatched types {type_name(left)} and {type_name(right)})"
        + (f"; {hint}" if hint else ""),
        position,
    )
