"""The part of Kubernetes JSONPath that web metrics use to pick a value out of an answer.

Argo's web provider evaluates `jsonPath` with client-go's JSONPath templates and takes the
first value found. The paths its documentation and users write are plain navigation, which
is what this module implements:

| path                     | picks                                  |
| ------------------------ | -------------------------------------- |
| `{$}`, `{.}`, `` (empty) | the whole document                     |
| `{$.data.ok}`            | key `ok` of key `data`                 |
| `{$.items[0].value}`     | key `value` of the first item          |
| `{$.items[-1]}`          | the last item                          |
| `{$['my.key'].x}`        | a key holding dots or other specials   |

Braces and the leading `$` are optional (`$.data.ok` and `.data.ok` work too). Filters
(`?()`), wildcards (`*`), recursive descent (`..`), slices (`[1:3]`) and unions (`[0,1]`)
are refused with a message that says so, rather than silently picking something else.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["JsonPathError", "find", "parse_json_path"]

Step = str | int

_NAME = re.compile(r"[^.\[\]\s{}]+")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED = re.compile(r"""\[\s*(?:'([^']*)'|"([^"]*)")\s*\]""")
_UNSUPPORTED = (
    ("..", "recursive descent (..)"),
    ("*", "wildcards (*)"),
    ("?(", "filters (?())"),
)


class JsonPathError(ValueError):
    """The path cannot be parsed, or does not lead to a value in the document."""


def parse_json_path(text: str) -> tuple[Step, ...]:
    """`{$.a[0].b}` -> `("a", 0, "b")`; raises `JsonPathError` for what we do not support."""
    path = text.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    elif "{" in path or "}" in path:
        raise JsonPathError(f"jsonPath {text!r}: write one expression in braces, as {{$.a.b}}")
    for token, feature in _UNSUPPORTED:
        if token in path:
            raise JsonPathError(f"jsonPath {text!r} uses {feature}, which is not supported; "
                                "use a plain path such as {$.data.items[0].value}")
    if path.startswith("$"):
        path = path[1:]
    steps: list[Step] = []
    position = 0
    while position < len(path):
        rest = path[position:]
        if rest == ".":
            break
        if rest.startswith("."):
            name = _NAME.match(path, position + 1)
            if name is None:
                raise JsonPathError(f"jsonPath {text!r}: a name is missing after '.' "
                                    f"at {position + 1}")
            steps.append(name.group(0))
            position = name.end()
            continue
        index = _INDEX.match(path, position)
        if index is not None:
            steps.append(int(index.group(1)))
            position = index.end()
            continue
        quoted = _QUOTED.match(path, position)
        if quoted is not None:
            steps.append(quoted.group(1) if quoted.group(1) is not None else quoted.group(2))
            position = quoted.end()
            continue
        if rest.startswith("[") and (":" in rest.split("]")[0] or "," in rest.split("]")[0]):
            raise JsonPathError(f"jsonPath {text!r} uses slices or unions, which are not "
                                "supported; pick one element, as [0]")
        if not steps and position == 0 and _NAME.match(path) is not None:
            path = "." + path  # `data.ok` written without the leading dot
            continue
        raise JsonPathError(f"jsonPath {text!r}: cannot read {rest!r}; use a path such as "
                            "{$.data.items[0].value}")
    return tuple(steps)


def find(document: Any, steps: tuple[Step, ...], text: str = "") -> Any:
    """The value `steps` lead to in `document`; raises `JsonPathError` when there is none."""
    current = document
    walked = "$"
    for step in steps:
        if isinstance(step, int):
            if not isinstance(current, list):
                raise JsonPathError(f"jsonPath {text}: {walked} is {_kind(current)}, "
                                    f"not a list, so it has no [{step}]")
            if not -len(current) <= step < len(current):
                raise JsonPathError(f"jsonPath {text}: {walked} has {len(current)} items, "
                                    f"so there is no [{step}]")
            current = current[step]
            walked += f"[{step}]"
            continue
        if not isinstance(current, dict):
            raise JsonPathError(f"jsonPath {text}: {walked} is {_kind(current)}, "
                                f"not an object, so it has no key {step!r}")
        if step not in current:
            raise JsonPathError(f"jsonPath {text}: {walked} has no key {step!r}")
        current = current[step]
        walked += f".{step}" if _NAME.fullmatch(step) else f"[{step!r}]"
    return current


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"
