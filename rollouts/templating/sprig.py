"""The sprig functions ApplicationSet and Argo notifications templates use.

Argument order is sprig's, built for pipelines: the value being worked on comes LAST,
so `.name | trunc 63` is `trunc 63 .name` and `.s | replace "a" "b"` is
`replace "a" "b" .s`. Behaviour follows sprig v3 (Masterminds/sprig):

- strings: lower upper title trim trimAll trimPrefix trimSuffix trunc (negative keeps the
  end) substr replace contains hasPrefix hasSuffix repeat nospace cat indent nindent
  quote squote split (a dict `_0`, `_1`, ...) splitList join toString;
- defaults and logic: default empty coalesce ternary;
- numbers: int int64 add add1 sub mul div mod max min (64-bit integers that wrap as Go's
  do; division truncates toward zero and dividing by zero is an error);
- lists and dicts: list first last rest initial uniq has sortAlpha dict get set unset
  hasKey keys (sorted: sprig's order is Go's random map order) values;
- encoding: toJson toPrettyJson toRawJson fromJson b64enc b64dec sha1sum sha256sum.

Regular expressions and Argo CD's own additions (normalize, slugify, toYaml) live in
`sprig_argo`. Every function that builds a string checks the size it is about to build
against the running output limit (`errors.check_size`) before building it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from rollouts.templating.errors import FunctionError, check_size
from rollouts.templating.go_funcs import want_int, want_list, want_map, want_str
from rollouts.templating.go_values import (
    MISSING,
    format_value,
    go_float,
    go_quote,
    is_list,
    is_true,
)

__all__ = ["SPRIG", "OwnedDict", "go_json", "to_str"]

MAX_JSON_DEPTH = 100


class OwnedDict(dict[str, Any]):
    """A dict the template built (`dict`, `fromJson`): the only kind `set` may change.

    The data a caller passes in stays untouched, so executing a template never changes
    an ApplicationSet's parameters or a notification's object.
    """


def to_str(value: Any) -> str:
    """sprig's strval: strings as they are, anything else as `%v` prints it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return format_value(value, top=False)


def _int64(value: int) -> int:
    return ((value + 2**63) % 2**64) - 2**63


def to_int(value: Any) -> int:
    """cast.ToInt64: numbers truncate, strings parse with Go's base prefixes, else 0."""
    if value is None or value is MISSING:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return _int64(value)
    if isinstance(value, float):
        return _int64(math.trunc(value)) if math.isfinite(value) else 0
    if isinstance(value, str):
        return _parse_int(value)
    return 0


def _parse_int(text: str) -> int:
    if "." in text:
        whole, _, fraction = text.partition(".")
        if fraction.strip("0") == "":
            text = whole
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" else text
    try:
        if body[:2].lower() in ("0x", "0o", "0b"):
            number = int(body, 0)
        elif len(body) > 1 and body.startswith("0"):
            number = int(body, 8)
        else:
            number = int(body, 10) if body.isdigit() else 0
    except ValueError:
        return 0
    number *= sign
    return number if -(2**63) <= number < 2**63 else 0


def _strings(value: Any) -> list[str]:
    """sprig's strslice: a list's non-nil items as strings; one other value as one string."""
    if is_list(value):
        return [to_str(item) for item in value if item is not None]
    if value is None or value is MISSING:
        return []
    return [to_str(value)]


# -- defaults and logic --------------------------------------------------------------------


def _default(fallback: Any, *given: Any) -> Any:
    if not given or not is_true(given[0]):
        return fallback
    return given[0]


def _empty(value: Any) -> bool:
    return not is_true(value)


def _coalesce(*values: Any) -> Any:
    for value in values:
        if is_true(value):
            return value
    return None


def _ternary(if_true: Any, if_false: Any, condition: Any) -> Any:
    if not isinstance(condition, bool):
        raise FunctionError(f"ternary needs a bool as its last argument, got {to_str(condition)!r}")
    return if_true if condition else if_false


# -- strings -------------------------------------------------------------------------------


def _title(text: Any) -> str:
    out: list[str] = []
    previous = " "
    for char in want_str(text):
        if previous.isascii():
            separator = not (previous.isalnum() or previous == "_")
        else:
            separator = previous.isspace()
        out.append(char.title() if separator else char)
        previous = char
    return "".join(out)


def _trunc(count: object, text: object) -> str:
    count, text = want_int(count), want_str(text)
    if count < 0 and len(text) + count > 0:
        return text[len(text) + count :]
    if count >= 0 and len(text) > count:
        return text[:count]
    return text


def _substr(start: object, end: object, text: object) -> str:
    start, end, text = want_int(start), want_int(end), want_str(text)
    if start < 0:
        return text[:end]
    if end < 0 or end > len(text):
        return text[start:]
    return text[start:end]


def _replace(old: object, new: object, text: object) -> str:
    old, new, text = want_str(old), want_str(new), want_str(text)
    count = len(text) + 1 if old == "" else text.count(old)
    check_size(len(text) + count * (len(new) - len(old)), "replace")
    if old == "":
        return new + new.join(text) + new if text else new
    return text.replace(old, new)


