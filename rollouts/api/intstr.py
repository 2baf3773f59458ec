"""Kubernetes int-or-string values: `IntOrPercent` (maxSurge: `25%` or `1`) and `IntOrArg`.

`IntOrPercent` is what Kubernetes calls `intstr.IntOrString` in the places where the string
form is a percentage. It resolves against a total the way Kubernetes does: maxSurge rounds
up, maxUnavailable rounds down (`resolve(total, round_up=...)`).

`IntOrArg` is Argo's int-or-string for analysis counters (`count`, `failureLimit`, ...):
an integer, a string of digits, or a `{{args.NAME}}` placeholder that is filled in when the
AnalysisRun is created (`rollouts.api.placeholder`).

Both dump back exactly what the user wrote.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from rollouts.api.errors import SpecError
from rollouts.api.placeholder import OrArg

__all__ = ["IntOrArg", "IntOrPercent"]

_PERCENT = re.compile(r"(\d{1,9})%")
_DIGITS = re.compile(r"[+-]?\d{1,18}")
_INT_OR_STRING_SCHEMA: JsonSchemaValue = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}


class IntOrPercent:
    """A non-negative count of pods (`1`) or a percentage of a total (`"25%"`).

    >>> IntOrPercent.parse("25%").resolve(10, round_up=True)
    3
    >>> IntOrPercent.parse("25%").resolve(10, round_up=False)
    2
    >>> IntOrPercent.parse(4).resolve(10, round_up=False)
    4
    """

    __slots__ = ("_is_percent", "_raw", "_value")

    _raw: int | str
    _value: int
    _is_percent: bool

    def __init__(self, raw: int | str) -> None:
        self._raw = raw
        if isinstance(raw, int):
            if raw < 0:
                raise SpecError(f"{raw} is negative: write a count of pods >= 0 or a percentage")
            self._value, self._is_percent = raw, False
            return
        match = _PERCENT.fullmatch(raw)
        if match is None:
            raise SpecError(
                f"{raw!r} is neither a whole number nor a percentage: write e.g. 1 or '25%'"
            )
        self._value, self._is_percent = int(match.group(1)), True

    @classmethod
    def parse(cls, value: object) -> IntOrPercent:
        """Parse a user-written value; raise `SpecError` if it is neither an int nor `N%`."""
        if isinstance(value, IntOrPercent):
            return value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SpecError(f"{value!r} is neither a whole number nor a percentage like '25%'")
        return cls(value)

    @property
    def raw(self) -> int | str:
        return self._raw

    @property
    def is_percent(self) -> bool:
        return self._is_percent

    @property
    def value(self) -> int:
        """The number as written: a count of pods, or the percentage without its `%`."""
        return self._value

    def resolve(self, total: int, round_up: bool) -> int:
        """The number of pods this stands for out of `total`.

        A count is returned as is. A percentage p gives p x total / 100, rounded up when
        `round_up` (Kubernetes does this for maxSurge) and down otherwise (maxUnavailable).
        """
        if not self._is_percent:
            return self._value
        scaled = self._value * total
        return -(-scaled // 100) if round_up else scaled // 100

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntOrPercent):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"IntOrPercent({self._raw!r})"

    def __str__(self) -> str:
        return str(self._raw)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _raw_of, return_schema=core_schema.any_schema()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return dict(_INT_OR_STRING_SCHEMA)


class IntOrArg(OrArg[int]):
    """An integer, a string of digits, or a `{{args.NAME}}` placeholder resolved later.

    >>> IntOrArg.parse("{{args.count}}").value is None
    True
    >>> IntOrArg.parse("3").value
    3
    """

    __slots__ = ()
    _what = "a whole number"

    @classmethod
    def _parse_value(cls, raw: int | str) -> int:
        if isinstance(raw, int):
            return raw
        if _DIGITS.fullmatch(raw.strip()):
            return int(raw.strip())
        raise SpecError(
            f"{raw!r} is not a whole number: write e.g. 3, or '{{{{args.NAME}}}}' to take "
            "the value from an argument"
        )


def _raw_of(value: IntOrPercent) -> int | str:
    return value.raw
