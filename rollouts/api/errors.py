"""Problems found in a manifest, and the one exception type of `rollouts.api`.

Every check in this package (parsing, semantic rules, unknown-field detection) reports a
`Problem`: the dotted path of the field (`spec.strategy.canary.steps[2].setWeight`), a
message that says what is wrong and what to write instead, and a severity. Callers that
need a verdict raise `SpecError`, which carries the error-severity problems; `rollouts lint`
prints them, the controller turns them into an `InvalidSpec` condition.

`SpecError` subclasses `ValueError` so that pydantic validators may raise it and have the
message reported against the field being validated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Problem", "Severity", "SpecError", "child_path"]


class Severity(StrEnum):
    """How bad a problem is: errors stop a rollout (and fail `rollouts lint`), warnings don't.

    A note is not a problem: it tells the reader something they may not expect, such as a
    field that is our extension rather than Argo's (`lint` prints it; `--strict` ignores it;
    controllers do not report it as an unsupported field).
    """

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field of a manifest."""

    path: str
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def is_warning(self) -> bool:
        return self.severity is Severity.WARNING

    def __str__(self) -> str:
        return f"{self.path or '(object)'}: {self.message}"


class SpecError(ValueError):
    """A manifest (or a single value in one) is invalid; `problems` says where and why."""

    problems: tuple[Problem, ...]

    def __init__(self, problems: str | Problem | Sequence[Problem], *, path: str = "") -> None:
        if isinstance(problems, str):
            found: tuple[Problem, ...] = (Problem(path, problems),)
        elif isinstance(problems, Problem):
            found = (problems,)
        else:
            found = tuple(problems)
        self.problems = found
        super().__init__(_summary(found))

    @classmethod
    def collect(cls, problems: Iterable[Problem]) -> SpecError | None:
        """A `SpecError` for the error-severity problems among `problems`, or None if none."""
        errors = [problem for problem in problems if problem.is_error]
        return cls(errors) if errors else None


def _summary(problems: tuple[Problem, ...]) -> str:
    if len(problems) == 1 and not problems[0].path:
        return problems[0].message
    return "; ".join(str(problem) for problem in problems)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def child_path(path: str, key: str | int) -> str:
    """The path of `key` under `path`: `a.b`, `a[3]`, or `a["nvidia.com/gpu"]` for odd keys."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.match(key):
        return f'{path}["{key}"]'
    return f"{path}.{key}" if path else key
