"""What every renderer shares: `RenderError`, limits, YAML/JSON parsing and object checks.

Parsing follows what `kubectl apply -f` accepts: multi-document YAML with empty
documents skipped, JSON objects or arrays, and `kind: List` (or any `*List` with
`items`) expanded into its items. Unlike PyYAML's default, timestamps stay strings
(`date: 2024-01-01` is the string Kubernetes receives) and keys are strings, so every
object is JSON-ready. Every object must be a mapping with `apiVersion`, `kind` and
`metadata.name` (or `metadata.generateName`, which hooks use); anything else is a
`RenderError` naming the file and document, because silently dropping a malformed object
would later prune its live copy.

Git content is hostile input, so every render runs under a `RenderPolicy` (limits and
options, one per controller) and a `RenderBudget` (what this render has used so far):
bytes per file and in total, objects, nesting depth, YAML alias expansion (a 300-byte
"billion laughs" document would otherwise expand to gigabytes when copied into JSON) and
a deadline. Running out of any of them is a `RenderError` naming the file.

Neighbours: `render_directory`, `render_kustomize`, `render_helm`, and `render` on top;
`reconciler.tools` runs the external tools under the same budget.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_OBJECTS",
    "MAX_TOTAL_BYTES",
    "RENDER_TIMEOUT_SECONDS",
    "RenderBudget",
    "RenderError",
    "RenderPolicy",
    "check_objects",
    "load_json",
    "load_yaml",
]

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest manifest file (or Helm template output) read, in bytes: 8 MiB."""

MAX_TOTAL_BYTES = 64 * 1024 * 1024
"""Most manifest bytes one render reads or receives from a tool, in total: 64 MiB."""

MAX_OBJECTS = 10_000
"""Most objects one render may produce (after `List`s are expanded)."""

MAX_ALIAS_NODES = 100_000
"""Most YAML nodes that aliases may add to one document when expanded."""

MAX_DEPTH = 200
"""Deepest nesting of mappings and lists in an object (real manifests stay under ~60)."""

RENDER_TIMEOUT_SECONDS = 60.0
"""Wall-clock time for one render: walking and parsing files, helm or kustomize included."""


@dataclass(frozen=True)
class RenderPolicy:
    """Limits and options for rendering untrusted Git content (one per controller)."""

    allow_remote_bases: bool = False
    """Let kustomize fetch `https://` / `ssh://` / scp-like remote bases (never `file://`)."""
    max_file_bytes: int = MAX_FILE_BYTES
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_objects: int = MAX_OBJECTS
    max_alias_nodes: int = MAX_ALIAS_NODES
    max_depth: int = MAX_DEPTH
    timeout_seconds: float = RENDER_TIMEOUT_SECONDS


class RenderError(Exception):
    """Rendering failed: one line saying which file or tool failed and why."""

    def __init__(self, message: str) -> None:
        flat = " ".join(message.split())
        super().__init__(flat)
        self.message = flat

    def __str__(self) -> str:
        return self.message


class RenderBudget:
    """What one render may still use: bytes, objects and time (not thread-safe: one render)."""

    def __init__(
        self, policy: RenderPolicy | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or RenderPolicy()
        self._clock = clock
        self._deadline = clock() + self.policy.timeout_seconds
        self.total_bytes = 0
        self.objects = 0

    def add_bytes(self, size: int, source: str) -> None:
        """Count a file of `size` bytes read from `source` (per-file and total limits)."""
        self.check_file_size(size, source)
        self.add_total(size, source)

    def check_file_size(self, size: int, source: str) -> None:
        """Refuse one file (or one Helm template's output) over the per-file limit."""
        if size > self.policy.max_file_bytes:
            raise RenderError(
                f"{source} is {size} bytes, more than the limit of "
                f"{self.policy.max_file_bytes} bytes per file; split it into smaller files"
            )

    def add_total(self, size: int, source: str) -> None:
        """Count `size` bytes against the render's total; refuse going over it."""
        self.total_bytes += size
        if self.total_bytes > self.policy.max_total_bytes:
            raise RenderError(
                f"{source}: the rendered manifests exceed {self.policy.max_total_bytes} bytes "
                "in total; split the application into smaller ones"
            )

    def remaining_bytes(self) -> int:
        return max(0, self.policy.max_total_bytes - self.total_bytes)

    def add_objects(self, count: int, source: str) -> None:
        self.objects += count
        if self.objects > self.policy.max_objects:
            raise RenderError(
                f"{source}: the render has more than {self.policy.max_objects} objects; "
                "split the application into smaller ones"
            )

    def remaining_seconds(self) -> float:
        return self._deadline - self._clock()

    def check_time(self, what: str) -> None:
        """Refuse to go on once the render's deadline has passed."""
        if self.remaining_seconds() <= 0:
            raise RenderError(
                f"{what}: the render did not finish within {self.policy.timeout_seconds:g} s; "
                "make the application smaller"
            )


# libyaml's loader when PyYAML was built with it (several times faster), else pure Python.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_KEEP_AS_STRING = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}


class _Loader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader without implicit timestamps (and without the broken `=` value tag)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _KEEP_AS_STRING]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}

Object = dict[str, Any]

# Errors a parser or our copying can raise on hostile input besides its own syntax errors.
_PARSE_FAILURES = (RecursionError, ValueError, re.error)


