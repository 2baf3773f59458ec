"""Plain-manifest directories, with Argo CD's `directory.recurse/include/exclude`.

Files whose names end in `.yaml`, `.yml` or `.json` are read in lexical walk order
(subdirectories only with `recurse: true`; directories whose name starts with `.`, such as
`.git` or `.github`, are never entered). `include` and `exclude` are globs in Argo CD's
syntax (gobwas/glob without separators) matched against the path relative to the app
directory: `*` and `**` match any run of characters including `/`, `?` one character,
`[abc]`, `[!a-z]`, and `{a.yaml,b/*}` alternatives. A file must match `include` (when
set) and not `exclude`. A file containing `# +argocd:skip-file-rendering` is skipped, as
in Argo CD. A `.jsonnet` file that would be read is an error: Jsonnet is not implemented,
and ignoring it would prune what it used to produce.

Symlinked files are read only when they resolve inside the checkout.

Repositories are untrusted, so globs are matched by a small automaton in time linear in
the path (never a backtracking regex), patterns longer than `MAX_GLOB_LENGTH` are refused,
the walk has no recursion, and every file is counted against the render's
`RenderBudget` (bytes per file and in total, objects, deadline).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from reconciler.render_base import (
    Object,
    RenderBudget,
    RenderError,
    check_objects,
    load_json,
    load_yaml,
)

__all__ = ["MAX_GLOB_LENGTH", "Glob", "compile_glob", "render_directory"]

MAX_GLOB_LENGTH = 1024
"""Longest `directory.include` / `directory.exclude` pattern accepted, in characters."""

_MANIFEST = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")
_SKIP_MARKER = "+argocd:skip-file-rendering"
_DFA_CACHE_SIZE = 4096  # remembered (states, character) steps per pattern; then recomputed

# The compiled pattern is a small NFA: a list of instructions, matched by simulating every
# state at once (Thompson), so time is linear in the path length whatever the pattern
# (a backtracking regex from `*a*a*a...b` takes minutes on a 40-character name).
_Instruction = tuple[Any, ...]
# ("lit", char) | ("any",) | ("class", negate, chars, ranges) | ("star",)
# | ("split", [targets]) | ("jump", target) | ("match",)


class Glob:
    """An Argo CD (gobwas) glob, compiled for linear-time matching of whole paths."""

    def __init__(self, pattern: str, program: list[_Instruction]) -> None:
        self.pattern = pattern
        self._program = program
        self._start = self._closure({0})
        self._steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    def match(self, path: str) -> bool:
        """Whether the whole of `path` matches the pattern."""
        states = self._start
        for char in path:
            if not states:
                return False
            key = (states, char)
            following = self._steps.get(key)
            if following is None:
                following = self._step(states, char)
                if len(self._steps) >= _DFA_CACHE_SIZE:
                    self._steps.clear()
                self._steps[key] = following
            states = following
        return any(self._program[state][0] == "match" for state in states)

    def _step(self, states: frozenset[int], char: str) -> frozenset[int]:
        following: set[int] = set()
        for state in states:
            op = self._program[state]
            if op[0] == "star":
                following.add(state)
            elif (op[0] == "any" or (op[0] == "lit" and op[1] == char)
                  or (op[0] == "class" and _in_class(op, char))):
                following.add(state + 1)
        return self._closure(following)

    def _closure(self, states: set[int]) -> frozenset[int]:
        seen: set[int] = set()
        todo = list(states)
        while todo:
            state = todo.pop()
            if state in seen:
                continue
            seen.add(state)
            op = self._program[state]
            if op[0] == "split":
                todo.extend(op[1])
            elif op[0] == "jump":
                todo.append(op[1])
            elif op[0] == "star":
                todo.append(state + 1)
        return frozenset(s for s in seen if self._program[s][0] not in ("split", "jump"))


def _in_class(op: _Instruction, char: str) -> bool:
    _, negate, chars, ranges = op
    inside = char in chars or any(low <= char <= high for low, high in ranges)
    return bool(inside) is not bool(negate)


def compile_glob(pattern: str, field: str = "pattern") -> Glob:
    """Compile an Argo CD (gobwas) glob; `RenderError` naming `field` if it is invalid."""
    if len(pattern) > MAX_GLOB_LENGTH:
        raise RenderError(
            f"{field} is {len(pattern)} characters long, more than the limit of "
            f"{MAX_GLOB_LENGTH}; use a shorter pattern"
        )
    program: list[_Instruction] = []
    position = _compile(pattern, 0, program, in_braces=False, field=field)
    if position != len(pattern):
        raise RenderError(f"{field} {pattern!r} is not a valid glob: unmatched '}}'")
    program.append(("match",))
    return Glob(pattern, program)


def _compile(
    pattern: str, start: int, program: list[_Instruction], *, in_braces: bool, field: str
) -> int:
    """Append instructions for `pattern[start:]` up to a `,` or `}` ending an alternative."""
    i = start
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            while i < len(pattern) and pattern[i] == "*":
                i += 1
            program.append(("star",))
            continue
        if char == "?":
            program.append(("any",))
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            program.append(("lit", pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise RenderError(f"{field} {pattern!r} is not a valid glob: unclosed '['")
            program.append(_character_class(pattern[i + 1 : end], pattern, field))
            i = end
        elif char == "{":
            i = _compile_braces(pattern, i + 1, program, field)
        elif char == "}" or (in_braces and char == ","):
            return i
        else:
            program.append(("lit", char))
        i += 1
    return i


def _compile_braces(pattern: str, start: int, program: list[_Instruction], field: str) -> int:
    """`{a,b,...}` as a split to each alternative, each jumping past the others."""
    split_at = len(program)
    program.append(("split", []))
    starts: list[int] = []
    jumps: list[int] = []
    i = start
    while True:
        starts.append(len(program))
        i = _compile(pattern, i, program, in_braces=True, field=field)
        jumps.append(len(program))
        program.append(("jump", -1))
        if i >= len(pattern):
            raise RenderError(f"{field} {pattern!r} is not a valid glob: unclosed '{{'")
        if pattern[i] == "}":
            break
        i += 1  # the comma
    program[split_at] = ("split", starts)
    for jump in jumps:
        program[jump] = ("jump", len(program))
    return i


def _character_class(body: str, pattern: str, field: str) -> _Instruction:
    """`[abc]`, `[a-z]`, `[!a-z]` (the first `]` after `[` or `[!` is a literal)."""
    negate = body.startswith("!")
    body = body[1:] if negate else body
    chars: set[str] = set()
    ranges: list[tuple[str, str]] = []
    j = 0
    while j < len(body):
        if j + 2 < len(body) and body[j + 1] == "-":
            low, high = body[j], body[j + 2]
            if low > high:
                raise RenderError(
                    f"{field} {pattern!r} is not a valid glob: the range '{low}-{high}' is "
                    "backwards"
                )
            ranges.append((low, high))
            j += 3
        else:
            chars.add(body[j])
            j += 1
    if not chars and not ranges:
        raise RenderError(f"{field} {pattern!r} is not a valid glob: empty '[]'")
    return ("class", negate, frozenset(chars), tuple(ranges))


def render_directory(
    app_dir: Path,
    root: Path,
    *,
    recurse: bool = False,
    include: str | None = None,
    exclude: str | None = None,
    budget: RenderBudget | None = None,
) -> list[Object]:
    """Every object in the manifest files under `app_dir` (`root` is the checkout)."""
    budget = budget or RenderBudget()
    include_glob = compile_glob(include, "directory.include") if include else None
    exclude_glob = compile_glob(exclude, "directory.exclude") if exclude else None
    objects: list[Object] = []
    for path in _walk(app_dir, recurse, budget):
        relative = path.relative_to(app_dir).as_posix()
        if exclude_glob is not None and exclude_glob.match(relative):
            continue
        if include_glob is not None and not include_glob.match(relative):
            continue
        label = path.relative_to(root).as_posix()
        budget.check_time(label)
        if path.name.endswith(".jsonnet"):
            raise RenderError(
                f"{label}: Jsonnet is not implemented; render it to YAML in Git, or leave it "
                "out with spec.source.directory.exclude"
            )
        text = _read(path, root, label, budget)
        if _SKIP_MARKER in text:
            continue
        documents = (load_json(text, label) if path.suffix == ".json"
                     else load_yaml(text, label, budget))
        objects.extend(check_objects(documents, label, budget))
    return objects


def _walk(directory: Path, recurse: bool, budget: RenderBudget) -> list[Path]:
    """Manifest files in walk order (Go's filepath.Walk: lexical, depth first), no recursion."""
    files: list[Path] = []
    pending: list[list[os.DirEntry[str]]] = [_entries(directory, budget)]
    while pending:
        entries = pending[-1]
        if not entries:
            pending.pop()
            continue
        entry = entries.pop()
        if entry.is_dir(follow_symlinks=False):
            if recurse and not entry.name.startswith("."):
                pending.append(_entries(Path(entry.path), budget))
        elif _MANIFEST.match(entry.name) and entry.is_file():
            files.append(Path(entry.path))
    return files


def _entries(directory: Path, budget: RenderBudget) -> list[os.DirEntry[str]]:
    budget.check_time(f"reading directory {directory.name}")
    try:
        with os.scandir(directory) as scan:
            return sorted(scan, key=lambda entry: entry.name, reverse=True)  # pop() is next
    except OSError as error:
        raise RenderError(f"cannot read directory {directory.name}: {error.strerror}") from error


def _read(path: Path, root: Path, label: str, budget: RenderBudget) -> str:
    if path.is_symlink() and not path.resolve().is_relative_to(root):
        raise RenderError(f"{label} is a symlink to a file outside the repository; refused")
    limit = budget.policy.max_file_bytes
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)  # one byte more than allowed tells "too big"
    except OSError as error:
        raise RenderError(f"cannot read {label}: {error.strerror}") from error
    size = len(data)
    if size > limit:  # say how big it really is
        with contextlib.suppress(OSError):
            size = max(size, path.stat().st_size)
    budget.add_bytes(size, label)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RenderError(f"{label} is not UTF-8 text: {error.reason}") from error
