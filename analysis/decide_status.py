"""Reading and writing an AnalysisRun's `status` as the plain dict the API server stores.

The shape is Argo's (`rollouts.api.analysis_status` documents it). Readers here are
forgiving: a status written by Argo, by an older version of ours or by hand may lack
counters or hold odd values, and a decision must still come out (a missing counter is 0,
an unparseable time is absent). Writers produce exactly the documented shape, with times
as RFC 3339 strings and measured values as text (`[0.99,0.98]`, `0.99`, `true`).

A metric result as written here::

    {name: success-rate, phase: Running, count: 2, successful: 2, failed: 0,
     inconclusive: 0, error: 0, consecutiveError: 0,
     measurements: [{phase: Successful, value: "[0.99]", startedAt: ..., finishedAt: ...}]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from rollouts.api import AnalysisPhase
from rollouts.api.common import format_time

__all__ = [
    "COUNTERS",
    "MAX_VALUE_LENGTH",
    "counters",
    "format_value",
    "in_flight",
    "last_measurement",
    "measurements",
    "metric_result",
    "parse_time",
    "phase_of",
    "stamp",
]

COUNTERS = ("count", "successful", "failed", "inconclusive", "error", "consecutiveError")
MAX_VALUE_LENGTH = 1024
"""Longest measured value kept in status; a huge vector would bloat the object."""


def stamp(moment: datetime) -> str:
    """A time as status stores it (RFC 3339, UTC, microseconds kept)."""
    return format_time(moment)


def parse_time(value: object) -> datetime | None:
    """A stored RFC 3339 time as an aware datetime; None when absent or unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def phase_of(record: Mapping[str, Any] | None) -> AnalysisPhase | None:
    """The `phase` of a run, metric result or measurement; None when absent or unknown."""
    if not record:
        return None
    value = record.get("phase")
    if not isinstance(value, str):
        return None
    try:
        return AnalysisPhase(value)
    except ValueError:
        return None


def metric_result(status: dict[str, Any], name: str) -> dict[str, Any] | None:
    results = status.get("metricResults")
    if not isinstance(results, list):
        return None
    return next(
        (item for item in results if isinstance(item, dict) and item.get("name") == name), None
    )


def measurements(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = result.get("measurements")
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def last_measurement(result: Mapping[str, Any]) -> dict[str, Any] | None:
    found = measurements(result)
    return found[-1] if found else None


def in_flight(measurement: Mapping[str, Any] | None) -> bool:
    """Whether a measurement was started and is not finished (a Job still running)."""
    if measurement is None:
        return False
    phase = phase_of(measurement)
    return phase is None or not phase.completed


def counters(result: Mapping[str, Any]) -> dict[str, int]:
    """The metric result's counters; missing or malformed ones read as 0."""
    found: dict[str, int] = {}
    for key in COUNTERS:
        value = result.get(key)
        found[key] = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return found


def format_value(value: object, redact: Callable[[str], str] | None = None) -> str:
    """A measured value as Argo stores it: `[0.99,0.98]`, `0.99`, `true`, JSON for maps.

    Floats print as Go's `FormatFloat(f, 'f', -1)` does (`1`, `0.00001`, `NaN`, `+Inf`);
    strings are kept as they are. `redact` (the run's `ResolvedArgs.redact`) masks secret
    argument values an endpoint echoed; it runs before the text is cut, so no secret
    survives half-cut at the end. Longer than `MAX_VALUE_LENGTH`: cut, with `...`.
    """
    text = _render(value, 0)
    if redact is not None:
        text = redact(text)
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - 3] + "..."
    return text


def _render(value: object, depth: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else "(an integer beyond 64 bits)"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return value if depth == 0 else json.dumps(value)
    if depth > 20:
        return "..."
    if isinstance(value, list | tuple):
        parts: list[str] = []
        length = 0
        for item in value:
            part = _render(item, depth + 1)
            parts.append(part)
            length += len(part) + 1
            if length > MAX_VALUE_LENGTH:
                break
        return "[" + ",".join(parts) + "]"
    if isinstance(value, Mapping):
        fields: list[str] = []
        length = 0
        for key, item in value.items():
            part = f"{json.dumps(str(key))}:{_render(item, depth + 1)}"
            fields.append(part)
            length += len(part) + 1
            if length > MAX_VALUE_LENGTH:
                break
        return "{" + ",".join(fields) + "}"
    return type(value).__name__


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    digits = mantissa.replace("-", "").replace(".", "")
    point = mantissa.replace("-", "").find(".")
    point = len(digits) if point < 0 else point
    shift = point + int(exponent)
    sign = "-" if value < 0 else ""
    if shift <= 0:
        return f"{sign}0.{'0' * -shift}{digits}"
    if shift >= len(digits):
        return f"{sign}{digits}{'0' * (shift - len(digits))}"
    return f"{sign}{digits[:shift]}.{digits[shift:]}"
