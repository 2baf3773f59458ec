"""`spec.ignoreDifferences`: fields of matching objects that never count as drift.

An `IgnoreRule` matches objects by group and kind (globs, `*` for any; the core group is
"") and, when given, by name and namespace, as Argo CD does. Its paths are removed from
both the live object and the dry-run result before they are compared:

- `jsonPointers`: RFC 6901 (`/spec/replicas`, `/metadata/annotations/a~1b` for `a/b`,
  `/spec/template/spec/containers/0/image`);
- `jqPathExpressions`: a subset of jq path expressions, enough for Argo CD's documented
  examples:

      .spec.replicas                      .metadata.annotations["example.com/x"]
      .spec.containers[0].image           .spec.containers[].env          (every item)
      .a.b[]?.c                           (`?` accepted: missing parts are skipped anyway)
      .spec.template.spec.containers[] | select(.name == "istio-proxy")
      .spec.containers[] | select(.name != "main") | .image
      .webhooks[]?.clientConfig.caBundle

  i.e. `.field`, `."field"`, `["field"]`, `[n]` (negative counts from the end), `[]`,
  `?`, `|`, and `select(<path> == <literal>)` / `!=` with a string, number, true, false
  or null literal. Anything else is refused with `ValueError` when the rule is built;
- `managedFieldsManagers`: fields owned by these managers (`kube-controller-manager`,
  a mutating operator); `reconciler.diff` subtracts their field sets.

Pure; neighbour: `reconciler.diff`.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.tracking import ResourceKey
from rollouts.api.application import ResourceIgnoreDifferences

__all__ = [
    "IgnoreRule",
    "JqPath",
    "Path",
    "delete_paths",
    "jq_paths",
    "parse_jq",
    "pointer_path",
    "remove_ignored",
]

Path = tuple[str | int, ...]


# --- JSON pointers --------------------------------------------------------------------


def pointer_path(obj: Any, pointer: str) -> Path | None:
    """The concrete path of an RFC 6901 pointer in `obj`, or None when it names nothing."""
    if not pointer.startswith("/"):
        return None
    path: list[str | int] = []
    value = obj
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            path.append(token)
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            path.append(int(token))
            value = value[int(token)]
        else:
            return None
    return tuple(path)


# --- jq subset ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Index:
    index: int


@dataclass(frozen=True, slots=True)
class _Iterate:
    pass


@dataclass(frozen=True, slots=True)
class _Select:
    path: tuple[_Field | _Index | _Iterate, ...]
    equal: bool
    literal: Any


_Step = _Field | _Index | _Iterate | _Select


@dataclass(frozen=True, slots=True)
class JqPath:
    """A compiled jq path expression (see the module docstring for the subset)."""

    source: str
    steps: tuple[_Step, ...]


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<select>select\s*\()
    | (?P<field>\.[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<qfield>\."(?:[^"\\]|\\.)*")
    | (?P<bracket>\[\s*(?:-?\d+|"(?:[^"\\]|\\.)*")?\s*\])
    | (?P<dot>\.)
    | (?P<op>==|!=)
    | (?P<literal>"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)
    | (?P<punct>[|?)])
    )""",
    re.VERBOSE,
)


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expr):
        if expr[position:].strip() == "":
            break
        match = _TOKEN.match(expr, position)
        if match is None or match.end() == position:
            raise ValueError(f"jq path {expr!r}: cannot read {expr[position:].strip()!r} "
                             "(supported: .a.b, [n], [], ?, |, select(.k == \"v\"))")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind).strip()))
        position = match.end()
    return tokens


def _path_steps(tokens: list[tuple[str, str]], expr: str) -> list[_Field | _Index | _Iterate]:
    steps: list[_Field | _Index | _Iterate] = []
    while tokens and tokens[0][0] in ("field", "qfield", "bracket", "dot", "punct"):
        kind, text = tokens[0]
        if kind == "punct" and text != "?":
            break
        tokens.pop(0)
        if kind == "field":
            steps.append(_Field(text[1:]))
        elif kind == "qfield":
            steps.append(_Field(json.loads(text[1:])))
        elif kind == "bracket":
            inner = text[1:-1].strip()
            if not inner:
                steps.append(_Iterate())
            elif inner.startswith('"'):
                steps.append(_Field(json.loads(inner)))
            else:
                steps.append(_Index(int(inner)))
    return steps


