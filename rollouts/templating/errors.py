"""The one error every templating failure becomes, and the limits a template runs under.

`TemplateError` is what callers catch: a one-line message naming the template, the
line:column of the action at fault and the cause, in the spirit of Go's
`template: name:1:5: executing ...` messages. `FunctionError` is internal: a template
function raises it and the executor (`go_exec`) turns it into a `TemplateError` that
names the function and the place it was called from.

The limits bound a hostile template (one written by whoever can commit to a Git
repository an ApplicationSet reads, or edit a notifications ConfigMap): source size,
output size (which also caps every string a function builds), evaluation steps and
nesting depth. Each one, when hit, raises a `TemplateError` that names it.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = [
    "BUILD_LIMIT",
    "MAX_DEPTH",
    "MAX_OUTPUT_BYTES",
    "MAX_SOURCE_BYTES",
    "MAX_STEPS",
    "FunctionError",
    "TemplateError",
    "check_size",
]

MAX_SOURCE_BYTES = 64 * 1024
"""A template's source, in UTF-8 bytes; a longer one is refused before parsing."""

MAX_OUTPUT_BYTES = 1024 * 1024
"""What one execution may write, and the largest string any function may build."""

MAX_STEPS = 200_000
"""Evaluation steps (nodes visited, commands run, range iterations) per execution."""

MAX_DEPTH = 50
"""Nesting of control structures, parentheses and template calls."""


class TemplateError(ValueError):
    """A template that cannot be parsed or executed; the message is one line."""


class FunctionError(Exception):
    """Raised by a template function; the executor adds the function name and place."""


BUILD_LIMIT: ContextVar[int] = ContextVar(
    "rollouts_templating_build_limit", default=MAX_OUTPUT_BYTES
)
"""The output limit of the running execution: functions check what they build against it
before building it, so `repeat 1000000000 "x"` fails without allocating a gigabyte."""


def check_size(size: int, what: str) -> None:
    """Refuse to build a string of `size` characters above the running output limit."""
    limit = BUILD_LIMIT.get()
    if size > limit:
        raise FunctionError(f"{what} would be {size} bytes, over the limit of {limit} bytes")
