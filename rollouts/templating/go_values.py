"""Go's view of Python values: truth, type names, and printing as `fmt` prints them.

Template data is JSON-like: None (Go's nil), bool, int, float, str, lists (and tuples)
and mappings. `MISSING` stands for Go's "no value" (a map key that is not there), which
prints as `<no value>` where nil inside a list prints as `<nil>`.

`format_value` is `fmt.Sprint` of one value (`map[a:1 b:2]`, `[a b]`, `true`, floats in
Go's shortest form such as `1e+06`); `go_quote` is `strconv.Quote`; `sprintf` is
`fmt.Sprintf` for the verbs templates use (%v %s %d %q %f %e %g %t %x %X %c %o %b %T %%
with flags, width and precision), including Go's `%!d(string=x)` markers for a verb that
does not fit its operand. Used by the executor (`go_exec`) and the functions
(`go_funcs`, `sprig`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rollouts.templating.errors import FunctionError, check_size

__all__ = [
    "MISSING",
    "format_value",
    "go_float",
    "go_quote",
    "go_type_name",
    "is_list",
    "is_number",
    "is_true",
    "sprint",
    "sprintf",
]

MAX_FORMAT_DEPTH = 100
"""Deeper data (or a dict that contains itself through `set`) cannot be printed."""

MAX_WIDTH = 100_000
"""A printf width or precision above this is refused (it would build a huge string)."""


class _Missing:
    """Go's invalid reflect.Value: the result of reading a key that is not there."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def go_type_name(value: object) -> str:
    """The Go type a JSON decoder would have produced for `value`."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if is_list(value):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if callable(value):
        return "func"
    return type(value).__name__


def is_true(value: object) -> bool:
    """Go's template truth: false, 0, nil, no value and empty strings/lists/maps are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if is_number(value):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def go_float(value: float, *, json: bool = False) -> str:
    """A float as Go's `%v` prints it (shortest digits, `1e+06` from a million on).

    With `json`, as encoding/json writes it: positional from 1e-6 up to 1e21, and an
    exponent without zero padding (`1e-7`).
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 and not json else "0"
    sign, digits_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(str(d) for d in digits_tuple).rstrip("0") or "0"
    assert isinstance(exponent, int)
    # The decimal exponent of the first digit: value = d.ddd * 10**exp.
    exp = exponent + len(digits_tuple) - 1
    # fmt's shortest %v/%g switches to an exponent at 1e+06 (the Helm "1e+06" surprise).
    scientific = (exp < -6 or exp >= 21) if json else (exp < -4 or exp >= 6)
    text: str
    if scientific:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        if json:
            text = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp)}"
        else:
            text = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    elif exp < 0:
        text = "0." + "0" * (-exp - 1) + digits
    elif len(digits) <= exp + 1:
        text = digits + "0" * (exp + 1 - len(digits))
    else:
        text = digits[: exp + 1] + "." + digits[exp + 1 :]
    return ("-" if sign else "") + text


def go_quote(text: str) -> str:
    """`strconv.Quote`: double quotes, Go escapes, non-printable runes as \\x, \\u, \\U."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char.isprintable() or char == " ":
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def format_value(value: object, *, top: bool = True, depth: int = 0) -> str:
    """`fmt.Sprint(value)`; at the top of an action nil and no value are `<no value>`."""
    if depth > MAX_FORMAT_DEPTH:
        raise FunctionError(f"value nested deeper than {MAX_FORMAT_DEPTH} levels")
    if value is MISSING or (value is None and top):
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, list | tuple):
        inner = " ".join(format_value(item, top=False, depth=depth + 1) for item in value)
        return f"[{inner}]"
    if isinstance(value, Mapping):
        parts = (
            f"{format_value(key, top=False, depth=depth + 1)}:"
            f"{format_value(value[key], top=False, depth=depth + 1)}"
            for key in _sorted_keys(value)
        )
        return f"map[{' '.join(parts)}]"
    return str(value)


def _sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    try:
        return sorted(mapping)
    except TypeError:
        return sorted(mapping, key=str)