def _repeat(count: object, text: object) -> str:
    count, text = want_int(count), want_str(text)
    if count < 0:
        raise FunctionError("negative repeat count")
    check_size(count * len(text), "repeat")
    return text * count


def _indent(spaces: object, text: object) -> str:
    spaces, text = want_int(spaces), want_str(text)
    check_size((text.count("\n") + 1) * max(spaces, 0) + len(text), "indent")
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


def _nindent(spaces: Any, text: Any) -> str:
    return "\n" + _indent(spaces, text)


def _nospace(text: Any) -> str:
    return "".join(char for char in want_str(text) if not char.isspace())


def _cat(*values: Any) -> str:
    return " ".join(to_str(value) for value in values if value is not None)


def _quote(*values: Any) -> str:
    return " ".join(go_quote(to_str(value)) for value in values if value is not None)


def _squote(*values: Any) -> str:
    return " ".join(f"'{to_str(value)}'" for value in values if value is not None)


def _split_parts(separator: object, text: object) -> list[str]:
    separator, text = want_str(separator), want_str(text)
    if separator == "":
        return list(text)
    return text.split(separator)


def _split(separator: Any, text: Any) -> OwnedDict:
    return OwnedDict((f"_{i}", part) for i, part in enumerate(_split_parts(separator, text)))


def _join(separator: object, values: object) -> str:
    separator = want_str(separator)
    parts = _strings(values)
    check_size(sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0), "join")
    return separator.join(parts)


# -- numbers -------------------------------------------------------------------------------


def _add(*values: Any) -> int:
    return _int64(sum(to_int(value) for value in values))


def _mul(first: Any, *values: Any) -> int:
    product = to_int(first)
    for value in values:
        product = _int64(product * to_int(value))
    return product


def _div(first: Any, second: Any) -> int:
    dividend, divisor = to_int(first), to_int(second)
    if divisor == 0:
        raise FunctionError("integer divide by zero")
    quotient = abs(dividend) // abs(divisor)
    return _int64(quotient if (dividend >= 0) == (divisor > 0) else -quotient)


def _mod(first: Any, second: Any) -> int:
    dividend, divisor = to_int(first), to_int(second)
    if divisor == 0:
        raise FunctionError("integer divide by zero")
    remainder = abs(dividend) % abs(divisor)
    return -remainder if dividend < 0 else remainder


# -- lists and dicts -----------------------------------------------------------------------


def _first(values: Any) -> Any:
    values = want_list(values)
    return values[0] if values else None


def _last(values: Any) -> Any:
    values = want_list(values)
    return values[-1] if values else None


def _uniq(values: Any) -> list[Any]:
    out: list[Any] = []
    for value in want_list(values):
        if value not in out:
            out.append(value)
    return out


def _dict(*pairs: Any) -> OwnedDict:
    result = OwnedDict()
    for index in range(0, len(pairs), 2):
        value = pairs[index + 1] if index + 1 < len(pairs) else ""
        result[to_str(pairs[index])] = value
    return result


def _get(mapping: Any, key: Any) -> Any:
    mapping, key = want_map(mapping), want_str(key)
    return mapping.get(key, "")


def _owned(mapping: Any, name: str) -> OwnedDict:
    if isinstance(mapping, OwnedDict):
        return mapping
    want_map(mapping)
    raise FunctionError(
        f"{name} changes only a dict the template built with dict; the template's data is "
        "read-only (copy what you need into a dict first)"
    )


def _set(mapping: Any, key: Any, value: Any) -> OwnedDict:
    owned = _owned(mapping, "set")
    owned[want_str(key)] = value
    return owned


def _unset(mapping: Any, key: Any) -> OwnedDict:
    owned = _owned(mapping, "unset")
    owned.pop(want_str(key), None)
    return owned


def _has_key(mapping: Any, key: Any) -> bool:
    return want_str(key) in want_map(mapping)


def _keys(*mappings: Any) -> list[str]:
    keys: list[str] = []
    for mapping in mappings:
        keys.extend(want_map(mapping))
    return sorted(keys)


def _values(mapping: Any) -> list[Any]:
    mapping = want_map(mapping)
    return [mapping[key] for key in sorted(mapping)]


def _sort_alpha(values: Any) -> list[str]:
    return sorted(_strings(values))


# -- encoding ------------------------------------------------------------------------------


