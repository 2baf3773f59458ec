"""Metric settings that may be an `{{args.NAME}}` placeholder until the run is created.

Argo lets a metric's scalar settings (`count`, `interval`, `failureLimit`, a web
provider's `timeoutSeconds`, ...) be written as `"{{args.NAME}}"`; the AnalysisRun
substitutes its arguments before anything is measured. Until then the value cannot be
checked, so the models keep such a setting unresolved:

- `IntOrArg` (`rollouts.api.intstr`): an integer, a string of digits, or a placeholder;
- `DurationOrArg` (here): a duration (`rollouts.api.duration`) or a placeholder;
both on `OrArg` (here), which holds what they share.

A placeholder is any string holding `{{args.NAME}}` (spaces inside the braces allowed), as
the analysis controller substitutes it (`analysis.args`); any other string must be a
valid value. The CRD schemas (`manifests/crds/*analysis*.yaml`) make the same test with a
`pattern` on these fields.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError

__all__ = ["ARG_PLACEHOLDER", "DurationOrArg", "OrArg", "has_placeholder"]

T = TypeVar("T")

ARG_PLACEHOLDER = re.compile(r"\{\{\s*args\.([^{}\s]+)\s*\}\}")
"""`{{args.NAME}}`, as `analysis.args.substitute` replaces it; group 1 is the name."""


def has_placeholder(text: str) -> bool:
    """Whether `text` refers to an argument (`{{args.NAME}}`, spaces allowed inside)."""
    return ARG_PLACEHOLDER.search(text) is not None


class OrArg(Generic[T]):
    """A setting that is a value of type T, or a `{{args.NAME}}` placeholder resolved when
    the AnalysisRun is created. Subclasses say how a value is parsed (`_parse_value`) and
    what it is called (`_what`); the rest (raw round-trip, equality, pydantic glue) is here.
    """

    __slots__ = ("_raw", "_value")

    _raw: int | str
    _value: T | None
    _what: ClassVar[str] = "a value"
    _json_description: ClassVar[str | None] = None

    def __init__(self, raw: int | str) -> None:
        self._raw = raw
        if isinstance(raw, str) and has_placeholder(raw):
            self._value = None
            return
        self._value = self._parse_value(raw)

    @classmethod
    def _parse_value(cls, raw: int | str) -> T:
        raise NotImplementedError

    @classmethod
    def parse(cls, value: object) -> Self:
        if isinstance(value, cls):
            return value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SpecError(
                f"{value!r} is not {cls._what} or an '{{{{args.NAME}}}}' placeholder")
        return cls(value)

    @property
    def raw(self) -> int | str:
        """Exactly what the user wrote; this is what dumps emit."""
        return self._raw

    @property
    def value(self) -> T | None:
        """The value, or None while it is still an unresolved placeholder."""
        return self._value

    @property
    def is_placeholder(self) -> bool:
        return self._value is None

    def resolved(self) -> T:
        """The value; raise `SpecError` if the placeholder was never substituted."""
        if self._value is None:
            raise SpecError(f"{self._raw!r} still holds an argument placeholder")
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrArg) or type(other) is not type(self):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._raw!r})"

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
        value: JsonSchemaValue = {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
        }
        if cls._json_description:
            value["description"] = cls._json_description
        return value


class DurationOrArg(OrArg[Duration]):
    """A `Duration` (`30s`, `5m`, integer seconds) or a `{{args.NAME}}` placeholder.

    >>> DurationOrArg.parse("{{args.interval}}").value is None
    True
    >>> DurationOrArg.parse("1m").resolved().seconds
    60.0
    """

    __slots__ = ()
    _what = "a duration"
    _json_description = "a duration such as 30s or 5m, or '{{args.NAME}}'"

    @classmethod
    def _parse_value(cls, raw: int | str) -> Duration:
        try:
            return Duration.parse(raw)
        except SpecError as error:
            raise SpecError(
                f"{error}, or '{{{{args.NAME}}}}' to take the value from an argument"
            ) from None

    @classmethod
    def parse(cls, value: object) -> DurationOrArg:
        if isinstance(value, Duration):
            return cls(value.raw)
        return super().parse(value)


def _raw_of(value: OrArg[Any]) -> int | str:
    return value.raw
