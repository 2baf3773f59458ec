"""The `git` generator: one parameter set per directory, or per parameter file (pure but
for reading a checkout from disk).

    - git:
        repoURL: https://git.example.com/deploy.git
        revision: HEAD
        directories:                  # one set per matching directory...
        - path: apps/*
        - path: apps/legacy
          exclude: true
        files:                        # ...or one per object in each matching JSON/YAML file
        - path: "clusters/**/config.json"
        pathParamPrefix: ""           # optional: `{prefix}.path...`
        values: {tier: gold}          # optional: `values.<k>`, templated with the set
        requeueAfterSeconds: 180      # poll interval (Argo's default: 3 minutes)

Directories are every directory of the commit except the root and those whose name
starts with `.` (and what is below them), matched with Go's `path.Match` (`*` stays
within one segment); a directory matching any `exclude: true` entry is left out whatever
the order. Files are matched the way `git ls-files -- <pattern>` matches (Argo's default):
`*` also crosses `/`, and a pattern without wildcards names a file or a directory
prefix; files of `exclude: true` patterns are removed. A file holds one object or a list
of them; flat parameters are its keys flattened with dots (`cluster.address`), Go
template parameters the objects as they are; both get the `path` parameters of the
file's directory plus `path.filename`.

The checkout is read from the reconciler's Git cache (`GitReader.checkout`, wired by the
controller to `reconciler.source.GitSource`). Git content is hostile: file sizes, the
number of files and directories, YAML alias expansion and nesting are bounded, and a
symlink is never followed (the checkout refuses ones that leave it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from reconciler.appset.params import Params, flatten, path_params
from reconciler.render_base import RenderBudget, RenderError, RenderPolicy, load_yaml
from rollouts.api.globs import Dialect, GlobError, compile_glob

__all__ = ["DEFAULT_REQUEUE_SECONDS", "GeneratorProblem", "GitReader", "git_params",
           "list_directories", "match_files"]

DEFAULT_REQUEUE_SECONDS = 180
"""Argo's default poll of git generators: 3 minutes."""
MAX_DIRECTORIES = 10_000
MAX_FILES = 1_000
MAX_FILE_BYTES = 1024 * 1024
_POLICY = RenderPolicy(max_file_bytes=MAX_FILE_BYTES, max_total_bytes=16 * MAX_FILE_BYTES,
                       max_alias_nodes=10_000, max_depth=50)


class GeneratorProblem(ValueError):
    """A generator cannot produce its parameters: one line naming it and why."""

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


class GitReader(Protocol):
    """Where git generators read a commit: the checkout's directory, or
    `GeneratorProblem` (temporary for network trouble)."""

    def checkout(self, repo_url: str, revision: str) -> Path: ...


def _unreadable(error: OSError) -> None:
    # A checkout that vanished (pruned, disk trouble) must never read as an empty
    # repository: that would delete every generated Application.
    raise GeneratorProblem(f"cannot read the checkout ({error.strerror or error}); will "
                           "retry", temporary=True)


def list_directories(root: Path) -> list[str]:
    """Every directory below `root` (relative, `/`-separated, in lexical walk order),
    skipping names that start with `.`; symlinks are not followed. A directory that
    cannot be read (the checkout is gone) is a temporary `GeneratorProblem`."""
    found: list[str] = []
    for directory, dirnames, _files in os.walk(root, onerror=_unreadable, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not (Path(directory) / d).is_symlink())
        relative = Path(directory).relative_to(root).as_posix()
        if relative != ".":
            found.append(relative)
            if len(found) > MAX_DIRECTORIES:
                raise GeneratorProblem(f"the repository has more than {MAX_DIRECTORIES} "
                                       "directories; point the generator at a smaller one")
    return found


def _files(root: Path) -> list[str]:
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(root, onerror=_unreadable,
                                                  followlinks=False):
        dirnames.sort()
        base = Path(directory)
        for name in sorted(filenames):
            path = base / name
            if not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
    return found


def _compile(pattern: str, where: str, separators: str) -> Any:
    try:
        return compile_glob(pattern, Dialect.FILEPATH, separators)
    except GlobError as error:
        raise GeneratorProblem(f"{where}: {pattern!r} is not a valid pattern ({error}); "
                               "fix the glob") from None


