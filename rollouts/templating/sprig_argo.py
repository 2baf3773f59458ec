"""sprig's regular-expression functions and Argo CD's own template functions.

Regular expressions: regexMatch, regexFind, regexFindAll, regexReplaceAll (with Go's
`$1`, `${1}`, `${name}` expansion, where `$1x` names group "1x" as in Go) and
regexReplaceAllLiteral, arguments in sprig's order (`regexReplaceAll REGEX STRING REPL`).
Go uses RE2, which never backtracks; Python's engines do, so a hostile pattern such as
`(a+)+$` could run for hours. Patterns run on the `regex` module with a time limit
(`REGEX_SECONDS`) per call, and a pattern that runs out of time is an error naming
the limit. Patterns are RE2's common syntax; Python-only features (backreferences,
lookaround) happen to work where RE2 would refuse them.

Argo CD's additions to sprig for ApplicationSets:

- `normalize NAME`: lower case, every character outside `[-a-z0-9.]` becomes `-`, cut to
  253 characters, then `-` and `.` trimmed from both ends (Argo CD's SanitizeName).
- `slugify [MAX_SIZE [SMART_TRUNCATE]] NAME`: normalize, then gosimple/slug: `.` becomes
  `-`, runs of `-` collapse, `-`/`_` trimmed; at most MAX_SIZE (default 50) characters,
  cut at the last `-` that fits when SMART_TRUNCATE (default true) is on, else cut
  exactly.
- `toYaml VALUE`: YAML with sorted keys and no trailing newline (Argo CD trims it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import regex
import yaml

from rollouts.templating.errors import FunctionError, check_size
from rollouts.templating.go_funcs import want_bool, want_int, want_str
from rollouts.templating.go_values import MISSING, is_list
from rollouts.templating.sprig import to_str

__all__ = ["ARGO", "REGEX_SECONDS", "normalize", "slugify"]

REGEX_SECONDS = 0.5
"""Time one regular-expression call may take (RE2 is linear; Python engines are not)."""

_INVALID_DNS = re.compile(r"[^-a-z0-9.]")
_NOT_SLUG = re.compile(r"[^a-zA-Z0-9\-_]")
_DASHES = re.compile(r"-+")
_GROUP_REF = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


@lru_cache(maxsize=128)
def _compile(pattern: str) -> Any:
    try:
        return regex.compile(pattern)
    except regex.error as error:
        raise FunctionError(f"error parsing regexp: {error}: `{pattern}`") from None


def _timed(function: Callable[[], Any]) -> Any:
    try:
        return function()
    except TimeoutError:
        raise FunctionError(
            f"regular expression ran longer than the limit of {REGEX_SECONDS} seconds"
        ) from None


def _regex_match(pattern: Any, text: Any) -> bool:
    pattern, text = want_str(pattern), want_str(text)
    try:
        compiled = _compile(pattern)
    except FunctionError:
        return False  # sprig's regexMatch answers false for a bad pattern
    return _timed(lambda: compiled.search(text, timeout=REGEX_SECONDS)) is not None


def _regex_find(pattern: Any, text: Any) -> str:
    compiled, text = _compile(want_str(pattern)), want_str(text)
    found = _timed(lambda: compiled.search(text, timeout=REGEX_SECONDS))
    return found.group(0) if found else ""


def _regex_find_all(pattern: Any, text: Any, limit: Any) -> list[str]:
    compiled, text, limit = _compile(want_str(pattern)), want_str(text), want_int(limit)
    found = _timed(lambda: [m.group(0) for m in compiled.finditer(text, timeout=REGEX_SECONDS)])
    return list(found if limit < 0 else found[:limit])


def _expand(match: Any, template: str) -> str:
    """Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown groups are ""."""

    def one(ref: re.Match[str]) -> str:
        if ref.group(0) == "$$":
            return "$"
        name = ref.group(1) if ref.group(1) is not None else ref.group(2)
        if not name:
            return ref.group(0)
        try:
            value = match.group(int(name) if name.isdigit() else name)
        except (IndexError, KeyError):
            return ""
        return str(value or "")

    return _GROUP_REF.sub(one, template)


def _replace_all(pattern: Any, text: Any, replacement: Any, *, literal: bool) -> str:
    compiled = _compile(want_str(pattern))
    text, replacement = want_str(text), want_str(replacement)
    size = [len(text)]
    what = "regexReplaceAllLiteral" if literal else "regexReplaceAll"

    def one(match: Any) -> str:
        value = replacement if literal else _expand(match, replacement)
        size[0] += len(value) - (match.end() - match.start())
        check_size(size[0], what)
        return value

    return str(_timed(lambda: compiled.sub(one, text, timeout=REGEX_SECONDS)))


def _regex_replace_all(pattern: Any, text: Any, replacement: Any) -> str:
    return _replace_all(pattern, text, replacement, literal=False)


def _regex_replace_all_literal(pattern: Any, text: Any, replacement: Any) -> str:
    return _replace_all(pattern, text, replacement, literal=True)


def normalize(name: Any) -> str:
    """Argo CD's SanitizeName: a DNS-1123 subdomain-safe form of any string."""
    text = _INVALID_DNS.sub("-", want_str(name).lower())
    return text[:253].strip("-.")


