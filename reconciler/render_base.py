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
`rollouts.boundedyaml` parses YAML within the alias limits (shared with notifications);
`reconciler.tools` runs the external tools under the same budget.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rollouts.boundedyaml import PARSE_FAILURES, YamlProblem, load_documents, parse_failure_reason

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


Object = dict[str, Any]

# Errors a parser or our copying can raise on hostile input besides its own syntax errors.
_PARSE_FAILURES = PARSE_FAILURES


def load_yaml(
    text: str, source: str, budget: RenderBudget | None = None
) -> list[tuple[int, Any]]:
    """`(document number from 1, document)` for each non-empty document of `text`.

    A document whose aliases would expand beyond the budget's limits is refused before
    it is built, so the expansion never happens.
    """
    policy = (budget or RenderBudget()).policy
    try:
        return load_documents(text, max_alias_nodes=policy.max_alias_nodes,
                              max_expanded_bytes=policy.max_file_bytes)
    except YamlProblem as problem:
        raise RenderError(f"{source}: {problem}") from problem.__cause__


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


_reason = parse_failure_reason