def _entries(raw: Any, where: str) -> list[tuple[str, bool]]:
    if not isinstance(raw, list):
        raise GeneratorProblem(f"{where}: must be a list of {{path, exclude}} entries")
    entries = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("path"), str) \
                or not item["path"]:
            raise GeneratorProblem(f"{where}[{index}].path: required (a glob such as apps/*)")
        entries.append((item["path"], item.get("exclude") is True))
    return entries


def _filter_directories(entries: list[tuple[str, bool]], directories: list[str],
                        where: str) -> list[str]:
    compiled = [(_compile(p, where, "/"), exclude) for p, exclude in entries]
    return [d for d in directories
            if any(g.match(d) for g, exclude in compiled if not exclude)
            and not any(g.match(d) for g, exclude in compiled if exclude)]


def match_files(pattern: str, files: list[str], where: str) -> list[str]:
    """The files `git ls-files -- pattern` lists (Argo's default globbing)."""
    if not any(c in pattern for c in "*?["):
        prefix = pattern.rstrip("/")
        return [f for f in files if f == prefix or f.startswith(prefix + "/")]
    glob = _compile(pattern, where, "")
    return [f for f in files if glob.match(f)]


def _parse_file(root: Path, relative: str, budget: RenderBudget) -> list[Mapping[str, Any]]:
    path = root / relative
    try:
        size = path.stat().st_size
        budget.add_bytes(size, relative)
        text = path.read_text(encoding="utf-8")
    except RenderError as error:
        raise GeneratorProblem(str(error)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise GeneratorProblem(f"{relative}: cannot read it ({error})") from None
    try:
        documents = load_yaml(text, relative, budget)
    except RenderError as error:
        raise GeneratorProblem(str(error)) from None
    content = documents[0][1] if documents else {}
    objects = content if isinstance(content, list) else [content]
    if not all(isinstance(o, Mapping) for o in objects):
        raise GeneratorProblem(f"{relative}: must hold an object or a list of objects")
    return objects


def git_params(spec: Mapping[str, Any], where: str, reader: GitReader | None, *,
               go_template: bool) -> list[Params]:
    """The parameter sets of one `git` generator (values are added by the caller)."""
    repo_url, revision = spec.get("repoURL"), spec.get("revision") or "HEAD"
    if not isinstance(repo_url, str) or not repo_url:
        raise GeneratorProblem(f"{where}.repoURL: required (the Git repository to read)")
    if not isinstance(revision, str):
        raise GeneratorProblem(f"{where}.revision: must be a branch, tag or commit")
    prefix = spec.get("pathParamPrefix") or ""
    if not isinstance(prefix, str):
        raise GeneratorProblem(f"{where}.pathParamPrefix: must be a string")
    has_dirs, has_files = bool(spec.get("directories")), bool(spec.get("files"))
    if has_dirs == has_files:
        raise GeneratorProblem(f"{where}: give either directories or files")
    if reader is None:
        raise GeneratorProblem(f"{where}: no Git access is configured", temporary=True)
    root = reader.checkout(repo_url, revision)
    if has_dirs:
        entries = _entries(spec["directories"], f"{where}.directories")
        chosen = _filter_directories(entries, list_directories(root), f"{where}.directories")
        return [path_params(d, go_template=go_template, prefix=prefix) for d in chosen]
    entries = _entries(spec["files"], f"{where}.files")
    every = _files(root)
    selected: set[str] = set()
    for pattern, exclude in entries:
        if not exclude:
            selected.update(match_files(pattern, every, f"{where}.files"))
    for pattern, exclude in entries:
        if exclude:
            selected.difference_update(match_files(pattern, every, f"{where}.files"))
    if len(selected) > MAX_FILES:
        raise GeneratorProblem(f"{where}.files: matches more than {MAX_FILES} files; "
                               "narrow the pattern")
    budget = RenderBudget(_POLICY)
    out: list[Params] = []
    for relative in sorted(selected):
        directory, _, filename = relative.rpartition("/")
        for obj in _parse_file(root, relative, budget):
            try:
                params: Params = dict(obj) if go_template else dict(flatten(obj))
            except RecursionError:
                raise GeneratorProblem(f"{relative}: nests too deeply") from None
            params.update(path_params(directory or ".", go_template=go_template,
                                      prefix=prefix, filename=filename))
            out.append(params)
    return out
