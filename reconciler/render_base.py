"""What every renderer shares: `RenderError`, YAML/JSON parsing, object checks, tool runs.

Parsing follows what `kubectl apply -f` accepts: multi-document YAML with empty
documents skipped, JSON objects or arrays, and `kind: List` (or any `*List` with
`items`) expanded into its items. Unlike PyYAML's default, timestamps stay strings
(`date: 2024-01-01` is the string Kubernetes receives) and keys are strings, so every
object is JSON-ready. Every object must be a mapping with `apiVersion`, `kind` and
`metadata.name` (or `metadata.generateName`, which hooks use); anything else is a
`RenderError` naming the file and document, because silently dropping a malformed object
would later prune its live copy.

Neighbours: `render_directory`, `render_kustomize`, `render_helm`, and `render` on top.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RenderError", "check_objects", "load_json", "load_yaml", "run_tool"]

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


class RenderError(Exception):
    """Rendering failed: one line saying which file or tool failed and why."""

    def __init__(self, message: str) -> None:
        flat = " ".join(message.split())
        super().__init__(flat)
        self.message = flat

    def __str__(self) -> str:
        return self.message


def load_yaml(text: str, source: str) -> list[tuple[int, Any]]:
    """`(document number from 1, document)` for each non-empty document of `text`."""
    documents: list[tuple[int, Any]] = []
    number = 0
    try:
        for number, document in enumerate(yaml.load_all(text, Loader=_Loader), start=1):
            if document is not None:
                documents.append((number, document))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else f"document {number}"
        problem = error.problem or error.context or "invalid YAML"
        raise RenderError(f"{source}: {where}: YAML syntax error: {problem}") from error
    except yaml.YAMLError as error:
        raise RenderError(f"{source}: YAML syntax error: {error}") from error
    return documents


def load_json(text: str, source: str) -> list[tuple[int, Any]]:
    """A JSON object, or an array of them, as numbered documents."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise RenderError(
            f"{source}: line {error.lineno}, column {error.colno}: JSON syntax error: {error.msg}"
        ) from error
    if isinstance(value, list):
        return [(index, item) for index, item in enumerate(value, start=1) if item is not None]
    return [] if value is None else [(1, value)]


def check_objects(documents: Iterable[tuple[int, Any]], source: str) -> list[Object]:
    """Validate documents as Kubernetes objects, expanding lists; JSON-ready dicts."""
    objects: list[Object] = []
    for number, document in documents:
        where = f"{source}: document {number}"
        if not isinstance(document, Mapping):
            raise RenderError(
                f"{where} is a {_type_name(document)}, not a Kubernetes object (a mapping "
                "with apiVersion, kind and metadata)"
            )
        obj = _jsonable(document)
        items = obj.get("items")
        if isinstance(items, list) and str(obj.get("kind", "")).endswith("List"):
            for index, item in enumerate(items, start=1):
                objects.extend(check_objects([(index, item)], f"{where} ({obj['kind']}) item"))
            continue
        _check_object(obj, where)
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


def _jsonable(value: Any) -> Any:
    """Plain JSON types: string keys (YAML allows `1:` and `true:`), no dates or bytes."""
    if isinstance(value, Mapping):
        return {_key(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else str(_jsonable(key))


def run_tool(
    argv: list[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> str:
    """stdout of a renderer tool; failure -> `RenderError("<what> failed: <stderr reason>")`.

    The reason is the tool's last `Error:` line on stderr, else its last line.
    """
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=dict(env) if env is not None else None, capture_output=True,
            text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise RenderError(f"{what} did not finish within {timeout:g} s") from error
    except OSError as error:
        raise RenderError(f"{what} could not run {argv[0]}: {error.strerror}") from error
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        # The last `Error:` line is the reason; helm follows it with a `--debug` hint.
        errors = [line for line in lines if line.lower().startswith(("error", "fatal"))]
        reason = (errors or lines or [f"exit status {result.returncode}, no message"])[-1]
        raise RenderError(f"{what} failed: {reason}")
    return result.stdout
