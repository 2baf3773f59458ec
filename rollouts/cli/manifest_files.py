"""Manifest files the CLI reads (`plan -f`, `analysis run|backtest -f`), read within bounds.

A file given to the CLI may come from anywhere (a pull request, another team), so it is
read like Git content: at most `MAX_FILE_BYTES`, UTF-8, and parsed by
`rollouts.boundedyaml` (aliases, expansion and depth bounded), never by a bare
`yaml.safe_load_all`. Every problem is a `UsageProblem` with exit status 2 naming the file
and what to do.
"""

from __future__ import annotations

import sys
from typing import Any

from rollouts.boundedyaml import YamlProblem, load_documents
from rollouts.cli.errors import UsageProblem

__all__ = ["MAX_FILE_BYTES", "UNUSABLE", "read_documents"]

UNUSABLE = 2
MAX_FILE_BYTES = 4 * 1024 * 1024
_LIMITS = {"max_alias_nodes": 10_000, "max_expanded_bytes": 4 * 1024 * 1024, "max_depth": 100}


def _unusable(message: str) -> UsageProblem:
    return UsageProblem(message, exit_code=UNUSABLE)


def _read(path: str) -> str:
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with open(path, "rb") as stream:
                data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as problem:
        raise _unusable(f"cannot read {path}: {problem.strerror or problem}; check the path"
                        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise _unusable(f"{path} is over {MAX_FILE_BYTES // (1024 * 1024)} MiB; give only "
                        "the manifests this command needs")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unusable(f"cannot read {path}: it is not UTF-8 text") from None


def read_documents(path: str) -> list[tuple[int, Any]]:
    """The non-empty YAML documents of `path` (`-` is stdin), numbered from 1."""
    try:
        return load_documents(_read(path), **_LIMITS)
    except YamlProblem as problem:
        raise _unusable(f"{path} is not valid YAML: {problem}; fix the file") from None
