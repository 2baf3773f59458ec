"""Kubernetes resource quantities (`100m`, `16Mi`, `1.5`, `2e3`), parsed to `Decimal`.

Pod templates stay plain dicts in our models, but their container `resources.requests` and
`resources.limits` are checked here so that a malformed value (`memory: invalid`) is refused
by `rollouts lint` with the field's path, as the API server would refuse it.

Grammar (from Kubernetes `resource.Quantity`): an optionally signed decimal number followed
by a binary suffix (`Ki Mi Gi Ti Pi Ei`), a decimal suffix (`n u m k M G T P E`), a decimal
exponent (`e3`, `E-2`), or nothing. YAML numbers (`cpu: 1`, `cpu: 0.5`) are quantities too.
"""

from __future__ import annotations

import re
from decimal import Decimal

from rollouts.api.errors import SpecError

__all__ = ["is_quantity", "parse_quantity"]

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_EXPONENT = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_HINT = "write a Kubernetes quantity such as 100m, 0.5, 16Mi or 1Gi"


def parse_quantity(value: object) -> Decimal:
    """The numeric value of a quantity; raise `SpecError` naming the value if it is not one."""
    if isinstance(value, bool):
        raise SpecError(f"{value!r} is not a quantity: {_HINT}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecError(f"{value!r} is not a quantity: {_HINT}")
        return Decimal(str(value))
    if not isinstance(value, str):
        raise SpecError(f"{value!r} is not a quantity: {_HINT}")
    match = _QUANTITY.fullmatch(value)
    if match is None or len(value) > 64:
        raise SpecError(f"{value!r} is not a quantity: {_HINT}")
    number = Decimal(match.group("number"))
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL_EXPONENT:
        return number.scaleb(_DECIMAL_EXPONENT[suffix])
    if suffix:
        exponent = int(suffix[1:])
        if abs(exponent) > 100:
            raise SpecError(f"{value!r} is out of range: {_HINT}")
        return number.scaleb(exponent)
    return number


def is_quantity(value: object) -> bool:
    try:
        parse_quantity(value)
    except SpecError:
        return False
    return True
