"""Go's `time` values for expressions that may call methods: the notification triggers.

Argo CD's and Argo Rollouts' notification triggers are expr conditions over the object
and a `time` variable: `time.Now()`, `time.Parse(s)` (RFC 3339) and the methods of Go's
`time.Time` / `time.Duration` a condition needs, e.g. Argo CD's on-deployed trigger::

    !time.Parse(app.status.health.lastTransitionTime)
        .Before(time.Parse(app.status.operationState.finishedAt))
    time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5

`TimeModule(now)` is the `time` variable: `now` is passed in, so an evaluation stays a
pure function of its inputs. `call_method` is the only way the evaluator reaches these
values: a fixed table per type, never `getattr` on a Python object. Supported:

- `time`: `Now()`, `Parse(text)` (RFC 3339, as Argo's `time.Parse(time.RFC3339, s)`);
- a time: `Before(t)`, `After(t)`, `Equal(t)`, `Sub(t)` (a duration), `Add(d)`, `Unix()`,
  `UnixMilli()`, `String()`;
- a duration: `Hours()`, `Minutes()`, `Seconds()`, `Milliseconds()`, `String()`.

Neighbours: `analysis.evaluator` calls `call_method` for `MethodCall` nodes, which
`analysis.expr_parser` makes only with `methods=True` (analysis conditions never do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from analysis.expr_lexer import ConditionError
from analysis.expr_values import type_name

__all__ = ["GoDuration", "GoTime", "TimeModule", "call_method", "parse_rfc3339"]


# Each type names itself for messages (`expr_values.type_name` reads `expr_type_name`);
# `<` and friends are not defined on them, and the message says what to write instead
# (`expr_operator_hint`).


@dataclass(frozen=True, slots=True)
class TimeModule:
    """The `time` variable; `now` is the evaluation's clock reading."""

    now: datetime
    expr_type_name: ClassVar[str] = "time"


@dataclass(frozen=True, slots=True)
class GoTime:
    """A `time.Time`: an aware UTC instant."""

    at: datetime
    expr_type_name: ClassVar[str] = "time.Time"
    expr_operator_hint: ClassVar[str] = "compare times with .Before(t), .After(t) or .Equal(t)"


@dataclass(frozen=True, slots=True)
class GoDuration:
    """A `time.Duration`."""

    span: timedelta
    expr_type_name: ClassVar[str] = "time.Duration"
    expr_operator_hint: ClassVar[str] = (
        "compare durations by number, with .Seconds(), .Minutes() or .Hours()")


def parse_rfc3339(text: str) -> datetime:
    """`2026-12-04T10:00:00Z` (or with an offset, or fractional seconds) as aware UTC;
    ValueError otherwise."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    return parsed.astimezone(UTC)


def call_method(target: object, method: str, args: list[object], position: int) -> object:
    """`target.method(*args)` for the types above; `ConditionError` for anything else."""
    if isinstance(target, TimeModule):
        return _module(target, method, args, position)
    if isinstance(target, GoTime):
        return _time(target, method, args, position)
    if isinstance(target, GoDuration):
        return _duration(target, method, args, position)
    raise ConditionError(f"cannot call {method}() on {type_name(target)}", position)


def _arity(method: str, args: list[object], count: int, position: int) -> None:
    if len(args) != count:
        raise ConditionError(
            f"{method}() takes {count} argument{'s' if count != 1 else ''}, got {len(args)}",
            position,
        )


def _module(module: TimeModule, method: str, args: list[object], position: int) -> object:
    if method == "Now":
        _arity(method, args, 0, position)
        return GoTime(module.now.astimezone(UTC))
    if method == "Parse":
        _arity(method, args, 1, position)
        text = args[0]
        if not isinstance(text, str):
            raise ConditionError(f"time.Parse needs a string, got {type_name(text)}", position)
        try:
            return GoTime(parse_rfc3339(text))
        except ValueError:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise ConditionError(f"time.Parse: {shown!r} is not an RFC 3339 time",
                                 position) from None
    raise ConditionError(f"time has no function {method} (known: Now, Parse)", position)


def _other_time(method: str, args: list[object], position: int) -> GoTime:
    _arity(method, args, 1, position)
    other = args[0]
    if not isinstance(other, GoTime):
        raise ConditionError(f"{method}() needs a time.Time, got {type_name(other)}", position)
    return other


def _time(value: GoTime, method: str, args: list[object], position: int) -> object:
    if method == "Before":
        return value.at < _other_time(method, args, position).at
    if method == "After":
        return value.at > _other_time(method, args, position).at
    if method == "Equal":
        return value.at == _other_time(method, args, position).at
    if method == "Sub":
        return GoDuration(value.at - _other_time(method, args, position).at)
    if method == "Add":
        _arity(method, args, 1, position)
        span = args[0]
        if not isinstance(span, GoDuration):
            raise ConditionError(f"Add() needs a time.Duration, got {type_name(span)}", position)
        return GoTime(value.at + span.span)
    _arity(method, args, 0, position)
    if method == "Unix":
        return int(value.at.timestamp())
    if method == "UnixMilli":
        return int(value.at.timestamp() * 1000)
    if method == "String":
        return value.at.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
    raise ConditionError(f"time.Time has no method {method} (known: Before, After, Equal, "
                         "Sub, Add, Unix, UnixMilli, String)", position)


def _duration(value: GoDuration, method: str, args: list[object], position: int) -> object:
    _arity(method, args, 0, position)
    seconds = value.span.total_seconds()
    if method == "Hours":
        return seconds / 3600
    if method == "Minutes":
        return seconds / 60
    if method == "Seconds":
        return seconds
    if method == "Milliseconds":
        return int(seconds * 1000)
    if method == "String":
        return f"{seconds:g}s"
    raise ConditionError(f"time.Duration has no method {method} (known: Hours, Minutes, "
                         "Seconds, Milliseconds, String)", position)
