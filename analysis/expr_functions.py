"""The functions a condition may call: Argo's (`asInt`, `isNaN`, `default`, ...) and expr's.

`FUNCTIONS` is what the parser checks calls against (name, number of arguments, kind);
the evaluator calls `call_plain` for ordinary functions and `call_predicate` for those
taking a predicate over an array (`all(result, # < 10)`). `default` and `isNil` are
`LAZY`: the evaluator handles them, since they must see a missing value as nil instead of
failing on it.

Argo's own functions, as Argo Rollouts documents them:

- `asInt(x)`: an int from an int, a float (truncated) or a string of digits;
- `asFloat(x)`: a float from a number or a numeric string (`"0.95"`, `"NaN"`);
- `isNaN(x)`, `isInf(x)`: about a number (an array is an error, as in Argo);
- `isNil(x)`, `default(x, fallback)`: whether `x` is nil / `x` unless it is nil.
  Argo's versions ignore their argument and test the whole `result`; ours test the
  argument (so `default(result[0], 0)` means what it says), which agrees whenever the
  argument is `result` itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from analysis.expr_lexer import MAX_INT, ConditionError
from analysis.expr_values import (
    Budget,
    as_array,
    check_int,
    compare,
    is_number,
    to_float,
    type_name,
)

__all__ = ["FUNCTIONS", "FunctionKind", "FunctionSpec", "call_plain", "call_predicate"]

# Go's strconv.ParseInt / ParseFloat syntax: no spaces, no underscores (Python allows both).
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
# Unambiguous on purpose: `[0-9]+\.?[0-9]*` could split a run of digits n ways, and
# `asFloat` of a 16k-digit string then took seconds (quadratic backtracking).
_FLOAT_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE,
)


class FunctionKind(Enum):
    PLAIN = "plain"
    """Arguments are evaluated, then the function runs on their values."""
    PREDICATE = "predicate"
    """`f(array, predicate)`: the predicate is evaluated per element, `#` being the element."""
    LAZY = "lazy"
    """The evaluator runs it itself (`default`, `isNil`)."""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None
    kind: FunctionKind = FunctionKind.PLAIN

    def arity_error(self, given: int) -> str | None:
        """Why `given` arguments do not fit, or None when they do."""
        if given < self.min_args or (self.max_args is not None and given > self.max_args):
            if self.max_args == self.min_args:
                wanted = str(self.min_args)
            elif self.max_args is None:
                wanted = f"at least {self.min_args}"
            else:
                wanted = f"{self.min_args} to {self.max_args}"
            plural = "" if wanted == "1" else "s"
            return f"{self.name}() takes {wanted} argument{plural}, got {given}"
        return None


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("len", 1, 1),
        FunctionSpec("abs", 1, 1),
        FunctionSpec("asInt", 1, 1),
        FunctionSpec("asFloat", 1, 1),
        FunctionSpec("int", 1, 1),
        FunctionSpec("float", 1, 1),
        FunctionSpec("isNaN", 1, 1),
        FunctionSpec("isInf", 1, 1),
        FunctionSpec("min", 1, None),
        FunctionSpec("max", 1, None),
        FunctionSpec("sum", 1, 1),
        FunctionSpec("mean", 1, 1),
        FunctionSpec("isNil", 1, 1, FunctionKind.LAZY),
        FunctionSpec("default", 2, 2, FunctionKind.LAZY),
        FunctionSpec("all", 2, 2, FunctionKind.PREDICATE),
        FunctionSpec("any", 2, 2, FunctionKind.PREDICATE),
        FunctionSpec("none", 2, 2, FunctionKind.PREDICATE),
        FunctionSpec("one", 2, 2, FunctionKind.PREDICATE),
        FunctionSpec("filter", 2, 2, FunctionKind.PREDICATE),
        FunctionSpec("map", 2, 2, FunctionKind.PREDICATE),
        FunctionSpec("count", 2, 2, FunctionKind.PREDICATE),
    )
}


def call_plain(name: str, args: list[object], budget: Budget, position: int) -> object:
    """Run the PLAIN function `name` on evaluated `args` (the parser checked the arity)."""
    if name == "len":
        value = args[0]
        if isinstance(value, str | list | tuple | Mapping):
            return len(value)
        raise _wrong_type(name, "a string, an array or a map", value, position)
    if name == "abs":
        number = _number(name, args[0], position)
        return check_int(abs(number), position) if isinstance(number, int) else abs(number)
    if name in ("asInt", "int"):
        return _as_int(name, args[0], position)
    if name in ("asFloat", "float"):
        return _as_float(name, args[0], position)
    if name == "isNaN":
        return math.isnan(to_float(_number(name, args[0], position)))
    if name == "isInf":
        return math.isinf(to_float(_number(name, args[0], position)))
    if name in ("min", "max"):
        return _extreme(name, args, budget, position)
    return _total(name, args[0], budget, position)


def call_predicate(
    name: str,
    items: object,
    predicate: Callable[[object], object],
    budget: Budget,
    position: int,
) -> object:
    """Run `all`/`any`/`none`/`one`/`filter`/`map`/`count` of `predicate` over `items`.

    `map` and `filter` charge `budget` for the array they build (what each element is
    built of was charged when the predicate built it).
    """
    elements = as_array(items)
    if elements is None:
        raise _wrong_type(name, "an array", items, position)
    if name == "map":
        return budget.build([predicate(element) for element in elements], position)
    if name == "filter":
        kept = [element for element in elements if _verdict(name, predicate(element), position)]
        return budget.build(kept, position)
    if name == "all":
        return all(_verdict(name, predicate(element), position) for element in elements)
    if name == "any":
        return any(_verdict(name, predicate(element), position) for element in elements)
    if name == "none":
        return not any(_verdict(name, predicate(element), position) for element in elements)
    matched = sum(1 for element in elements if _verdict(name, predicate(element), position))
    return matched == 1 if name == "one" else matched


def _verdict(name: str, value: object, position: int) -> bool:
    if isinstance(value, bool):
        return value
    raise ConditionError(
        f"the predicate of {name}() must be true or false, got {type_name(value)}", position
    )


def _number(name: str, value: object, position: int) -> int | float:
    if is_number(value):
        assert isinstance(value, int | float)
        return value
    raise _wrong_type(name, "a number", value, position)


def _as_int(name: str, value: object, position: int) -> int:
    if isinstance(value, str):
        if not _INT_TEXT.fullmatch(value):
            raise ConditionError(f"{name}(): {value[:40]!r} is not an integer", position)
        if len(value.lstrip("+-")) > 19:  # beyond int64 (and Python's int() digit limit)
            raise ConditionError(f"{name}(): {value[:40]}... does not fit in an integer", position)
        return check_int(int(value), position)
    number = _number(name, value, position)
    if isinstance(number, float):
        if not math.isfinite(number) or abs(number) >= MAX_INT:
            raise ConditionError(f"{name}(): {number} does not fit in an integer", position)
        return int(number)  # truncates toward zero, as Go's int64(f)
    return number


def _as_float(name: str, value: object, position: int) -> float:
    if isinstance(value, str):
        if not _FLOAT_TEXT.fullmatch(value):
            raise ConditionError(f"{name}(): {value[:40]!r} is not a number", position)
        return float(value)
    return to_float(_number(name, value, position))


def _extreme(name: str, args: list[object], budget: Budget, position: int) -> object:
    values: Sequence[object] = args
    if len(args) == 1:
        array = as_array(args[0])
        if array is None:
            raise _wrong_type(name, "an array or several numbers", args[0], position)
        values = array
    if not values:
        raise ConditionError(f"{name}() of an empty array", position)
    budget.spend(len(values), position)
    best = values[0]
    for value in values:
        _number(name, value, position)
        if compare("<" if name == "min" else ">", value, best, position):
            best = value
    return best


def _total(name: str, value: object, budget: Budget, position: int) -> object:
    array = as_array(value)
    if array is None:
        raise _wrong_type(name, "an array", value, position)
    budget.spend(len(array), position)
    numbers = budget.build([_number(name, item, position) for item in array], position)
    if name == "mean":
        if not numbers:
            raise ConditionError("mean() of an empty array", position)
        return sum(to_float(number) for number in numbers) / len(numbers)
    if all(isinstance(number, int) for number in numbers):
        return check_int(sum(int(number) for number in numbers), position)
    # Plain float addition, as Go: overflow gives +Inf, Inf + -Inf gives NaN (fsum raises).
    return sum(to_float(number) for number in numbers)


def _wrong_type(name: str, wanted: str, value: object, position: int) -> ConditionError:
    return ConditionError(f"{name}() needs {wanted}, got {type_name(value)}", position)