def _encode(value: Any, indent: int | None, depth: int, out: list[str]) -> None:
    """encoding/json's Marshal of JSON-like data (MarshalIndent when `indent` is set)."""
    if depth > MAX_JSON_DEPTH:
        raise FunctionError(f"value nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None or value is MISSING:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FunctionError(f"json: unsupported value: {go_float(value)}")
        out.append(go_float(value, json=True))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif is_list(value) or isinstance(value, Mapping):
        _encode_container(value, indent, depth, out)
    else:
        out.append(json.dumps(to_str(value), ensure_ascii=False))


def _encode_container(value: Any, indent: int | None, depth: int, out: list[str]) -> None:
    is_map = isinstance(value, Mapping)
    items = sorted(value.items(), key=lambda item: to_str(item[0])) if is_map else list(value)
    opener, closer = ("{", "}") if is_map else ("[", "]")
    if not items:
        out.append(opener + closer)
        return
    newline = "" if indent is None else "\n" + " " * (indent * (depth + 1))
    out.append(opener)
    for index, item in enumerate(items):
        if index:
            out.append(",")
        out.append(newline)
        if is_map:
            out.append(json.dumps(to_str(item[0]), ensure_ascii=False))
            out.append(":" if indent is None else ": ")
            _encode(item[1], indent, depth + 1, out)
        else:
            _encode(item, indent, depth + 1, out)
    out.append("" if indent is None else "\n" + " " * (indent * depth))
    out.append(closer)


def go_json(value: Any, *, indent: int | None = None, escape_html: bool = True) -> str:
    """encoding/json.Marshal: sorted keys, no spaces, `<>&` escaped as Go escapes them."""
    out: list[str] = []
    _encode(value, indent, 0, out)
    text = "".join(out).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _swallowing(function: Callable[[Any], str]) -> Callable[[Any], str]:
    """sprig's toJson family returns "" when the value cannot be encoded."""

    def encode(value: Any) -> str:
        try:
            return function(value)
        except (ValueError, TypeError, FunctionError, RecursionError):
            return ""

    return encode


def _from_json(text: Any) -> Any:
    try:
        value = json.loads(want_str(text))
    except (ValueError, RecursionError):
        return None
    return OwnedDict(value) if isinstance(value, dict) else value


def _b64dec(text: Any) -> str:
    try:
        return base64.b64decode(want_str(text).encode(), validate=True).decode(errors="replace")
    except (binascii.Error, ValueError) as error:
        return f"illegal base64 data: {error}"


def _hash(algorithm: str) -> Callable[[Any], str]:
    def digest(text: Any) -> str:
        return hashlib.new(algorithm, want_str(text).encode()).hexdigest()

    return digest


def _max(first: Any, *values: Any) -> int:
    return max([to_int(first), *(to_int(value) for value in values)])


def _min(first: Any, *values: Any) -> int:
    return min([to_int(first), *(to_int(value) for value in values)])


SPRIG: dict[str, Callable[..., Any]] = {
    "default": _default,
    "empty": _empty,
    "coalesce": _coalesce,
    "ternary": _ternary,
    "lower": lambda text: want_str(text).lower(),
    "upper": lambda text: want_str(text).upper(),
    "title": _title,
    "trim": lambda text: want_str(text).strip(),
    "trimAll": lambda cutset, text: want_str(text).strip(want_str(cutset)),
    "trimPrefix": lambda prefix, text: want_str(text).removeprefix(want_str(prefix)),
    "trimSuffix": lambda suffix, text: want_str(text).removesuffix(want_str(suffix)),
    "trunc": _trunc,
    "substr": _substr,
    "replace": _replace,
    "contains": lambda part, text: want_str(part) in want_str(text),
    "hasPrefix": lambda prefix, text: want_str(text).startswith(want_str(prefix)),
    "hasSuffix": lambda suffix, text: want_str(text).endswith(want_str(suffix)),
    "repeat": _repeat,
    "nospace": _nospace,
    "cat": _cat,
    "indent": _indent,
    "nindent": _nindent,
    "quote": _quote,
    "squote": _squote,
    "split": _split,
    "splitList": lambda separator, text: _split_parts(separator, text),
    "join": _join,
    "toString": to_str,
    "int": to_int,
    "int64": to_int,
    "add": _add,
    "add1": lambda value: _int64(to_int(value) + 1),
    "sub": lambda first, second: _int64(to_int(first) - to_int(second)),
    "mul": _mul,
    "div": _div,
    "mod": _mod,
    "max": _max,
    "min": _min,
    "list": lambda *values: list(values),
    "first": _first,
    "last": _last,
    "rest": lambda values: list(want_list(values)[1:]),
    "initial": lambda values: list(want_list(values)[:-1]),
    "uniq": _uniq,
    "has": lambda needle, values: needle in want_list(values),
    "sortAlpha": _sort_alpha,
    "dict": _dict,
    "get": _get,
    "set": _set,
    "unset": _unset,
    "hasKey": _has_key,
    "keys": _keys,
    "values": _values,
    "toJson": _swallowing(go_json),
    "toPrettyJson": _swallowing(lambda value: go_json(value, indent=2)),
    "toRawJson": _swallowing(lambda value: go_json(value, escape_html=False)),
    "fromJson": _from_json,
    "b64enc": lambda text: base64.b64encode(want_str(text).encode()).decode(),
    "b64dec": _b64dec,
    "sha1sum": _hash("sha1"),
    "sha256sum": _hash("sha256"),
}
