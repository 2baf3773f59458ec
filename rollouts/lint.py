"""`rollouts lint`, the pure part: text in, problems out, no I/O.

Each YAML (or JSON) document is checked on its own. Objects of our kinds
(`argoproj.io/v1alpha1` Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun,
Experiment, Application, AppProject) go through `rollouts.api.check_object`; other
Kubernetes objects (Services, Ingresses, Deployments, ...) legitimately live in the same
files and are skipped, but counted; an unknown `argoproj.io` kind is an error. Each
problem prints as

    FILE:DOCUMENT:FIELD.PATH: SEVERITY: MESSAGE

with DOCUMENT counted from 1 within the file. Input that cannot be linted at all (not
YAML, a document that is not a mapping) raises `UnusableInput`, whose message says what is
wrong and what to do; the CLI (`rollouts.cli.lint_cmd`) turns it into exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from rollouts.api import KINDS, Severity, check_object, is_argo_document
from rollouts.api.errors import child_path

__all__ = ["LintProblem", "LintReport", "UnusableInput", "lint_documents", "lint_text"]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnusableInput(Exception):
    """The input cannot be linted at all; the message says what is wrong and what to do."""


@dataclass(frozen=True, slots=True)
class LintProblem:
    """One problem, located by file, document (from 1) and field path."""

    source: str
    document: int
    path: str
    message: str
    severity: Severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        return f"{self.source}:{self.document}:{self.path or '-'}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class LintReport:
    """What linting one input found, and how many objects were checked or skipped."""

    source: str
    problems: tuple[LintProblem, ...] = ()
    documents: int = 0
    """Non-empty documents (a `kind: List` counts once)."""
    checked: int = 0
    """`argoproj.io` objects validated (including those of an unknown kind)."""
    skipped: int = 0
    """Other objects (Services, Deployments, ..., Argo kinds not ours), not checked."""
    kinds: dict[str, int] = field(default_factory=dict)
    """How many objects of each kind were checked."""

    @property
    def errors(self) -> int:
        return sum(1 for problem in self.problems if problem.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for problem in self.problems if problem.severity is Severity.WARNING)

    @property
    def notes(self) -> int:
        """Remarks that are not problems (our extensions of Argo's fields)."""
        return sum(1 for problem in self.problems if problem.severity is Severity.NOTE)


def lint_text(text: str, source: str, *, syntax: Literal["yaml", "json"] = "yaml") -> LintReport:
    """Lint the documents in `text` (YAML, or JSON when `syntax="json"`) read from `source`."""
    if syntax == "json":
        try:
            return lint_documents([json.loads(text)], source)
        except json.JSONDecodeError as error:
            raise UnusableInput(
                f"{source}: not valid JSON ({error.msg} at line {error.lineno}, column "
                f"{error.colno}): fix the syntax"
            ) from None
    documents, duplicates = _load_yaml(text, source)
    return lint_documents(documents, source, duplicate_keys=duplicates)


def lint_documents(
    documents: Sequence[object],
    source: str,
    *,
    duplicate_keys: Mapping[int, Sequence[tuple[str, str]]] | None = None,
) -> LintReport:
    """Lint already-parsed documents; `duplicate_keys[i]` lists (path, message) for document i.

    Empty documents (None) keep their number but are otherwise ignored.
    """
    problems: list[LintProblem] = []
    counts = {"documents": 0, "checked": 0, "skipped": 0}
    kinds: dict[str, int] = {}
    for number, doc in enumerate(documents, start=1):
        duplicates = (duplicate_keys or {}).get(number, ())
        if doc is None:
            continue
        counts["documents"] += 1
        if not isinstance(doc, Mapping):
            raise UnusableInput(
                f"{source}: document {number} is a {_describe(doc)}, not a mapping: every "
                "document must be a Kubernetes object (apiVersion, kind, metadata, ...)"
            )
        for path, message in duplicates:
            problems.append(LintProblem(source, number, path, message, Severity.ERROR))
        for path, obj in _objects(doc):
            kind = obj.get("kind")
            verdict = _classify(obj)
            if verdict == "skip":
                counts["skipped"] += 1
                continue
            if verdict == "not-an-object":
                counts["skipped"] += 1
                problems.append(
                    LintProblem(
                        source,
                        number,
                        path,
                        "not a Kubernetes object (no apiVersion and kind); not checked",
                        Severity.WARNING,
                    )
                )
                continue
            result = check_object(obj)
            if result.obj is None and not result.errors:  # an Argo kind that is not ours
                counts["skipped"] += 1
            else:
                counts["checked"] += 1
                kinds[str(kind)] = kinds.get(str(kind), 0) + 1
            for problem in result.problems:
                problems.append(
                    LintProblem(
                        source,
                        number,
                        _join(path, problem.path),
                        problem.message,
                        problem.severity,
                    )
                )
    return LintReport(
        source,
        tuple(problems),
        documents=counts["documents"],
        checked=counts["checked"],
        skipped=counts["skipped"],
        kinds=kinds,
    )


def _classify(obj: Mapping[str, Any]) -> Literal["check", "skip", "not-an-object"]:
    """`check` ours (or claims to be), `skip` other Kubernetes objects."""
    if is_argo_document(obj):
        return "check"
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version is None and kind is None:
        return "not-an-object"
    if api_version is None and isinstance(kind, str):
        # `kind: Rollout` without an apiVersion is ours with a mistake, not someone else's.
        return "check" if kind in KINDS else "skip"
    return "skip"


def _objects(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The objects in a document: itself, or the items of a `kind: List`."""
    items = doc.get("items")
    if doc.get("kind") == "List" and isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                yield child_path("items", index), item
        return
    yield "", doc


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix


def _describe(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _load_yaml(text: str, source: str) -> tuple[list[object], dict[int, list[tuple[str, str]]]]:
    """Every document, and by document number the duplicate keys YAML would collapse."""
    loader = _Loader(text)
    documents: list[object] = []
    duplicates: dict[int, list[tuple[str, str]]] = {}
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            found = list(_duplicate_keys(node, "", set()))
            if found:
                duplicates[len(documents) + 1] = found
            documents.append(loader.construct_document(node))
    except yaml.YAMLError as error:
        raise UnusableInput(
            f"{source}: not valid YAML ({_yaml_reason(error)}): fix the syntax"
        ) from None
    finally:
        loader.dispose()
    return documents, duplicates


def _yaml_reason(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _duplicate_keys(node: yaml.Node, path: str, visited: set[int]) -> Iterator[tuple[str, str]]:
    # Aliases make the node graph a DAG (or even cyclic): visit each node once.
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            key_path = child_path(path, key)
            if key in seen and key != "<<":
                yield (
                    key_path,
                    f"{key!r} appears twice in the same mapping (line "
                    f"{key_node.start_mark.line + 1}); YAML would keep only the last one: "
                    "remove or merge the duplicate",
                )
            seen.add(key)
            yield from _duplicate_keys(value_node, key_path, visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, child_path(path, index), visited)
