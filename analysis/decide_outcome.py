"""`Outcome`: what one provider call produced for one metric, as `analysis.decide` reads it.

`record(run, status, metric, outcome, now)` accepts any object with the attributes of
`MeasurementOutcome` (value, error, pending, resume_at, metadata, and optionally
started_at), so the providers' own result type (`analysis.providers.base.Outcome`) can be
passed as it is; `Outcome` here is the checked, documented one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["MeasurementOutcome", "Outcome"]


class MeasurementOutcome(Protocol):
    """The reading side of an outcome: exactly one of a value, an error or "pending"."""

    @property
    def value(self) -> object: ...

    @property
    def error(self) -> str | None: ...

    @property
    def pending(self) -> bool: ...

    @property
    def resume_at(self) -> datetime | None: ...

    @property
    def metadata(self) -> Mapping[str, str] | None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one provider call produced for one metric: a value, an error, or "not yet".

    Build it with `Outcome.measured(value)`, `Outcome.failed(message)` or
    `Outcome.waiting(resume_at)`. `value` is the parsed result (Prometheus: a list of
    floats or a float; web: the JSON; job: True when the Job succeeded). `metadata` (e.g.
    the Job's name) is kept on the measurement; `started_at` defaults to `now`.
    """

    value: object = None
    error: str | None = None
    pending: bool = False
    resume_at: datetime | None = None
    metadata: Mapping[str, str] | None = None
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.pending and self.error is not None:
            raise ValueError("an outcome is either pending or an error, not both")
        if self.resume_at is not None and not self.pending:
            raise ValueError("resume_at only goes with a pending outcome")

    @classmethod
    def measured(
        cls,
        value: object,
        *,
        metadata: Mapping[str, str] | None = None,
        started_at: datetime | None = None,
    ) -> Outcome:
        return cls(value=value, metadata=metadata, started_at=started_at)

    @classmethod
    def failed(
        cls,
        error: str,
        *,
        metadata: Mapping[str, str] | None = None,
        started_at: datetime | None = None,
    ) -> Outcome:
        """The provider could not measure (timeout, HTTP 500, bad JSON): an Error."""
        return cls(error=error or "measurement failed", metadata=metadata, started_at=started_at)

    @classmethod
    def waiting(
        cls,
        resume_at: datetime | None,
        *,
        metadata: Mapping[str, str] | None = None,
        started_at: datetime | None = None,
    ) -> Outcome:
        """Still running (a Job); look again at `resume_at` (None: at every plan)."""
        return cls(pending=True, resume_at=resume_at, metadata=metadata, started_at=started_at)