def load_yaml(
    text: str, source: str, budget: RenderBudget | None = None
) -> list[tuple[int, Any]]:
    """`(document number from 1, document)` for each non-empty document of `text`.

    A document whose aliases would expand beyond the budget's limits is refused before
    it is built, so the expansion never happens.
    """
    policy = (budget or RenderBudget()).policy
    documents: list[tuple[int, Any]] = []
    number = 0
    loader = _Loader(text)
    try:
        while loader.check_node():
            number += 1
            node = loader.get_node()
            if node is None:
                continue
            if "*" in text:  # an alias needs a `*`: plain documents skip the count
                _check_expansion(node, policy, f"{source}: document {number}")
            document = loader.construct_document(node)
            if document is not None:
                documents.append((number, document))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else f"document {number}"
        problem = error.problem or error.context or "invalid YAML"
        raise RenderError(f"{source}: {where}: YAML syntax error: {problem}") from error
    except yaml.YAMLError as error:
        raise RenderError(f"{source}: YAML syntax error: {error}") from error
    except _PARSE_FAILURES as error:
        raise RenderError(f"{source}: document {number}: cannot parse: {_reason(error)}") from error
    finally:
        loader.dispose()
    return documents


def _check_expansion(root: yaml.Node, policy: RenderPolicy, where: str) -> None:
    """Refuse a node graph whose aliases add too many nodes or bytes when expanded.

    Aliases make the graph a DAG (or a cycle): the expanded size is counted bottom-up
    once per distinct node, without recursion, so the count itself is cheap.
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, scalar bytes)
    in_progress: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in in_progress:
                raise RenderError(f"{where}: a YAML alias refers to itself; remove the cycle")
            in_progress.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in in_progress:
                    raise RenderError(f"{where}: a YAML alias refers to itself; remove the cycle")
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        in_progress.discard(key)
        nodes, size = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        for child in children:
            child_nodes, child_size = sizes[id(child)]
            nodes += child_nodes
            size += child_size
        sizes[key] = (nodes, size)
    expanded_nodes, expanded_bytes = sizes[id(root)]
    if expanded_nodes - len(sizes) > policy.max_alias_nodes:
        raise RenderError(
            f"{where}: YAML aliases expand to more than {policy.max_alias_nodes} nodes; "
            "write the repeated parts out or use fewer levels of aliases"
        )
    if expanded_bytes > policy.max_file_bytes:
        raise RenderError(
            f"{where}: YAML aliases expand to more than {policy.max_file_bytes} bytes; "
            "write the repeated parts out or use fewer levels of aliases"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_json(text: str, source: str) -> list[tuple[int, Any]]:
    """A JSON object, or an array of them, as numbered documents."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise RenderError(
            f"{source}: line {error.lineno}, column {error.colno}: JSON syntax error: {error.msg}"
        ) from error
    except _PARSE_FAILURES as error:
        raise RenderError(f"{source}: cannot parse JSON: {_reason(error)}") from error
    if isinstance(value, list):
        return [(index, item) for index, item in enumerate(value, start=1) if item is not None]
    return [] if value is None else [(1, value)]


def check_objects(
    documents: Iterable[tuple[int, Any]], source: str, budget: RenderBudget | None = None
) -> list[Object]:
    """Validate documents as Kubernetes objects, expanding lists; JSON-ready dicts."""
    budget = budget or RenderBudget()
    objects: list[Object] = []
    for number, document in documents:
        where = f"{source}: document {number}"
        if not isinstance(document, Mapping):
            raise RenderError(
                f"{where} is a {_type_name(document)}, not a Kubernetes object (a mapping "
                "with apiVersion, kind and metadata)"
            )
        try:
            obj = _jsonable(document, budget.policy.max_depth)
        except (_TooDeep, RecursionError) as error:
            raise RenderError(
                f"{where} is nested more than {budget.policy.max_depth} levels deep; flatten it"
            ) from error
        items = obj.get("items")
        if isinstance(items, list) and str(obj.get("kind", "")).endswith("List"):
            for index, item in enumerate(items, start=1):
                objects.extend(check_objects([(index, item)], f"{where} ({obj['kind']}) item",
                                             budget))
            continue
        _check_object(obj, where)
        budget.add_objects(1, where)
        objects.append(obj)
    return objects


def _check_object(obj: Object, where: str) -> None:
    missing = [key for key in ("apiVersion", "kind")
               if not isinstance(obj.get(key), str) or not obj[key].strip()]
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        missing.append("metadata")
    elif not any(isinstance(metadata.get(key), str) and metadata[key].strip()
                 for key in ("name", "generateName")):
        missing.append("metadata.name")
    if missing:
        described = f"{obj.get('kind')} " if isinstance(obj.get("kind"), str) else ""
        raise RenderError(
            f"{where} ({described}object) has no {', '.join(missing)}; every manifest needs "
            "apiVersion, kind and metadata.name"
        )


def _type_name(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


class _TooDeep(Exception):
    """Nesting beyond the policy's `max_depth` (turned into a `RenderError` by the caller)."""


def _jsonable(value: Any, depth: int) -> Any:
    """Plain JSON types: string keys (YAML allows `1:` and `true:`), no dates or bytes.

    `depth` is how many more levels of nesting are allowed: deeper input is refused here,
    before anything downstream (diff, JSON encoding) recurses through it.
    """
    if isinstance(value, Mapping | list | tuple) and depth <= 0:
        raise _TooDeep
    if isinstance(value, Mapping):
        return {_key(key): _jsonable(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item, depth - 1) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else str(_jsonable(key, 1))


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "it is nested too deeply"
    return str(error).splitlines()[0] if str(error) else type(error).__name__
