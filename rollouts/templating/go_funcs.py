"""Go text/template's builtin functions, and the argument checks all functions share.

The builtins: not, eq (several right-hand sides, true when any matches), ne, lt, le, gt,
ge, len, index, slice, print, printf, println, html, js, urlquery and call. `and` and
`or` are evaluated lazily by the executor (`go_exec`), as Go 1.18+ does; they are listed
here so the parser knows the names.

Comparison follows Go: nil (or no value) equals only nil; numbers compare with numbers
(int with float too: Python keeps JSON integers as int where Go's decoder made float64
for both), strings with strings, bools with bools; anything else is "incompatible types
for comparison"; lists and maps are not comparable. `len` of a string counts UTF-8
bytes, as Go does.

The `want_*` helpers are Go's argument conversion: a string parameter given an int is
`wrong type for value; expected string; got int`, given nil it is `invalid value;
expected string`. `sprig` uses them too.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from rollouts.templating.errors import FunctionError
from rollouts.templating.go_values import (
    MISSING,
    format_value,
    go_type_name,
    is_list,
    is_number,
    is_true,
    sprint,
    sprintf,
)

__all__ = ["BUILTINS", "LAZY", "want_bool", "want_int", "want_list", "want_map", "want_str"]

LAZY = frozenset({"and", "or"})


def _wrong(value: object, expected: str) -> FunctionError:
    if value is None or value is MISSING:
        return FunctionError(f"invalid value; expected {expected}")
    return FunctionError(f"wrong type for value; expected {expected}; got {go_type_name(value)}")


def want_str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise _wrong(value, "string")


def want_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _wrong(value, "int")


def want_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _wrong(value, "bool")


def want_map(value: object) -> Mapping[Any, Any]:
    if isinstance(value, Mapping):
        return value
    raise _wrong(value, "map[string]interface {}")


def want_list(value: object) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, list | tuple):
        return value
    raise _wrong(value, "[]interface {}")


def _kind(value: object) -> str:
    if value is None or value is MISSING:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if is_list(value) or isinstance(value, Mapping):
        return "complex"
    return "other"


def _not(value: Any) -> bool:
    return not is_true(value)


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FunctionError("missing argument for comparison")
    kind = _kind(first)
    for other in others:
        other_kind = _kind(other)
        if kind == "nil" or other_kind == "nil":
            truth = kind == other_kind
        elif kind != other_kind:
            raise FunctionError("incompatible types for comparison")
        elif kind == "complex":
            raise FunctionError(f"non-comparable type {go_type_name(first)}")
        else:
            truth = first == other
        if truth:
            return True
    return False


def _ne(first: Any, second: Any) -> bool:
    return not _eq(first, second)


def _ordered(first: Any, second: Any) -> None:
    kind, other_kind = _kind(first), _kind(second)
    if kind not in ("number", "string") or other_kind not in ("number", "string"):
        raise FunctionError("invalid type for comparison")
    if kind != other_kind:
        raise FunctionError("incompatible types for comparison")


def _lt(first: Any, second: Any) -> bool:
    _ordered(first, second)
    return bool(first < second)


def _le(first: Any, second: Any) -> bool:
    _ordered(first, second)
    return bool(first <= second)


def _gt(first: Any, second: Any) -> bool:
    _ordered(first, second)
    return bool(first > second)


def _ge(first: Any, second: Any) -> bool:
    _ordered(first, second)
    return bool(first >= second)


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if is_list(value) or isinstance(value, Mapping):
        return len(value)
    if value is None or value is MISSING:
        raise FunctionError("len of nil pointer")
    raise FunctionError(f"len of type {go_type_name(value)}")


def _position(index: Any, size: int, *, cap: int | None = None) -> int:
    if not isinstance(index, int) or isinstance(index, bool):
        raise FunctionError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index >= (size if cap is None else cap + 1):
        raise FunctionError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FunctionError("index of untyped nil")
    for key in indexes:
        if item is None or item is MISSING:
            raise FunctionError("index of nil pointer")
        if isinstance(item, str):
            item = item.encode()[_position(key, len(item.encode()))]
        elif is_list(item):
            item = item[_position(key, len(item))]
        elif isinstance(item, Mapping):
            try:
                item = item.get(key)
            except TypeError:
                message = f"value has type {go_type_name(key)}; should be string"
                raise FunctionError(message) from None
        else:
            raise FunctionError(f"can't index item of type {go_type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FunctionError("slice of untyped nil")
    if not isinstance(item, str) and not is_list(item):
        raise FunctionError(f"can't slice item of type {go_type_name(item)}")
    limit = 2 if isinstance(item, str) else 3
    if len(indexes) > limit:
        raise FunctionError(f"too many slice indexes: {len(indexes)}")
    bounds = [_position(index, len(item), cap=len(item)) for index in indexes]
    if len(bounds) >= 2 and bounds[0] > bounds[1]:
        raise FunctionError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(bounds) == 3 and bounds[1] > bounds[2]:
        raise FunctionError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) >= 2 else len(item)
    result = item[start:end]
    return list(result) if isinstance(result, tuple) else result


def _print(*args: Any) -> str:
    return sprint(list(args))


def _println(*args: Any) -> str:
    return " ".join(format_value(arg, top=False) for arg in args) + "\n"


def _printf(template: Any, *args: Any) -> str:
    return sprintf(want_str(template), list(args))


def _joined(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(list(args))


_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_JS = {
    "\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
    "=": "\\u003D",
}  # fmt: skip


def _html(*args: Any) -> str:
    return "".join(_HTML.get(char, char) for char in _joined(args))


def _js(*args: Any) -> str:
    out: list[str] = []
    for char in _joined(args):
        if char in _JS:
            out.append(_JS[char])
        elif char < " " or (char >= "\x7f" and not char.isprintable()):
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_joined(args), safe="")


def _call(function: Any, *args: Any) -> Any:
    if not callable(function):
        raise FunctionError(f"non-function of type {go_type_name(function)}")
    return function(*args)


def _lazy_placeholder(*args: Any) -> Any:
    raise AssertionError("and/or are evaluated by the executor")


BUILTINS: dict[str, Callable[..., Any]] = {
    "and": _lazy_placeholder,
    "or": _lazy_placeholder,
    "not": _not,
    "eq": _eq,
    "ne": _ne,
    "lt": _lt,
    "le": _le,
    "gt": _gt,
    "ge": _ge,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _print,
    "printf": _printf,
    "println": _println,
    "html": _html,
    "js": _js,
    "urlquery": _urlquery,
    "call": _call,
}
