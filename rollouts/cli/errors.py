"""The CLI's one exception type for problems the user can fix."""

from __future__ import annotations


class UsageProblem(Exception):
    """A mistake the user can correct; printed as one line, exit code `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
