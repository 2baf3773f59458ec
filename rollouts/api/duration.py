"""Durations as Argo writes them: `30s`, `5m`, `1h30m`, `500ms`, or plain integer seconds.

Argo Rollouts accepts two spellings for a time span. A pause step's `duration` is a
Kubernetes int-or-string: an integer (or a string of digits) counts seconds, anything else
is a Go duration (`time.ParseDuration`: a sequence of decimal numbers with units `ns`, `us`,
`µs`, `ms`, `s`, `m`, `h`, optionally signed). Analysis `interval` and `initialDelay` are Go
durations. `Duration` accepts both everywhere, remembers what the user wrote so that a dump
gives it back unchanged, and exposes the length as `seconds` (a float) or `timedelta`.

Negative durations parse (Go allows them); the semantic rules in `rollouts.api.validation`
reject them where they make no sense, naming the field.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from rollouts.api.errors import SpecError

__all__ = ["Duration"]

_UNIT_NANOSECONDS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_COMPONENT = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_INTEGER = re.compile(r"[+-]?\d+")
# Go refuses durations beyond int64 nanoseconds (about 292 years); so do we.
_MAX_NANOSECONDS = 2**63 - 1
_HINT = "write whole seconds (30) or a duration such as 30s, 5m, 1h30m or 500ms"


class Duration:
    """A length of time written as integer seconds or a Go duration string.

    >>> Duration.parse("1h30m").seconds
    5400.0
    >>> Duration.parse(45).raw, Duration.parse("500ms").seconds
    (45, 0.5)

    Equality compares the spelling, so that rewriting `60s` as `1m` counts as a changed
    spec; compare `.seconds` to compare lengths.
    """

    __slots__ = ("_nanoseconds", "_raw")

    _raw: int | str
    _nanoseconds: int

    def __init__(self, raw: int | str) -> None:
        self._raw = raw
        self._nanoseconds = _to_nanoseconds(raw)

    @classmethod
    def parse(cls, value: object) -> Duration:
        """Parse a user-written value; raise `SpecError` saying how to write it if it is wrong."""
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SpecError(f"{value!r} is not a duration: {_HINT}")
        return cls(value)

    @classmethod
    def from_seconds(cls, seconds: int | float) -> Duration:
        """A duration of `seconds`, written as whole seconds when it is whole, else as `ms`."""
        if not math.isfinite(seconds):
            raise SpecError(f"{seconds!r} seconds is not a duration: {_HINT}")
        nanoseconds = round(Decimal(str(seconds)) * 1_000_000_000)
        if nanoseconds % 1_000_000_000 == 0:
            return cls(nanoseconds // 1_000_000_000)
        if nanoseconds % 1_000_000 == 0:
            return cls(f"{nanoseconds // 1_000_000}ms")
        return cls(f"{nanoseconds}ns")

    @property
    def raw(self) -> int | str:
        """Exactly what the user wrote (an int or a string); this is what dumps emit."""
        return self._raw

    @property
    def seconds(self) -> float:
        return self._nanoseconds / 1_000_000_000

    @property
    def nanoseconds(self) -> int:
        return self._nanoseconds

    @property
    def timedelta(self) -> timedelta:
        return timedelta(microseconds=self._nanoseconds // 1000)

    @property
    def is_negative(self) -> bool:
        return self._nanoseconds < 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Duration):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"Duration({self._raw!r})"

    def __str__(self) -> str:
        return str(self._raw)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, return_schema=core_schema.any_schema()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "description": "integer seconds, or a duration such as 30s, 5m, 1h30m, 500ms",
        }


def _serialize(value: Duration) -> int | str:
    return value.raw


def _to_nanoseconds(raw: int | str) -> int:
    nanoseconds = raw * 1_000_000_000 if isinstance(raw, int) else _parse_text(raw)
    if abs(nanoseconds) > _MAX_NANOSECONDS:
        raise SpecError(f"duration {raw!r} is too long (the limit is about 292 years)")
    return nanoseconds


def _parse_text(text: str) -> int:
    if _INTEGER.fullmatch(text):
        if len(text) > 30:
            raise SpecError(f"duration {text!r} is too long (the limit is about 292 years)")
        return int(text) * 1_000_000_000
    sign = 1
    body = text
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        raise SpecError(f"{text!r} is not a duration: {_HINT}")
    total = Decimal(0)
    position = 0
    for match in _COMPONENT.finditer(body):
        if match.start() != position:
            break
        try:
            total += Decimal(match.group(1)) * _UNIT_NANOSECONDS[match.group(2)]
        except InvalidOperation:  # pragma: no cover - the pattern only admits decimals
            break
        position = match.end()
        if total > _MAX_NANOSECONDS:
            raise SpecError(f"duration {text!r} is too long (the limit is about 292 years)")
    if position != len(body) or position == 0:
        raise SpecError(f"{text!r} is not a duration: {_HINT}")
    return sign * int(total)