def sprint(args: list[Any]) -> str:
    """`fmt.Sprint`: a space between two operands when neither is a string."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if index > 0 and not isinstance(arg, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(format_value(arg, top=False))
    return "".join(out)


def _bad_verb(verb: str, value: object) -> str:
    if value is None or value is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(value)}={format_value(value, top=False)})"


def _pad(text: str, width: int | None, flags: str) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    return text.rjust(width)


def _format_int(value: int, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    base = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
    body = format(abs(value), base)
    if prec is not None:
        body = body.rjust(prec, "0")
    prefix = ""
    if "#" in flags:
        prefix = {"x": "0x", "X": "0X", "o": "0", "b": ""}.get(verb, "")
    sign = "-" if value < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
    if "0" in flags and "-" not in flags and prec is None and width is not None:
        body = body.rjust(width - len(sign) - len(prefix), "0")
    return _pad(sign + prefix + body, width, flags)


def _format_float(value: float, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if verb in "gG" and prec is None:
        body = go_float(abs(value))
        if verb == "G":
            body = body.upper()
    else:
        body = format(abs(value), f".{6 if prec is None else prec}{verb}")
    negative = value < 0 or (value == 0 and math.copysign(1.0, value) < 0)
    sign = "-" if negative else ("+" if "+" in flags else (" " if " " in flags else ""))
    if "0" in flags and "-" not in flags and width is not None:
        body = body.rjust(width - len(sign), "0")
    return _pad(sign + body, width, flags)


def _format_one(verb: str, value: object, flags: str, width: int | None, prec: int | None) -> str:
    """One `%verb` of Go's fmt for one operand."""
    if verb == "T":
        return _pad(go_type_name(value), width, flags)
    if verb == "v":
        return _pad(format_value(value, top=False), width, flags)
    if is_list(value) and verb in "sdqxXfeg":
        assert isinstance(value, list | tuple)
        inner = " ".join(_format_one(verb, item, flags, None, prec) for item in value)
        return _pad(f"[{inner}]", width, flags)
    if verb == "s":
        if not isinstance(value, str):
            return _bad_verb(verb, value)
        return _pad(value if prec is None else value[:prec], width, flags)
    if verb == "q":
        if isinstance(value, str):
            return _pad(go_quote(value), width, flags)
        if isinstance(value, int) and not isinstance(value, bool):
            return _pad("'" + go_quote(chr(value))[1:-1].replace("'", "\\'") + "'", width, flags)
        return _bad_verb(verb, value)
    if verb == "t":
        if not isinstance(value, bool):
            return _bad_verb(verb, value)
        return _pad("true" if value else "false", width, flags)
    if verb == "c":
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad_verb(verb, value)
        return _pad(chr(value), width, flags)
    if verb in "xX" and isinstance(value, str):
        encoded = value.encode()
        body = encoded.hex() if verb == "x" else encoded.hex().upper()
        return _pad(body, width, flags)
    if verb in "dxXob":
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad_verb(verb, value)
        return _format_int(value, verb, flags, width, prec)
    if verb in "feEgGF":
        # Python keeps JSON integers as int where Go's decoder made float64: format them.
        if not is_number(value):
            return _bad_verb(verb, value)
        assert isinstance(value, int | float)
        float_verb = "f" if verb == "F" else verb
        return _format_float(float(value), float_verb, flags, width, prec)
    return _bad_verb(verb, value)


def sprintf(template: str, args: list[Any]) -> str:
    """`fmt.Sprintf` for the verbs above; widths and precisions are bounded."""
    out: list[str] = []
    used = 0
    index = 0
    built = len(template)
    length = len(template)
    while index < length:
        char = template[index]
        if char != "%":
            out.append(char)
            index += 1
            continue
        index += 1
        flags = ""
        while index < length and template[index] in "+-# 0":
            flags += template[index]
            index += 1
        width: int | None = None
        prec: int | None = None
        width, index, used = _read_number(template, index, args, used)
        if index < length and template[index] == ".":
            prec, index, used = _read_number(template, index + 1, args, used)
            prec = prec or 0
        if index >= length:
            out.append("%!(NOVERB)")
            break
        verb = template[index]
        index += 1
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        piece = _format_one(verb, args[used], flags, width, prec)
        built += len(piece)
        check_size(built, "printf")
        out.append(piece)
        used += 1
    if used < len(args):
        extra = ", ".join(
            f"{go_type_name(arg)}={format_value(arg, top=False)}" for arg in args[used:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _read_number(
    template: str, index: int, args: list[Any], used: int
) -> tuple[int | None, int, int]:
    if index < len(template) and template[index] == "*":
        value = args[used] if used < len(args) else None
        if not isinstance(value, int) or isinstance(value, bool):
            raise FunctionError("printf: a * width or precision needs an int argument")
        _check_width(value)
        return value, index + 1, used + 1
    start = index
    while index < len(template) and template[index].isdigit():
        index += 1
        if index - start > 7:
            break
    if index == start:
        return None, index, used
    number = int(template[start:index])
    _check_width(number)
    return number, index, used


def _check_width(number: int) -> None:
    if abs(number) > MAX_WIDTH:
        raise FunctionError(f"printf width or precision {number} is over the limit of {MAX_WIDTH}")
