"""Metric settings that may be an `{{args.NAME}}` placeholder until the run is created.

Argo lets a metric's scalar settings (`count`, `interval`, `failureLimit`, a web
provider's `timeoutSeconds`, ...) be written as `"{{args.NAME}}"`; the AnalysisRun
substitutes its arguments before anything is measured. Until then the value cannot be
checked, so the models keep such a setting unresolved:

- `IntOrArg` (`rollouts.api.intstr`): an integer, a string of digits, or a placeholder;
- `DurationOrArg` (here): a duration (`rollouts.api.duration`) or a placeholder.

A placeholder is any string holding `{{args.NAME}}` (spaces inside the braces allowed), as
the analysis controller substitutes it (`analysis.args`); any other string must be a
valid value. The CRD schemas (`manifests/crds/*analysis*.yaml`) make the same test with a
`pattern` on these fields.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from rollouts.api.duration import Duration
from rollouts.api.errors import SpecError

__all__ = ["ARG_PLACEHOLDER", "DurationOrArg", "has_placeholder"]

ARG_PLACEHOLDER = re.compile(r"\{\{\s*args\.([^{}\s]+)\s*\}\}")
"""`{{args.NAME}}`, as `analysis.args.substitute` replaces it; group 1 is the name."""


def has_placeholder(text: str) -> bool:
    """Whether `text` refers to an argument (`{{args.NAME}}`, spaces allowed inside)."""
    return ARG_PLACEHOLDER.search(text) is not None


class DurationOrArg:
    """A `Duration` (`30s`, `5m`, integer seconds) or a `{{args.NAME}}` placeholder.

    >>> DurationOrArg.parse("{{args.interval}}").value is None
    True
    >>> DurationOrArg.parse("1m").resolved().seconds
    60.0
    """

    __slots__ = ("_raw", "_value")

    _raw: int | str
    _value: Duration | None

    def __init__(self, raw: int | str) -> None:
        self._raw = raw
        if isinstance(raw, str) and has_placeholder(raw):
            self._value = None
            return
        try:
            self._value = Duration.parse(raw)
        except SpecError as error:
            raise SpecError(
                f"{error}, or '{{{{args.NAME}}}}' to take the value from an argument"
            ) from None

    @classmethod
    def parse(cls, value: object) -> DurationOrArg:
        if isinstance(value, DurationOrArg):
            return value
        if isinstance(value, Duration):
            return cls(value.raw)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SpecError(f"{value!r} is not a duration or an '{{{{args.NAME}}}}' placeholder")
        return cls(value)

    @property
    def raw(self) -> int | str:
        """Exactly what the user wrote; this is what dumps emit."""
        return self._raw

    @property
    def value(self) -> Duration | None:
        """The duration, or None while it is still an unresolved placeholder."""
        return self._value

    @property
    def is_placeholder(self) -> bool:
        return self._value is None

    def resolved(self) -> Duration:
        """The duration; raise `SpecError` if the placeholder was never substituted."""
        if self._value is None:
            raise SpecError(f"{self._raw!r} still holds an argument placeholder")
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DurationOrArg):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"DurationOrArg({self._raw!r})"

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
        return {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "description": "a duration such as 30s or 5m, or '{{args.NAME}}'",
        }


def _raw_of(value: DurationOrArg) -> int | str:
    return value.raw