def parse_jq(expr: str) -> JqPath:
    """Compile a jq path expression of the supported subset; ValueError otherwise."""
    if not expr.strip().startswith("."):
        raise ValueError(f"jq path {expr!r} must start with '.'")
    tokens = _tokens(expr)
    steps: list[_Step] = []
    while tokens:
        kind, _ = tokens[0]
        if kind == "select":
            tokens.pop(0)
            path = _path_steps(tokens, expr)
            if len(tokens) < 3 or tokens[0][0] != "op" or tokens[1][0] != "literal" \
                    or tokens[2] != ("punct", ")"):
                raise ValueError(f"jq path {expr!r}: select() takes `<path> == <literal>` "
                                 "or `<path> != <literal>`")
            steps.append(_Select(tuple(path), tokens[0][1] == "==", json.loads(tokens[1][1])))
            del tokens[:3]
        else:
            before = len(tokens)
            steps.extend(_path_steps(tokens, expr))
            if len(tokens) == before:
                raise ValueError(f"jq path {expr!r}: unexpected {tokens[0][1]!r}")
        if tokens and tokens[0] == ("punct", "|"):
            tokens.pop(0)
            if not tokens:
                raise ValueError(f"jq path {expr!r} ends with '|'")
        elif tokens and tokens[0][0] == "select":
            raise ValueError(f"jq path {expr!r}: put '|' before select()")
    return JqPath(expr, tuple(steps))


def _walk(value: Any, steps: Sequence[_Step], path: Path) -> Iterable[tuple[Path, Any]]:
    if not steps:
        yield path, value
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, _Field):
        if isinstance(value, dict) and step.name in value:
            yield from _walk(value[step.name], rest, (*path, step.name))
    elif isinstance(step, _Index):
        if isinstance(value, list) and -len(value) <= step.index < len(value):
            index = step.index % len(value)
            yield from _walk(value[index], rest, (*path, index))
    elif isinstance(step, _Iterate):
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from _walk(item, rest, (*path, index))
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from _walk(item, rest, (*path, key))
    else:
        found = [v for _, v in _walk(value, step.path, ())] or [None]
        if any((v == step.literal) == step.equal for v in found):
            yield from _walk(value, rest, path)


def jq_paths(obj: Any, expr: JqPath) -> list[Path]:
    """The concrete paths in `obj` that a compiled jq expression names."""
    return [path for path, _ in _walk(obj, expr.steps, ())]


# --- removal --------------------------------------------------------------------------

_DELETED = object()


def _delete(value: Any, paths: list[Path]) -> Any:
    if any(not p for p in paths):
        return _DELETED
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            below = [p[1:] for p in paths if p[0] == key]
            kept = _delete(item, below) if below else item
            if kept is not _DELETED:
                result[key] = kept
        return result
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            below = [p[1:] for p in paths if p[0] == index]
            kept = _delete(item, below) if below else item
            if kept is not _DELETED:
                items.append(kept)
        return items
    return value


def delete_paths(obj: Any, paths: Iterable[Path]) -> Any:
    """A copy of `obj` without the given paths (list indexes refer to `obj` as given)."""
    result = _delete(copy.deepcopy(obj), [p for p in paths])
    return None if result is _DELETED else result


# --- rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    """One `spec.ignoreDifferences` entry; building it checks the jq expressions."""

    kind: str
    group: str = ""
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()
    compiled: tuple[JqPath, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled",
                           tuple(parse_jq(e) for e in self.jq_path_expressions))

    @classmethod
    def from_api(cls, spec: ResourceIgnoreDifferences) -> IgnoreRule:
        return cls(
            kind=spec.kind, group=spec.group or "", name=spec.name or "",
            namespace=spec.namespace or "", json_pointers=tuple(spec.json_pointers or ()),
            jq_path_expressions=tuple(spec.jq_path_expressions or ()),
            managed_fields_managers=tuple(spec.managed_fields_managers or ()),
        )

    def matches(self, key: ResourceKey) -> bool:
        return (fnmatch.fnmatchcase(key.group, self.group or "")
                and fnmatch.fnmatchcase(key.kind, self.kind)
                and self.name in ("", key.name)
                and self.namespace in ("", key.namespace))

    def paths(self, obj: Any) -> list[Path]:
        """The concrete paths this rule hides in `obj`."""
        found = [p for p in (pointer_path(obj, ptr) for ptr in self.json_pointers) if p]
        for expr in self.compiled:
            found.extend(p for p in jq_paths(obj, expr) if p)
        return found


def remove_ignored(obj: Any, rules: Iterable[IgnoreRule]) -> Any:
    """A copy of `obj` without the paths the (already matched) rules hide."""
    paths = [p for rule in rules for p in rule.paths(obj)]
    return delete_paths(obj, paths) if paths else copy.deepcopy(obj)