def _slug(text: str, max_size: int, smart: bool) -> str:
    text = text.strip()
    if not smart and len(text) >= max_size:
        text = text[:max_size]
    text = _NOT_SLUG.sub("-", text)
    text = _DASHES.sub("-", text).strip("-_")
    if max_size > 0 and smart and len(text) > max_size:
        cut = text.rfind("-", 0, max_size + 1)
        text = text[:cut] if cut > 0 else text[:max_size]
    return text


def slugify(*args: Any) -> str:
    """Argo CD's slugify: `slugify NAME`, `slugify 20 NAME` or `slugify 20 false NAME`."""
    if not args:
        return ""
    if len(args) > 3:
        raise FunctionError("slugify takes at most 3 arguments: maxSize, smartTruncate, name")
    max_size = want_int(args[0]) if len(args) >= 2 else 50
    smart = want_bool(args[1]) if len(args) == 3 else True
    return _slug(normalize(args[-1]), max_size, smart)


class _SortedDumper(yaml.SafeDumper):
    """Plain YAML like sigs.k8s.io/yaml writes it; unknown types become strings."""


def _represent_other(dumper: yaml.SafeDumper, data: Any) -> yaml.Node:
    return dumper.represent_str(to_str(data))


# PyYAML's documented fallback: the representer registered for None takes every type
# without its own (the stubs only admit classes).
_SortedDumper.add_representer(None, _represent_other)  # type: ignore[arg-type]


def _yaml_ready(value: Any, depth: int = 0) -> Any:
    if depth > 100:
        raise FunctionError("value nested deeper than 100 levels")
    if value is MISSING:
        return None
    if is_list(value):
        return [_yaml_ready(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {to_str(k): _yaml_ready(v, depth + 1) for k, v in value.items()}
    return value


def _to_yaml(value: Any) -> str:
    text = yaml.dump(
        _yaml_ready(value),
        Dumper=_SortedDumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        width=1_000_000,
    )
    # A lone scalar ends with the document-end marker; Argo CD trims the final newline.
    text = text.removesuffix("\n...\n") if text.endswith("\n...\n") else text
    return text.removesuffix("\n")


ARGO: dict[str, Callable[..., Any]] = {
    "regexMatch": _regex_match,
    "regexFind": _regex_find,
    "regexFindAll": _regex_find_all,
    "regexReplaceAll": _regex_replace_all,
    "regexReplaceAllLiteral": _regex_replace_all_literal,
    "normalize": normalize,
    "slugify": slugify,
    "toYaml": _to_yaml,
}
